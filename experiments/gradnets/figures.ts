/**
 * Figures of the GradNets conv-net and deep-MLP experiments (SVG + PNG via
 * src/plots), from the JSON results:
 *   docs/figures/gradnets-conv.{svg,png}      test accuracy per variant, MNIST and Fashion-MNIST
 *   docs/figures/gradnets-tau-sweep.{svg,png} GReLU τ sweep (validation accuracy)
 *   docs/figures/gradnets-deep-mlp.{svg,png}  training loss per epoch, depth 100 / 200 (6 epochs)
 *   docs/figures/gradnets-deep-mlp-long.{svg,png}  the same at 18 epochs, τ = half the run, beside ReLU from three initialisations: depth 100
 *   docs/figures/gradnets-deep-mlp-long-depth200.{svg,png}  the same, depth 200
 *   docs/figures/gradnets-deep-mlp-512.{svg,png}, gradnets-deep-mlp-512-depth200.{svg,png}  GReLU and ReLU ×√2 at 512 units
 *   docs/figures/gradnets-deep-mlp-512-lr1e-4.{svg,png}, gradnets-deep-mlp-512-lr1e-4-depth200.{svg,png}  the same at lr 1e-4
 *
 *   npx tsx experiments/gradnets/figures.ts
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSvgPng } from '../../src/plots/png.js';
import { barChart, lineChart, type LineSeries } from '../../src/plots/svg.js';
import { RESULTS_DIR, meanStd } from './common.js';
import type { ConvNetResults } from './convNet.js';
import type { DeepMlpResults } from './deepMlp.js';

const FIGURES = join(RESULTS_DIR, '..', '..', 'docs', 'figures');

function read<T>(name: string): T | null {
  const path = join(RESULTS_DIR, `${name}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

async function save(name: string, svg: string): Promise<void> {
  mkdirSync(FIGURES, { recursive: true });
  writeFileSync(join(FIGURES, `${name}.svg`), svg);
  await writeSvgPng(join(FIGURES, `${name}.png`), svg, 144);
  console.log(`wrote docs/figures/${name}.{svg,png}`);
}

/** Mean test accuracy per variant, one series per dataset, as a bar chart. */
async function convFigure(name: string, title: string, conv: ConvNetResults[]): Promise<void> {
  const variants = conv[0]?.config.variants ?? [];
  const series = conv.map((results) => {
    const dataset = results.config.datasets[0] ?? '?';
    const values = variants.map((variant) => {
      const accs = results.runs.filter((r) => r.phase === 'main' && r.variant === variant).map((r) => r.result.testAccuracy);
      return 100 * meanStd(accs).mean;
    });
    const n = Math.min(...variants.map((v) => results.runs.filter((r) => r.phase === 'main' && r.variant === v).length));
    return { name: `${dataset} (n ≥ ${n} seeds)`, values };
  });
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  await save(
    name,
    barChart({
      title,
      yLabel: 'test accuracy %',
      categories: variants,
      series,
      yRange: [Math.floor(Math.min(...all) - 2), Math.ceil(Math.max(...all) + 1)],
      width: 820,
    }),
  );
}

const conv = [read<ConvNetResults>('convNet-mnist'), read<ConvNetResults>('convNet-fashion')].filter((r): r is ConvNetResults => r !== null);
if (conv.length > 0) {
  await convFigure('gradnets-conv', 'GradNets conv net, 1000 training images, 200 steps: mean test accuracy', conv);
  const mnist = conv.find((r) => r.config.datasets[0] === 'mnist');
  if (mnist !== undefined && mnist.sweep.length > 0) {
    await save(
      'gradnets-tau-sweep',
      barChart({
        title: 'GReLU τ sweep on MNIST (2 seeds each)',
        xLabel: 'τ as a fraction of the 200 steps',
        yLabel: 'accuracy %',
        categories: mnist.sweep.map((s) => String(s.tauFraction)),
        series: [
          { name: 'validation', values: mnist.sweep.map((s) => 100 * s.meanValAccuracy) },
          { name: 'test', values: mnist.sweep.map((s) => 100 * s.meanTestAccuracy) },
        ],
        yRange: [85, 95],
      }),
    );
  }
}

const convLarge = [read<ConvNetResults>('convNet-large-mnist-tau0.5'), read<ConvNetResults>('convNet-large-fashion-tau0.5')].filter((r): r is ConvNetResults => r !== null);
if (convLarge.length > 0) {
  await convFigure('gradnets-conv-large', 'GradNets conv net --large (10 000 images, 2400 steps)', convLarge);
}

/** Training loss per epoch of every deep-MLP run in `entries` (label, results file), one line per run; ReLU dashed. */
async function deepMlpFigure(name: string, title: string, entries: Array<[string, DeepMlpResults | null]>, depth?: number): Promise<void> {
  const lines: LineSeries[] = [];
  for (const [label, results] of entries) {
    if (results === null) continue;
    for (const run of results.runs) {
      if (depth !== undefined && run.depth !== depth) continue;
      lines.push({
        name: `depth ${run.depth} ${label} seed ${run.seed}`,
        y: run.result.trainLossPerEpoch,
        x: run.result.trainLossPerEpoch.map((_, i) => i + 1),
        dashed: run.activation === 'relu',
      });
    }
  }
  if (lines.length === 0) return;
  await save(name, lineChart({ title, xLabel: 'epoch', yLabel: 'mean training loss (ln 10 = 2.30: chance)', series: lines, width: 900, height: Math.max(400, 120 + 18 * lines.length) }));
}

await deepMlpFigure('gradnets-deep-mlp', 'Deep MLPs on MNIST (128 units, 47 steps per epoch): training loss', [
  ['GReLU, orthogonal, τ = run', read<DeepMlpResults>('deepMlp-depth100-epochs6-lr0.0003-tau1-units128')],
  ['ReLU, He normal', read<DeepMlpResults>('deepMlp-depth100-epochs6-lr0.0003-heNormal-units128')],
  ['GReLU, orthogonal, τ = run', read<DeepMlpResults>('deepMlp-depth200-epochs6-lr0.0003-tau1-units128')],
  ['ReLU, He normal', read<DeepMlpResults>('deepMlp-depth200-epochs6-lr0.0003-heNormal-units128')],
]);
const LONG_RUNS: Array<[string, DeepMlpResults | null]> = [
  ['GReLU, orthogonal, τ = half', read<DeepMlpResults>('deepMlp-depth100-200-epochs18-lr0.0003-tau0.5-units128')],
  ['ReLU, He normal', read<DeepMlpResults>('deepMlp-depth100-epochs18-lr0.0003-heNormal-units128')],
  ['ReLU, He normal', read<DeepMlpResults>('deepMlp-depth200-epochs18-lr0.0003-heNormal-units128')],
  ['ReLU, orthogonal ×√2', read<DeepMlpResults>('deepMlp-gain1.4142-epochs18-lr0.0003-units128')],
  ['ReLU, orthogonal ×1', read<DeepMlpResults>('deepMlp-gain1-epochs18-lr0.0003-units128')],
];
// One figure per depth (six seeds per setting do not fit one legend).
await deepMlpFigure('gradnets-deep-mlp-long', 'Deep MLPs on MNIST, depth 100, 18 epochs, GReLU τ = 9 epochs', LONG_RUNS, 100);
await deepMlpFigure('gradnets-deep-mlp-long-depth200', 'Deep MLPs on MNIST, depth 200, 18 epochs, GReLU τ = 9 epochs', LONG_RUNS, 200);
// The paper's width: 512 units (same 18 epochs, lr, τ and data as the 128-unit runs).
const WIDE_RUNS: Array<[string, DeepMlpResults | null]> = [
  ['GReLU, orthogonal, τ = half', read<DeepMlpResults>('deepMlp-depth100-200-epochs18-lr0.0003-tau0.5-units512')],
  ['ReLU, orthogonal ×√2', read<DeepMlpResults>('deepMlp-gain1.4142-epochs18-lr0.0003-units512')],
];
await deepMlpFigure('gradnets-deep-mlp-512', 'Deep MLPs on MNIST, 512 units, depth 100, 18 epochs, GReLU τ = 9 epochs', WIDE_RUNS, 100);
await deepMlpFigure('gradnets-deep-mlp-512-depth200', 'Deep MLPs on MNIST, 512 units, depth 200, 18 epochs, GReLU τ = 9 epochs', WIDE_RUNS, 200);
// The same at lr 1e-4 (at 3e-4 GReLU diverged in epoch 1 at depth 200 and ReLU ×√2 never left ln 10).
const WIDE_SLOW_RUNS: Array<[string, DeepMlpResults | null]> = [
  ['GReLU, orthogonal, τ = half', read<DeepMlpResults>('deepMlp-depth100-200-epochs18-lr0.0001-tau0.5-units512')],
  ['ReLU, orthogonal ×√2', read<DeepMlpResults>('deepMlp-gain1.4142-epochs18-lr0.0001-units512')],
];
await deepMlpFigure('gradnets-deep-mlp-512-lr1e-4', 'Deep MLPs on MNIST, 512 units, depth 100, lr 1e-4, 18 epochs, GReLU τ = 9 epochs', WIDE_SLOW_RUNS, 100);
await deepMlpFigure('gradnets-deep-mlp-512-lr1e-4-depth200', 'Deep MLPs on MNIST, 512 units, depth 200, lr 1e-4, 18 epochs, GReLU τ = 9 epochs', WIDE_SLOW_RUNS, 200);
