/** The sweep-folder checks a worker makes before it runs a job, and the training-log reader. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../data/builtinDatasets.js';
import { checkSweepDirVisible, LOCK_FILE, MARKER_FILE, readTrainLog, runOne, sweepFolderChange } from './runner.js';
import { expandSweep, parseSweep } from './spec.js';

describe('sweep runner (Node)', () => {
  it('a sweep folder may grow seeds, a description, run-config keys, axis values and comparisons, nothing that renames or changes a run', () => {
    const previous = {
      name: 'g', description: 'three seeds', base: { train: { steps: 3, lr: 0.1 }, eval: { limit: null } },
      axes: { 'model.head': ['hem', 'ema'] }, variants: {}, seeds: [0, 1, 2], seedKeys: ['model.seed'], evaluations: [], compare: [],
    };
    const changed = (patch: Record<string, unknown>) => ({ ...previous, ...patch });
    assert.deepEqual(sweepFolderChange(previous, changed({})), { kind: 'same' });
    assert.deepEqual(sweepFolderChange(previous, changed({ seeds: [0, 1, 2, 3, 4, 5], description: 'six seeds' })), {
      kind: 'grown', addedSeeds: [3, 4, 5], addedKeys: [], description: true,
    });
    // A key the run config gained since the folder was made (present in the new expansion only).
    assert.deepEqual(sweepFolderChange(previous, changed({ base: { train: { steps: 3, lr: 0.1 }, eval: { limit: null, fold: true } } })), {
      kind: 'grown', addedSeeds: [], addedKeys: ['base.eval.fold'], description: false,
    });
    // A value appended to an axis: new cells (head=fcn/seed-s), no finished run renamed; a comparison appended.
    assert.deepEqual(sweepFolderChange(previous, changed({ axes: { 'model.head': ['hem', 'ema', 'fcn'] }, compare: [{ axis: 'model.head', a: 'hem', b: 'fcn' }] })), {
      kind: 'grown', addedSeeds: [], addedKeys: [], description: false, addedValues: ['model.head="fcn"'], addedComparisons: 1,
    });
    const withComparison = { ...previous, compare: [{ axis: 'model.head', a: 'hem', b: 'ema' }] };
    assert.deepEqual(sweepFolderChange(withComparison, { ...withComparison, compare: [...withComparison.compare, { axis: 'model.head', a: 'ema', b: 'fcn' }] }), {
      kind: 'grown', addedSeeds: [], addedKeys: [], description: false, addedComparisons: 1,
    });
    const different: Array<[Record<string, unknown>, RegExp]> = [
      [changed({ seeds: [0, 2, 3] }), /seeds \[1\] are gone \(seeds may only be added\)/],
      [changed({ base: { train: { steps: 4, lr: 0.1 }, eval: { limit: null } } }), /'base\.train\.steps' changed from 3 to 4/],
      [changed({ base: { train: { steps: 3 }, eval: { limit: null } } }), /'base\.train\.lr' is gone/],
      [changed({ axes: { 'model.head': ['ema', 'fcn'] } }), /'axes\.model\.head' changed/],
      [changed({ axes: { 'model.head': ['ema', 'hem', 'fcn'] } }), /'axes\.model\.head' changed/],
      [changed({ axes: { 'model.head': ['hem', 'ema'], 'model.hem.stepSize': [0.5] } }), /'axes\.model\.hem\.stepSize' is new/],
      [changed({ seedKeys: ['model.seed', 'train.seed'] }), /'seedKeys' changed/],
      [changed({ name: 'h' }), /'name' changed from "g" to "h"/],
    ];
    // A comparison replaced (not appended) changes the folder's sweep.
    const replaced = sweepFolderChange(withComparison, { ...withComparison, compare: [{ axis: 'model.head', a: 'ema', b: 'fcn' }] });
    assert.equal(replaced.kind, 'different');
    assert.match(replaced.kind === 'different' ? replaced.reason : '', /'compare' changed/);
    for (const [next, reason] of different) {
      const change = sweepFolderChange(previous, next);
      assert.equal(change.kind, 'different', JSON.stringify(next));
      assert.match(change.kind === 'different' ? change.reason : '', reason);
    }
  });

  it('a worker that cannot see the sweep folder, or sees another sweep there, fails clearly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-sweep-vis-'));
    try {
      await assert.rejects(checkSweepDirVisible(join(dir, 'absent'), 'id-1', 'hemnet worker (h pid 1)'), /hemnet worker \(h pid 1\) cannot see the sweep folder '.*absent' \(.*sweep-marker\.json: ENOENT.*\); the sweep folder must be on storage every worker shares, at the same path/);
      await writeFile(join(dir, MARKER_FILE), JSON.stringify({ id: 'id-2' }));
      await assert.rejects(checkSweepDirVisible(dir, 'id-1', 'w'), /w: the sweep folder '.*' holds another sweep \(marker id-2, the job expects id-1\)/);
      await checkSweepDirVisible(dir, 'id-2', 'w');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the training log counts each step once across resumes, the last record winning', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-sweep-log-'));
    try {
      await writeFile(join(dir, 'config.json'), JSON.stringify({ train: { batchSize: 4 } }));
      const step = (s: number, loss: number, ips: number) => JSON.stringify({ type: 'step', step: s, totalSteps: 3, loss, learningRate: 1, imagesPerSecond: ips, elapsedMs: 0 });
      // Steps 1–2, killed during 3 (a cut line), resumed from the checkpoint at 1: steps 2–3 again.
      await writeFile(join(dir, 'train-log.jsonl'), [step(1, 3, 4), step(2, 2.5, 4), '{"type":"st', step(2, 2, 8), step(3, 1, 8)].join('\n'));
      const log = await readTrainLog(dir);
      assert.deepEqual(log.losses, [3, 2, 1]);
      assert.equal(log.steps, 3);
      assert.equal(log.stepSeconds, 1 + 0.5 + 0.5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a run folder locked by a live process is left alone (busy), nothing written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-sweep-lock-'));
    try {
      const spec = parseSweep({ seeds: [0] }, 'lock.json');
      const [run] = expandSweep(spec, 'lock.json');
      if (run === undefined) throw new Error('no run');
      const runDir = join(dir, run.name);
      await mkdir(runDir, { recursive: true });
      await writeFile(join(runDir, LOCK_FILE), JSON.stringify({ owner: 'other-host pid 7 abc' }));
      const outcome = await runOne({ sweepDir: dir, spec, run, maxAttempts: 1 });
      assert.equal(outcome.status, 'busy');
      assert.match(outcome.error ?? '', /the run is locked by other-host pid 7 abc \(heartbeat \d+\.\d s ago\)/);
      assert.deepEqual(await readdir(runDir), [LOCK_FILE]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
