/** Sweep files, grid expansion and report statistics (pure parts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../data/builtinDatasets.js';
import { expandSweep, parseSweep } from './spec.js';
import { fisherExact, pairedDifference, studentTQuantile, summarize } from './stats.js';
import { buildReport, reportCsv, reportFigures, reportMarkdown } from './summary.js';
import { pickBases, type RunSummary } from './runner.js';

const FILE = 'sweeps/t.json';

describe('sweep files', () => {
  it('expands axes × variants × seeds into named, validated runs', () => {
    const spec = parseSweep(
      {
        name: 'grid',
        base: { train: { steps: 3 } },
        axes: { 'model.hem.stepSize': [0.5, 1], 'model.hem.trainIterations': [1, 3] },
        variants: { sched: [{ name: 'fixed', config: {} }, { name: 'anneal', config: { train: { stepSizeEnd: 0.2 } } }] },
        seeds: [0, 4],
        evaluations: [{ evalIterations: [1, 2] }, { scales: [0.75, 1], flip: true }],
      },
      FILE,
    );
    const runs = expandSweep(spec, FILE);
    assert.equal(runs.length, 2 * 2 * 2 * 2);
    assert.equal(runs[0]?.name, 'stepSize=0.5,trainIterations=1,sched=fixed/seed-0');
    assert.equal(runs.at(-1)?.name, 'stepSize=1,trainIterations=3,sched=anneal/seed-4');
    // Seed-major: the 8 cells at seed 0 come first, so a sweep stopped after 8 runs holds one complete seed.
    assert.deepEqual(runs.map((r) => r.seed), [...Array(8).fill(0), ...Array(8).fill(4)]);
    assert.equal(runs[1]?.name, 'stepSize=0.5,trainIterations=1,sched=anneal/seed-0');
    assert.equal(new Set(runs.slice(0, 8).map((r) => r.cell)).size, 8);
    const last = runs.at(-1)?.config as { model: { hem: Record<string, number>; seed: number }; train: Record<string, number> };
    assert.deepEqual(last.model.hem, { stepSize: 1, trainIterations: 3 });
    assert.equal(last.model.seed, 4);
    assert.equal(last.train.seed, 4);
    assert.equal(last.train.stepSizeEnd, 0.2);
    assert.equal(last.train.steps, 3);
    assert.deepEqual(spec.evaluations.map((e) => e.name), ['teval=1', 'teval=2', 'scales=0.75+1,flip']);
    assert.equal(new Set(runs.map((r) => r.name)).size, runs.length);
  });

  it('rejects bad sweep files with messages naming the file and key', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ axis: {} }, /sweeps\/t\.json: unknown key 'axis' \(valid: name, description, preset, base, axes/],
      [{ preset: 'no-such', axes: { 'model.head': ['hem', 'fcn'] } }, /unknown preset 'no-such' \(registered: attention-bench\)/],
      [{ axes: { 'model.hem.stepSize': [] } }, /sweeps\/t\.json: axis 'axes\.model\.hem\.stepSize' must be a non-empty list of values, received \[\]/],
      [{ axes: { 'model.hem.stepSize': [0.5, 2] } }, /sweeps\/t\.json: run 'stepSize=2\/seed-0'.*'stepSize' must be in \(0, 1\], received 2/],
      [{ axes: { 'train.stpes': [1, 2] } }, /sweeps\/t\.json: run 'stpes=1\/seed-0'.*unknown key 'train\.stpes'/],
      [{ axes: { 'model.head': ['hem', 'hem'] } }, /axis 'axes\.model\.head' lists the value hem twice \(duplicate cells\)/],
      [{ seeds: [1, 1] }, /'seeds' lists 1 twice \(duplicate cells\)/],
      [{ axes: { 'model.hem.evalIterations': [null, 3] }, base: { model: { hem: { trainIterations: 3 } } } }, null as unknown as RegExp],
      [{ variants: { v: [{ name: 'a', config: {} }, { name: 'b', config: {} }] } }, /runs 'v=a\/seed-0' and 'v=b\/seed-0' have the same run config \(duplicate cells\)/],
      [{ base: { train: { steps: 0 } } }, /sweeps\/t\.json \(base\): 'train\.steps' must be an integer ≥ 1 and ≤ 1000000000, received 0/],
      [{ evaluations: [{ evalIterations: [] }] }, /'evaluations\[0\]\.evalIterations' must not be an empty list/],
      [{ axes: { 'model.head': ['hem', 'ema'] }, compare: [{ axis: 'model.head', a: 'hem', b: 'fcn' }] }, /'compare\[0\]\.b' must be one of the values of 'model\.head' \(hem, ema\), received 'fcn'/],
    ];
    for (const [raw, pattern] of bad) {
      if (pattern === null) {
        // null and 3 resolve to different configs: not duplicates.
        assert.equal(expandSweep(parseSweep(raw, FILE), FILE).length, 2);
        continue;
      }
      assert.throws(() => expandSweep(parseSweep(raw, FILE), FILE), pattern, JSON.stringify(raw));
    }
  });
});

describe('sweep statistics', () => {
  it("fisherExact gives R's two-sided p-values and refuses non-counts", () => {
    // R: fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value = 0.4857; matrix(c(1, 11, 9, 3), 2): 0.002759.
    assert.ok(Math.abs(fisherExact(3, 1, 1, 3) - 0.4857143) < 1e-6, String(fisherExact(3, 1, 1, 3)));
    assert.ok(Math.abs(fisherExact(1, 9, 11, 3) - 0.002759456) < 1e-8, String(fisherExact(1, 9, 11, 3)));
    assert.equal(fisherExact(5, 0, 5, 0), 1, 'a margin of zero: nothing to test');
    assert.ok(Math.abs(fisherExact(6, 0, 0, 6) - 0.002164502) < 1e-8, String(fisherExact(6, 0, 0, 6)));
    assert.throws(() => fisherExact(1.5, 0, 0, 1), /fisherExact: 'a' must be a non-negative integer count, received 1.5/);
  });

  it('Student-t quantiles match tables', () => {
    for (const [df, q] of [[1, 12.706], [2, 4.303], [4, 2.776], [9, 2.262], [30, 2.042]] as const) {
      assert.ok(Math.abs(studentTQuantile(0.975, df) - q) < 1e-3, `df ${df}: ${studentTQuantile(0.975, df)}`);
    }
  });

  it('mean ± std, t-interval and paired differences', () => {
    const s = summarize([1, 2, 3, 4]);
    assert.equal(s.mean, 2.5);
    assert.ok(Math.abs(s.std - Math.sqrt(5 / 3)) < 1e-12);
    const half = (3.182446 * Math.sqrt(5 / 3)) / 2;
    assert.ok(s.ci95 !== null && Math.abs(s.ci95[0] - (2.5 - half)) < 1e-4 && Math.abs(s.ci95[1] - (2.5 + half)) < 1e-4);
    assert.equal(summarize([7]).ci95, null);
    const d = pairedDifference([1, 2, 3], [2, 4, 6]);
    assert.deepEqual(d.values, [1, 2, 3]);
    assert.equal(d.mean, 2);
    assert.throws(() => pairedDifference([1], [1, 2]), /pairedDifference: 'a' and 'b' must have the same length, received 1 and 2/);
  });

  it('report: per-cell stats, paired comparison by seed, CSV and figures', () => {
    const spec = parseSweep({ axes: { 'model.head': ['hem', 'ema'], 'model.hem.stepSize': [0.5, 1] }, seeds: [0, 1, 2], evaluations: [{ evalIterations: [1, 2] }], compare: [{ axis: 'model.head', a: 'hem', b: 'ema' }] }, FILE);
    const runs = expandSweep(spec, FILE);
    const value = (head: string, eta: number, seed: number) => (head === 'hem' ? 0.3 : 0.32) + eta * 0.01 + seed * 0.001;
    const summaries: RunSummary[] = runs.map((r) => {
      const head = String(r.assignments[0]?.value);
      const eta = Number(r.assignments[1]?.value);
      const m = value(head, eta, r.seed);
      return {
        name: r.name, cell: r.cell, seed: r.seed, assignments: { 'model.head': head, 'model.hem.stepSize': eta },
        meanIoU: m, pixelAccuracy: 0.9, perClassIoU: [0.5, null], steps: 2, trainSeconds: 1, imagesPerSecond: 8, losses: [2, 1],
        evaluations: { 'teval=1': { meanIoU: m - 0.01, pixelAccuracy: 0.9, perClassIoU: [] }, 'teval=2': { meanIoU: m, pixelAccuracy: 0.9, perClassIoU: [] } },
        attempts: 1, host: 'h', finishedAt: '',
      };
    });
    const report = buildReport(spec, summaries.filter((s) => s.name !== 'head=ema,stepSize=1/seed-2'));
    assert.equal(report.cells.length, 4);
    const hem05 = report.cells[0];
    assert.equal(hem05?.cell, 'head=hem,stepSize=0.5');
    assert.ok(Math.abs((hem05?.meanIoU.mean ?? 0) - 0.306) < 1e-12);
    assert.deepEqual(report.cells[3]?.missing, [2]);
    assert.equal(report.comparisons.length, 2);
    const [c05, c1] = report.comparisons;
    assert.deepEqual(c05?.seeds, [0, 1, 2]);
    assert.ok(Math.abs((c05?.difference.mean ?? 0) - 0.02) < 1e-12);
    assert.ok(Math.abs(c05?.difference.std ?? 1) < 1e-12);
    assert.deepEqual(c1?.seeds, [0, 1], 'pairs only the seeds both cells have');
    const md = reportMarkdown(report);
    assert.match(md, /\| head=hem,stepSize=0\.5 \| 0, 1, 2 \| 30\.60 ± 0\.10 \| \[30\.35, 30\.85\] \| 30\.50, 30\.60, 30\.70 \|/);
    assert.match(md, /\(missing 2\)/);
    // The two-axis grid: rows stepSize, columns head, the best of each row in bold.
    assert.match(md, /## mIoU grid .*rows stepSize, columns head/);
    assert.match(md, /\| stepSize \\ head \| hem \| ema \|/);
    assert.match(md, /\| 0\.5 \| 30\.60 ± 0\.10 \(3\) \| \*\*32\.60 ± 0\.10 \(3\)\*\* \|/);
    assert.match(md, /\| 1 \| 31\.10 ± 0\.10 \(3\) \| \*\*33\.05 ± 0\.07 \(2\)\*\* \|/);
    assert.match(md, /\| model\.head \| hem \| ema \| stepSize=0\.5 \| 0, 1, 2 \| 2\.00 \|/);
    const csv = reportCsv(report, summaries, spec).trim().split('\n');
    assert.equal(csv.length, 1 + 12);
    assert.match(csv[0] ?? '', /^run,cell,seed,model\.head,model\.hem\.stepSize,meanIoU,pixelAccuracy,iou_0,iou_1,trainSeconds/);
    const names = reportFigures(report, summaries, spec).map((f) => f.name);
    assert.deepEqual(names, ['miou-vs-stepSize', 'miou-vs-teval', 'loss']);
    assert.doesNotMatch(md, /## Bases/, 'no bases table when no run recorded bases');
  });

  it('report: bases of the final model per cell, heads without bases left out', () => {
    const spec = parseSweep({ axes: { 'model.head': ['hem', 'fcn'] }, seeds: [0, 1] }, FILE);
    const summaries: RunSummary[] = expandSweep(spec, FILE).map((r) => {
      const head = String(r.assignments[0]?.value);
      return {
        name: r.name, cell: r.cell, seed: r.seed, assignments: { 'model.head': head },
        meanIoU: 0.4, pixelAccuracy: 0.9, perClassIoU: [0.5], steps: 2, trainSeconds: 1, imagesPerSecond: 8, losses: [2, 1],
        evaluations: {}, attempts: 1, host: 'h', finishedAt: '',
        ...(head === 'hem' ? { bases: [{ head: 'head/hem', effectiveBases: 4 + r.seed, pixelBases: 1.5, distinctBases: 6 + 2 * r.seed }] } : {}),
      };
    });
    const report = buildReport(spec, summaries);
    const [hem, fcn] = report.cells;
    assert.equal(hem?.bases.effectiveBases.mean, 4.5);
    assert.deepEqual(hem?.bases.distinctBases.values, [6, 8]);
    assert.equal(fcn?.bases.effectiveBases.n, 0);
    const md = reportMarkdown(report);
    assert.match(md, /## Bases of the final model/);
    assert.doesNotMatch(md, /## mIoU grid/, 'a one-axis sweep has no grid');
    assert.match(md, /\| head=hem \| 2 \| 4\.50 ± 0\.71 \| 1\.50 ± 0\.00 \| 7\.0 ± 1\.4 \| 6, 8 \|/);
    assert.doesNotMatch(md, /\| head=fcn \| 0 \|/);
    const csv = reportCsv(report, summaries, spec).trim().split('\n');
    assert.match(csv[0] ?? '', /,effectiveBases,pixelBases,distinctBases$/);
    assert.match(csv[1] ?? '', /,4,1\.5,6$/);
    assert.match(csv[3] ?? '', /,,,$/, 'fcn rows leave the bases empty');
  });

  it('pickBases keeps the numbers of well-formed entries and refuses the rest', () => {
    assert.deepEqual(pickBases({ bases: [{ head: 'h', effectiveBases: 3, share: [0.5, 0.5], pixelBases: 1.2, distinctBases: 2 }] }), [{ head: 'h', effectiveBases: 3, pixelBases: 1.2, distinctBases: 2 }]);
    assert.equal(pickBases({}), undefined);
    assert.equal(pickBases({ bases: [] }), undefined);
    assert.equal(pickBases({ bases: [{ head: 'h', effectiveBases: 3, pixelBases: 1.2 }] }), undefined, 'an entry without distinctBases (older metrics.json)');
  });
});

describe('the shipped sweep files', () => {
  it('sweeps/*.json parse and expand', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const files = (await readdir('sweeps')).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 4);
    for (const f of files) {
      const path = `sweeps/${f}`;
      const runs = expandSweep(parseSweep(JSON.parse(await readFile(path, 'utf8')), path, f.replace(/\.json$/, '')), path);
      assert.ok(runs.length > 0, path);
    }
  });
});
