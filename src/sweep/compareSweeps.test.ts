import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareSweeps, compareSweepsMarkdown, configDifferences } from './compareSweeps.js';
import { loadSweepDir, prepareSweepDir } from './runner.js';
import { parseSweep } from './spec.js';
import { studentTQuantile } from './stats.js';

/** A sweep folder of `base` × model.head {hem, ema} × `seeds`, with the given runs finished at the given mIoU. */
async function sweepFolder(dir: string, name: string, base: Record<string, unknown>, seeds: number[], finished: Record<string, number>): Promise<void> {
  await prepareSweepDir(dir, parseSweep({ name, base, axes: { 'model.head': ['hem', 'ema'] }, seeds }, `${name}.json`));
  const { runs } = await loadSweepDir(dir);
  for (const run of runs) {
    const meanIoU = finished[run.name];
    if (meanIoU === undefined) continue;
    await mkdir(join(dir, run.name), { recursive: true });
    await writeFile(join(dir, run.name, 'sweep-done.json'), JSON.stringify({ name: run.name, cell: run.cell, seed: run.seed, meanIoU }));
  }
}

describe('sweep compare', () => {
  it('pairs the cells of two sweep folders by seed, over the seeds finished in both, and names where the configs differ', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hemnet-compare-'));
    try {
      const a = join(root, 'a');
      const b = join(root, 'b');
      await sweepFolder(a, 'before', { train: { steps: 40 } }, [0, 1, 2], { 'head=hem/seed-0': 0.6, 'head=hem/seed-1': 0.62, 'head=hem/seed-2': 0.61, 'head=ema/seed-0': 0.5 });
      await sweepFolder(b, 'after', { train: { steps: 40, learningRate: 0.001 } }, [0, 1, 2], { 'head=hem/seed-0': 0.61, 'head=hem/seed-1': 0.64, 'head=hem/seed-2': 0.6 });
      const c = await compareSweeps(a, b);
      assert.equal(c.cells.length, 1);
      const hem = c.cells[0];
      assert.equal(hem?.cell, 'head=hem');
      assert.deepEqual(hem?.seeds, [0, 1, 2]);
      // Differences +0.01, +0.02, −0.01: mean 0.00667, std 0.01528.
      const d = hem?.difference;
      assert.ok(d !== undefined && Math.abs(d.mean - 0.02 / 3) < 1e-12);
      const std = Math.sqrt(((0.01 - 0.02 / 3) ** 2 + (0.02 - 0.02 / 3) ** 2 + (-0.01 - 0.02 / 3) ** 2) / 2);
      assert.ok(Math.abs(d.std - std) < 1e-12);
      const half = (studentTQuantile(0.975, 2) * std) / Math.sqrt(3);
      assert.ok(d.ci95 !== null && Math.abs(d.ci95[0] - (d.mean - half)) < 1e-12 && Math.abs(d.ci95[1] - (d.mean + half)) < 1e-12);
      assert.ok(Math.abs((hem?.a.mean ?? 0) - 0.61) < 1e-12 && Math.abs((hem?.b.mean ?? 0) - 0.6166666666666667) < 1e-12);
      // ema finished in A only: not compared, and said so.
      assert.deepEqual(c.unmatched, ['head=ema']);
      assert.deepEqual(c.configDifferences, [{ key: 'train.learningRate', a: 'absent', b: '0.001' }]);
      const text = compareSweepsMarkdown(c);
      assert.match(text, /^# after − before$/m);
      assert.match(text, /\| train\.learningRate \| .* \| 0\.001 \|/);
      assert.match(text, /^\| head=hem \| 0, 1, 2 \| 61\.00 ± 1\.00 \| 61\.67 ± 2\.08 \| \+0\.67 \| \[−3\.13, \+4\.46\] \|$/m);
      assert.match(text, /Not compared .*: head=ema/);
      // The same sweep against itself: no config differences, every difference 0.
      const self = await compareSweeps(a, a);
      assert.deepEqual(self.configDifferences, []);
      assert.match(compareSweepsMarkdown(self), /The base configs are the same/);
      await assert.rejects(compareSweeps(a, join(root, 'missing')), /is not a sweep folder/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('configDifferences: nested keys, arrays as values, keys one side lacks', () => {
    assert.deepEqual(configDifferences({ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: { b: 1, c: [1, 3] }, e: true }), [
      { key: 'a.c', a: '[1,2]', b: '[1,3]' },
      { key: 'd', a: '"x"', b: 'absent' },
      { key: 'e', a: 'absent', b: 'true' },
    ]);
    assert.deepEqual(configDifferences({ a: 1 }, { a: 1 }), []);
  });
});
