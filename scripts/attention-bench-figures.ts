/**
 * Figures of the attention-bench study (issue 11, docs/paper.md), regenerated
 * from committed results into docs/figures/attention-bench/ (SVG + PNG; the
 * attention maps are PNG only: heat maps are raster images).
 *
 *   npx tsx scripts/attention-bench-figures.ts curves
 *     From the 'monitor' events of every train-log.jsonl under
 *     experiments/attention-bench/ (the curve runs and the sweeps' runs):
 *     - validation-curve: mIoU on the 100 fixed validation scenes over training;
 *     - effective-bases: exp(H(mean γ)) per HEM/EMA head over training (collapse);
 *     - distinct-bases: distinct rows of μ⁽⁰⁾ over training, runs of the sweeps/bases-* sweeps;
 *     - backbone-gradient: ‖∂L/∂(backbone output)‖ over training, hem vs ema vs fcn (Fig. 3d).
 *     A sweep cell's seeds are drawn as one line, their mean; the grids with figures of their
 *     own (Table 1, the σ² grid, Table 2: their sweep reports) are left out of the figures.
 *     curves.{json,md} keep every run.
 *
 *   npx tsx scripts/attention-bench-figures.ts model RUN_DIR [--backend native] [--out DIR]
 *     On a trained hem run (its checkpoint or model/) and its first 8 validation scenes:
 *     - elbo-trained: mean ELBO per iteration for η ∈ {0.2, 0.4, 0.6, 0.8, 1} (Fig. 3a), T = 8;
 *     - gradient-flow-trained: mean |∂L/∂x| reaching the head's EM features x through each
 *       iteration's N-step and E-step (Fig. 3b, c), L the real cross-entropy of the model;
 *     - attention-maps-<i>.png: the scene and its labels above γ per iteration (rows) for the
 *       8 bases with the most mass (columns, sorted), each map to its own colour range,
 *       on 3 validation scenes (Fig. 4).
 *     Numbers go to model-figures.json beside them.
 *
 *   npx tsx scripts/attention-bench-figures.ts eta [--out DIR]
 *     Fig. 3d across η: ‖∂L/∂(backbone output)‖ over training for every η of the
 *     Table 1 sweep (sweeps/table1-hem, mean over its seeds), one figure per
 *     T_train (backbone-gradient-eta-T<T>), with the headline's ema and fcn
 *     (sweeps/headline) beside T_train 3; numbers in backbone-gradient-eta.{json,md}.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '../src/node.js';
import { loadSamples } from '../src/data/types.js';
import { batchSamples, batchToTensors } from '../src/data/augment.js';
import { gradientFlow, unrollHem, disposeHemResult } from '../src/em/unroll.js';
import { applyFrom } from '../src/train/monitor.js';
import { findHemHeads } from '../src/train/evaluate.js';
import { segmentationCrossEntropy } from '../src/train/loss.js';
import { attentionMaps } from '../src/train/attention.js';
import { barChart, lineChart, type LineSeries } from '../src/plots/svg.js';
import { writePng, writeSvgPng } from '../src/plots/png.js';
import { colorizeMask, createRgbaImage, imageToRgba, tileImages, type RgbaImage } from '../src/plots/image.js';
import { createDatasets, loadRunModel } from '../src/cli/run.js';

const ROOT = 'experiments/attention-bench';
const outFlag = process.argv.indexOf('--out');
const OUT = outFlag >= 0 && process.argv[outFlag + 1] !== undefined ? (process.argv[outFlag + 1] as string) : 'docs/figures/attention-bench';

interface MonitorEvent {
  type: 'monitor';
  step: number;
  /** pixelBases: runs trained before the per-pixel number existed lack it. */
  bases: { head: string; effectiveBases: number; share: number[]; pixelBases?: number; distinctBases?: number }[];
  backboneGradientNorm: number | null;
  validation?: { samples: number; meanIoU: number; pixelAccuracy: number } | null;
}

async function writeFigure(name: string, svg: string): Promise<void> {
  writeFileSync(join(OUT, `${name}.svg`), svg);
  await writeSvgPng(join(OUT, `${name}.png`), svg, 144);
  console.log(`wrote ${OUT}/${name}.{svg,png}`);
}

/** Every run folder (a folder with train-log.jsonl) under `dir`. */
function runFolders(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (!statSync(path).isDirectory() || entry === 'checkpoints' || entry === 'model' || entry === 'report') continue;
    if (existsSync(join(path, 'train-log.jsonl'))) found.push(path);
    else found.push(...runFolders(path));
  }
  return found.sort();
}

function monitorEvents(run: string): MonitorEvent[] {
  return readFileSync(join(run, 'train-log.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.includes('"monitor"'))
    .map((line) => JSON.parse(line) as MonitorEvent)
    .filter((e) => e.type === 'monitor');
}

function headOf(run: string): string {
  const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as { model: { head: string }; train: { steps: number } };
  return config.model.head;
}

function stepsOf(run: string): number {
  return (JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as { train: { steps: number } }).train.steps;
}

/** `top` above `bottom`, left-aligned, `gap` white pixels between (tileImages would give both the taller one's height). */
function stack(top: RgbaImage, bottom: RgbaImage, gap: number): RgbaImage {
  const out = createRgbaImage(Math.max(top.width, bottom.width), top.height + gap + bottom.height);
  const paste = (image: RgbaImage, y0: number) => {
    for (let y = 0; y < image.height; y++) out.data.set(image.data.subarray(y * image.width * 4, (y + 1) * image.width * 4), ((y0 + y) * out.width) * 4);
  };
  paste(top, 0);
  paste(bottom, top.height + gap);
  return out;
}

const HEAD_COLORS: Record<string, string> = { hem: '#1f77b4', ema: '#d62728', fcn: '#2ca02c' };

/** A run's seed group: its name without the trailing `/seed-N` (a sweep cell), or the name itself. */
function seedGroup(name: string): string {
  return name.replace(/\/seed-\d+$/, '');
}

/**
 * One line per seed group: the runs of a sweep cell become their mean over seeds at the steps
 * every seed logged (a figure of 130 runs would be unreadable); a run on its own stays as it is.
 */
function meanOverSeeds(runs: Array<{ group: string; steps: number; series: LineSeries }>): LineSeries[] {
  const groups = new Map<string, Array<{ steps: number; series: LineSeries }>>();
  for (const r of runs) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  const out: LineSeries[] = [];
  for (const [group, members] of groups) {
    const first = members[0] as { steps: number; series: LineSeries };
    if (members.length === 1) {
      out.push(first.series);
      continue;
    }
    const valueAt = members.map((m) => new Map((m.series.x ?? []).map((x, i) => [x, m.series.y[i] as number])));
    const xs = (first.series.x ?? []).filter((x) => valueAt.every((v) => v.has(x)));
    const y = xs.map((x) => valueAt.reduce((sum, v) => sum + (v.get(x) as number), 0) / members.length);
    const { x: _x, y: _y, name: _name, ...style } = first.series;
    out.push({ ...style, name: `${group.replace(/^sweeps\//, '')} (mean of ${members.length} seeds, ${first.steps} steps)`, x: xs, y });
  }
  return out;
}

async function curves(): Promise<void> {
  // Finished runs only (metrics.json written), so the figures regenerate the same from a clone, whatever is mid-training here.
  const runs = runFolders(ROOT).filter((r) => !r.includes('/pilot/') && existsSync(join(r, 'metrics.json')));
  const summary: Record<string, { head: string; steps: number; events: { step: number; meanIoU: number | null; effectiveBases: number | null; gradient: number | null }[] }> = {};
  type RunSeries = { group: string; steps: number; series: LineSeries };
  const val: RunSeries[] = [];
  const bases: RunSeries[] = [];
  const gradient: RunSeries[] = [];
  const distinct: RunSeries[] = [];
  for (const run of runs) {
    const events = monitorEvents(run);
    if (events.length === 0) continue;
    const head = headOf(run);
    const name = relative(ROOT, run);
    // Lines take the palette in order (a dozen hem variants in one colour could not be told apart); dashed: not hem.
    const style = { dashed: head !== 'hem' };
    const label = `${name.replace(/^sweeps\//, '')} (${stepsOf(run)} steps)`;
    const group = seedGroup(name);
    const steps = stepsOf(run);
    // The figures leave out the grids that have figures of their own (sweep report: Table 1, the σ² grid, Table 2).
    const inFigures = !/^sweeps\/(table1-hem|sigma2-grid|table2-teval)\//.test(name);
    summary[name] = {
      head,
      steps: stepsOf(run),
      events: events.map((e) => ({ step: e.step, meanIoU: e.validation?.meanIoU ?? null, effectiveBases: e.bases[0]?.effectiveBases ?? null, gradient: e.backboneGradientNorm })),
    };
    const withVal = events.filter((e) => e.validation != null);
    if (inFigures && withVal.length > 0) val.push({ group, steps, series: { name: label, x: withVal.map((e) => e.step), y: withVal.map((e) => 100 * (e.validation?.meanIoU ?? NaN)), ...style } });
    if (inFigures && events[0]?.bases.length) bases.push({ group, steps, series: { name: label, x: events.map((e) => e.step), y: events.map((e) => e.bases[0]?.effectiveBases ?? NaN), ...style } });
    // Distinct μ⁽⁰⁾ rows over training: the bases sweeps only (the other runs would crowd the figure).
    const withDistinct = events.filter((e) => typeof e.bases[0]?.distinctBases === 'number');
    if (name.startsWith('sweeps/bases-') && withDistinct.length > 0) {
      distinct.push({ group, steps, series: { name: label, x: withDistinct.map((e) => e.step), y: withDistinct.map((e) => e.bases[0]?.distinctBases as number), dashed: name.startsWith('sweeps/bases-pretrained/') } });
    }
    const withGradient = events.filter((e) => e.backboneGradientNorm !== null);
    if (inFigures && withGradient.length > 0) gradient.push({ group, steps, series: { name: label, x: withGradient.map((e) => e.step), y: withGradient.map((e) => e.backboneGradientNorm as number), ...style } });
  }
  mkdirSync(OUT, { recursive: true });
  await writeFigure('validation-curve', lineChart({ title: 'attention-bench: validation mIoU (100 fixed scenes) over training', xLabel: 'step (batch 8)', yLabel: 'mIoU (%)', series: meanOverSeeds(val), width: 1100, height: 600 }));
  await writeFigure('effective-bases', lineChart({ title: 'Effective number of bases exp(H(mean γ)), K = 32 (probe: 8 validation scenes)', xLabel: 'step', yLabel: 'effective bases', series: meanOverSeeds(bases), width: 1100, height: 600 }));
  if (distinct.length > 0) {
    await writeFigure('distinct-bases', lineChart({ title: 'Distinct μ⁽⁰⁾ rows (cosine < 0.999); dashed: pretrained backbone', xLabel: 'step', yLabel: 'distinct bases', series: meanOverSeeds(distinct), width: 1100, height: 600, markers: true }));
  }
  await writeFigure('backbone-gradient', lineChart({ title: 'Fig. 3d: ‖∂L/∂(backbone output)‖ on the probe batch', xLabel: 'step', yLabel: '‖∂L/∂features‖₂', series: meanOverSeeds(gradient), logY: true, width: 1100, height: 600 }));
  writeFileSync(join(OUT, 'curves.json'), `${JSON.stringify(summary, null, 1)}\n`);
  // The same numbers as markdown tables, one per run (docs/paper.md quotes them).
  const fmt = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? '–' : v.toFixed(digits));
  const tables = Object.entries(summary).map(([name, run]) => {
    const rows = monitorEvents(join(ROOT, name)).map((e) => {
      const usage = e.bases[0];
      const top = usage !== undefined ? Math.max(...usage.share) : null;
      return `| ${e.step} | ${fmt(e.validation != null ? 100 * e.validation.meanIoU : null, 1)} | ${fmt(e.validation != null ? 100 * e.validation.pixelAccuracy : null, 1)} | ${fmt(usage?.effectiveBases, 2)} | ${fmt(usage?.pixelBases, 2)} | ${usage?.distinctBases ?? '–'} | ${fmt(top, 2)} | ${e.backboneGradientNorm === null ? '–' : e.backboneGradientNorm.toExponential(2)} |`;
    });
    return [`### ${name} (${run.head}, ${run.steps} steps)`, '', '| step | val mIoU % | val pixel acc % | effective bases | per pixel | distinct μ⁽⁰⁾ | top share | ‖∂L/∂backbone‖ |', '|---:|---:|---:|---:|---:|---:|---:|---:|', ...rows, ''].join('\n');
  });
  writeFileSync(join(OUT, 'curves.md'), `# Monitor events of the attention-bench runs\n\nWritten by \`npx tsx scripts/attention-bench-figures.ts curves\`.\n\n${tables.join('\n')}`);
  console.log(`wrote ${OUT}/curves.{json,md} (${Object.keys(summary).length} runs)`);
}

async function modelFigures(runDir: string, backend: string | undefined): Promise<void> {
  const { model, config, step } = await loadRunModel(runDir, backend);
  const head = findHemHeads(model)[0];
  if (head === undefined) throw new Error(`attention-bench-figures: '${runDir}' has no HEM/EMA head`);
  const { val, mean, std, palette } = await createDatasets(config, 'val');
  const samples = await loadSamples(val, Array.from({ length: 8 }, (_, i) => ({ index: i })));
  const batch = batchSamples(samples);
  const { images, labels } = batchToTensors(batch);
  const headInput = tf.tidy(() => model.execute(images, (head.input as tf.SymbolicTensor).name) as tf.Tensor4D);
  const problem = head.emProblem(headInput);
  const stepSizes = [0.2, 0.4, 0.6, 0.8, 1];
  const T = 8;
  // Fig. 3a: the ELBO of the trained head's own EM problem, at other η.
  const elbo = stepSizes.map((stepSize) =>
    tf.tidy(() => {
      const result = unrollHem(problem.x, problem.mu0, { ...problem.options, stepSize, iterations: T, trace: true });
      const trace = result.trace ?? [];
      const curve = [tf.mean(trace[0]!.elboBefore).dataSync()[0]!, ...trace.map((s) => tf.mean(s.elboAfter).dataSync()[0]!)];
      disposeHemResult(result);
      return curve;
    }),
  );
  // Fig. 3b, c: the gradient of the real loss at x through each iteration's N- and E-step.
  const headOutput = head.output as tf.SymbolicTensor;
  const loss = (r: { reconstruction: tf.Tensor3D }) =>
    segmentationCrossEntropy(applyFrom(model, headOutput, head.outputFromReconstruction(r.reconstruction, headInput)) as tf.Tensor4D, labels, val.ignoreLabel);
  const flowIterations = [problem.options.iterations, 6];
  const flow = flowIterations.flatMap((iterations) =>
    [problem.options.stepSize, ...stepSizes.filter((s) => s !== problem.options.stepSize && s < 1)].map((stepSize) => ({
      iterations,
      stepSize,
      ...gradientFlow(problem.x, problem.mu0, loss, { ...problem.options, stepSize, iterations, detachEm: false }),
    })),
  );
  mkdirSync(OUT, { recursive: true });
  const tag = `${relative(ROOT, runDir)} (step ${step})`;
  await writeFigure(
    'elbo-trained',
    lineChart({
      title: `Fig. 3a: ELBO per iteration on a trained head's features, ${tag}`,
      xLabel: 'iteration t (0: μ⁽⁰⁾)',
      yLabel: 'mean ELBO',
      series: elbo.map((curve, i) => ({ name: `η = ${stepSizes[i]}`, x: curve.map((_, t) => t), y: curve })),
      width: 800,
    }),
  );
  const main = flow.filter((f) => f.iterations === problem.options.iterations);
  await writeFigure(
    'gradient-flow-trained',
    barChart({
      title: `Fig. 3b/c: mean |∂L/∂x| through each iteration's N- and E-step, T = ${problem.options.iterations}, ${tag}`,
      xLabel: 'iteration t',
      yLabel: 'mean |∂L/∂x|',
      categories: Array.from({ length: problem.options.iterations }, (_, t) => `t = ${t + 1}`),
      series: main.flatMap((f) => [
        { name: `η = ${f.stepSize} N-step`, values: f.nstep },
        { name: `η = ${f.stepSize} E-step`, values: f.estep },
      ]),
      width: 900,
    }),
  );
  // Fig. 4: attention maps per iteration, bases sorted by mass.
  const maps: { scene: number; bases: number[]; mass: number[]; elbo: number[] }[] = [];
  for (let i = 0; i < 3; i++) {
    const m = attentionMaps(model, samples[i]!, { columns: 8, normalize: 'each' });
    if (m === null) continue;
    const sample = samples[i]!;
    // Top: the scene and its labels; below: rows t = 1..T, columns the bases by mass.
    const scene = imageToRgba(sample.image, sample.height, sample.width, sample.channels, { mean, std });
    const truth = colorizeMask(sample.label, sample.height, sample.width, { ignoreLabel: val.ignoreLabel, palette });
    await writePng(join(OUT, `attention-maps-${i}.png`), stack(tileImages([scene, truth], { columns: 2, gap: 4 }), m.grid, 8));
    console.log(`wrote ${OUT}/attention-maps-${i}.png`);
    const total = m.mass.reduce((a, b) => a + b, 0);
    maps.push({ scene: i, bases: m.bases, mass: m.bases.map((k) => (m.mass[k] as number) / total), elbo: m.elbo });
  }
  writeFileSync(
    join(OUT, 'model-figures.json'),
    `${JSON.stringify({ run: runDir, step, head: config.model.head, options: problem.options, stepSizes, elbo, gradientFlow: flow, attention: maps }, null, 1)}\n`,
  );
  console.log(`wrote ${OUT}/model-figures.json`);
  for (const f of main) {
    console.log(`η ${f.stepSize} T ${f.iterations}: N-step [${f.nstep.map((v) => v.toExponential(2)).join(', ')}], E-step [${f.estep.map((v) => v.toExponential(2)).join(', ')}]`);
  }
  tf.dispose([images, labels, headInput, problem.x, problem.mu0]);
  model.dispose();
}

/** Step → value of one run's monitor events (gradient norms only). */
function gradientByStep(run: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of monitorEvents(run)) if (e.backboneGradientNorm !== null) out.set(e.step, e.backboneGradientNorm);
  return out;
}

/** Mean and sample std (0 for one value). */
function meanAndStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}

interface GradientCell {
  label: string;
  seeds: number;
  /** Steps every seed has, and the mean over seeds of the gradient norm at each. */
  steps: number[];
  meanByStep: number[];
  /** Per seed, the mean gradient norm over the events from step `FROM_STEP` on; then their mean and std. */
  perSeedLate: number[];
  late: { mean: number; std: number };
}

/** Events before this step are the first plateau's fall (step 1 is ≈ 10× the rest); the time average starts after it. */
const FROM_STEP = 500;

function gradientCell(label: string, seedRuns: string[]): GradientCell | null {
  const bySeed = seedRuns.map(gradientByStep).filter((m) => m.size > 0);
  if (bySeed.length === 0) return null;
  const steps = [...(bySeed[0] as Map<number, number>).keys()].filter((s) => bySeed.every((m) => m.has(s))).sort((a, b) => a - b);
  const meanByStep = steps.map((s) => meanAndStd(bySeed.map((m) => m.get(s) as number)).mean);
  const perSeedLate = bySeed.map((m) => meanAndStd([...m.entries()].filter(([s]) => s >= FROM_STEP).map(([, v]) => v)).mean);
  return { label, seeds: bySeed.length, steps, meanByStep, perSeedLate, late: meanAndStd(perSeedLate) };
}

/** Finished seed runs (metrics.json written) of one sweep cell folder. */
function finishedSeeds(cellDir: string): string[] {
  if (!existsSync(cellDir)) return [];
  return readdirSync(cellDir)
    .filter((e) => e.startsWith('seed-'))
    .map((e) => join(cellDir, e))
    .filter((r) => existsSync(join(r, 'metrics.json')) && existsSync(join(r, 'train-log.jsonl')))
    .sort();
}

async function etaFigures(): Promise<void> {
  const table1 = join(ROOT, 'sweeps/table1-hem');
  const headline = join(ROOT, 'sweeps/headline');
  const cellPattern = /^stepSize=([0-9.]+),trainIterations=([0-9]+)$/;
  const cells = existsSync(table1)
    ? readdirSync(table1).flatMap((e) => {
        const m = cellPattern.exec(e);
        return m !== null ? [{ dir: join(table1, e), stepSize: Number(m[1]), iterations: Number(m[2]) }] : [];
      })
    : [];
  if (cells.length === 0) throw new Error(`attention-bench-figures eta: no stepSize=…,trainIterations=… cells under ${table1}`);
  const iterationsList = [...new Set(cells.map((c) => c.iterations))].sort((a, b) => a - b);
  const stepSizes = [...new Set(cells.map((c) => c.stepSize))].sort((a, b) => a - b);
  const baselines = (['ema', 'fcn'] as const).flatMap((head) => {
    const cell = gradientCell(`${head} (headline)`, finishedSeeds(join(headline, `head=${head}`)));
    return cell !== null ? [{ head, cell }] : [];
  });
  mkdirSync(OUT, { recursive: true });
  const grid: Record<string, Record<string, GradientCell>> = {};
  const etaColor = (i: number) => ['#08306b', '#2171b5', '#6baed6', '#fd8d3c', '#a50f15'][i % 5] as string;
  for (const T of iterationsList) {
    grid[T] = {};
    const series: LineSeries[] = [];
    stepSizes.forEach((eta, i) => {
      const cell = cells.find((c) => c.stepSize === eta && c.iterations === T);
      const stats = cell !== undefined ? gradientCell(`hem η ${eta}`, finishedSeeds(cell.dir)) : null;
      if (stats === null) return;
      (grid[T] as Record<string, GradientCell>)[String(eta)] = stats;
      series.push({ name: `hem η = ${eta} (${stats.seeds} seeds)`, x: stats.steps, y: stats.meanByStep, color: etaColor(i) });
    });
    if (T === 3) {
      for (const { head, cell } of baselines) {
        series.push({ name: `${cell.label}, ${cell.seeds} seeds`, x: cell.steps, y: cell.meanByStep, color: HEAD_COLORS[head] ?? '#555', dashed: true });
      }
    }
    if (series.length === 0) continue;
    await writeFigure(
      `backbone-gradient-eta-T${T}`,
      lineChart({ title: `Fig. 3d: ‖∂L/∂(backbone output)‖ over training, T_train = ${T}, mean over seeds`, xLabel: 'step (batch 8)', yLabel: '‖∂L/∂features‖₂', series, logY: true, width: 900, height: 480 }),
    );
  }
  const exp = (v: number) => v.toExponential(2);
  const header = `| T_train | ${stepSizes.map((e) => `η ${e}`).join(' | ')} |`;
  const rows = iterationsList.map((T) => `| ${T} | ${stepSizes.map((e) => {
    const c = grid[T]?.[String(e)];
    return c === undefined ? '–' : `${exp(c.late.mean)} ± ${exp(c.late.std)}`;
  }).join(' | ')} |`);
  const baselineRows = baselines.map(({ cell }) => `- ${cell.label}: ${exp(cell.late.mean)} ± ${exp(cell.late.std)} (${cell.seeds} seeds)`);
  const md = [
    '# Fig. 3d across η: the gradient at the backbone output over training',
    '',
    'Written by `npx tsx scripts/attention-bench-figures.ts eta` from the monitor events of',
    'sweeps/table1-hem (and sweeps/headline for ema and fcn): ‖∂L/∂(backbone output)‖₂ on the',
    `8 fixed validation scenes of the probe, averaged per run over the events from step ${FROM_STEP} on,`,
    'then mean ± std over seeds.',
    '',
    header,
    `|---:|${stepSizes.map(() => '---:').join('|')}|`,
    ...rows,
    '',
    ...baselineRows,
    '',
  ].join('\n');
  writeFileSync(join(OUT, 'backbone-gradient-eta.md'), md);
  writeFileSync(join(OUT, 'backbone-gradient-eta.json'), `${JSON.stringify({ fromStep: FROM_STEP, grid, baselines: Object.fromEntries(baselines.map(({ head, cell }) => [head, cell])) }, null, 1)}\n`);
  console.log(md);
  console.log(`wrote ${OUT}/backbone-gradient-eta.{md,json}`);
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'curves') {
  await curves();
} else if (command === 'eta') {
  await etaFigures();
} else if (command === 'model' && rest[0] !== undefined) {
  const b = rest.indexOf('--backend');
  await modelFigures(rest[0], b >= 0 ? rest[b + 1] : undefined);
} else {
  console.error('usage: npx tsx scripts/attention-bench-figures.ts curves [--out DIR] | eta [--out DIR] | model RUN_DIR [--backend native|wasm] [--out DIR]');
  process.exit(1);
}
