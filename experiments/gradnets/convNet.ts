/**
 * GradNets paper, the CIFAR-10 CNN tables, at MNIST / Fashion-MNIST size:
 * GReLU vs ReLU vs PReLU vs inverse GReLU (|x| → ReLU); gradual batch
 * normalisation (BN → identity) vs BN and none; conv → Network-in-Network vs
 * conv and static NiN; all three GradNets combined. τ of the gradual variants
 * is chosen first by a small sweep of GReLU on a held-out validation split of
 * the MNIST training images.
 *
 * Net (per block: conv 3×3 'same' → [BN] → activation → [NiN 1×1 part]):
 *   block 16 @28×28 → maxpool 2 → block 32 @14×14 → maxpool 2 → block 64 @7×7
 *   → flatten → dense 128 → activation → dense 10.
 * On a 1000-image subset for 10 epochs (200 steps of batch 50) it nearly fits
 * the training set, so the comparison is in the overfitting regime.
 *
 * Resumable: results go to experiments/results/<name>.json after every run; a
 * restarted command with the same config skips the runs already there.
 *
 *   npx tsx experiments/gradnets/convNet.ts [--quick | --large] [--seeds N] [--probe]
 *     [--backend native|wasm|cpu] [--epochs N] [--only mnist,fashion] [--tau F]
 *     [--variants a,b] [--seed-from K]   (with --seeds N: seeds K..K+N−1)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../../src/backend.js';
import { loadMnist } from '../../src/data/mnist.js';
import { GradNetController, GradualBatchNormalization, GradualInterpolation, GradualNetworkInNetwork, GradualReLU } from '../../src/gradnets/index.js';
import {
  RESULTS_DIR,
  accuracy,
  formatAccuracy,
  isMain,
  meanStd,
  parseFlags,
  printTable,
  readResultsFile,
  resultsConfigClash,
  trainClassifier,
  writeResults,
  type ClassificationSet,
  type ExperimentFlags,
  type TrainClassifierResult,
} from './common.js';
import { FastDense } from './fastDense.js';
import { loadFashionMnist } from './fashionMnist.js';

export const CONV_DATASETS = ['mnist', 'fashion'] as const;
export type ConvDataset = (typeof CONV_DATASETS)[number];

/**
 * - relu / prelu (learned per-channel slope, init 0.25) / grelu (slope 1 → 0) /
 *   igrelu (slope −1 → 0: |x| → ReLU): the activation, no BN, plain conv.
 * - bn: static BN before every ReLU; gbn: `GradualBatchNormalization` (BN → identity).
 * - nin: `GradualNetworkInNetwork` held at g = 1 (static NiN: two 1×1 ReLU
 *   convs after each 3×3 conv); gnin: the same layer annealed (conv → NiN).
 * - all: GReLU everywhere + gradual BN + conv → NiN (the 1×1 part as a
 *   `GradualInterpolation` between the identity and 1×1 conv → GReLU → 1×1 conv → GReLU).
 */
export const CONV_VARIANTS = ['relu', 'prelu', 'grelu', 'igrelu', 'bn', 'gbn', 'nin', 'gnin', 'all'] as const;
export type ConvVariant = (typeof CONV_VARIANTS)[number];
export const GRADUAL: ReadonlySet<ConvVariant> = new Set<ConvVariant>(['grelu', 'igrelu', 'gbn', 'gnin', 'all']);

export interface ConvNetConfig {
  datasets: ConvDataset[];
  variants: ConvVariant[];
  seeds: number[];
  /** Filters of the three blocks. */
  filters: [number, number, number];
  hidden: number;
  trainSize: number;
  /** Held-out MNIST training images (after the first `trainSize`) for the τ sweep. */
  valSize: number;
  testSize: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** τ of every gradual variant as a fraction of the run's steps; null: choose it by the sweep. */
  tauFraction: number | null;
  /** The sweep: GReLU on MNIST at these τ fractions, `sweepSeeds` each; best mean validation accuracy wins. */
  sweepTauFractions: number[];
  sweepSeeds: number[];
  /** BN moving-average momentum (static and gradual BN); 0.9 suits runs of a few hundred steps. */
  bnMomentum: number;
  maxSteps?: number;
}

export const CONV_FULL: ConvNetConfig = {
  datasets: ['mnist', 'fashion'],
  variants: [...CONV_VARIANTS],
  seeds: [0, 1, 2],
  filters: [8, 16, 32],
  hidden: 64,
  trainSize: 1000,
  valSize: 1000,
  testSize: 1000,
  epochs: 10,
  batchSize: 50,
  learningRate: 1e-3,
  tauFraction: null,
  sweepTauFractions: [0.1, 0.25, 0.5, 1],
  sweepSeeds: [0, 1],
  bnMomentum: 0.9,
};

/**
 * The comparison at a larger scale (`--large`): 4× the filters and 2× the
 * hidden units (≈ 0.5 M parameters), 10× the training images, the full
 * 10 000-image test sets, 12 epochs = 2400 steps of batch 50.
 */
export const CONV_LARGE: ConvNetConfig = {
  ...CONV_FULL,
  filters: [32, 64, 128],
  hidden: 128,
  trainSize: 10000,
  valSize: 2000,
  testSize: 10000,
  epochs: 12,
};

export const CONV_QUICK: ConvNetConfig = {
  ...CONV_FULL,
  datasets: ['mnist'],
  seeds: [0],
  filters: [4, 4, 8],
  hidden: 16,
  trainSize: 128,
  valSize: 64,
  testSize: 64,
  epochs: 2,
  sweepTauFractions: [0.25, 1],
  sweepSeeds: [0],
};

export interface ConvRun {
  phase: 'sweep' | 'main';
  dataset: ConvDataset;
  variant: ConvVariant;
  /** τ fraction used (null for static variants). */
  tauFraction: number | null;
  tauSteps: number | null;
  seed: number;
  result: TrainClassifierResult;
  /** Accuracy on the training images after the last step (fit of the training set). */
  trainAccuracy: number;
  /** Accuracy on the held-out validation images (sweep only). */
  valAccuracy: number | null;
  parameters: number;
}

export interface ConvNetResults {
  experiment: 'convNet';
  config: ConvNetConfig;
  backend: string;
  chosenTauFraction: number;
  runs: ConvRun[];
  summary: Array<{
    dataset: ConvDataset;
    variant: ConvVariant;
    meanAccuracy: number;
    stdAccuracy: number;
    meanTrainAccuracy: number;
    n: number;
    diverged: number;
  }>;
  sweep: Array<{ tauFraction: number; meanValAccuracy: number; stdValAccuracy: number; meanTestAccuracy: number; n: number }>;
  totalSeconds: number;
}

function activation(variant: ConvVariant, shared: number[] | undefined): tf.layers.Layer {
  switch (variant) {
    case 'prelu':
      return tf.layers.prelu({ alphaInitializer: tf.initializers.constant({ value: 0.25 }), ...(shared === undefined ? {} : { sharedAxes: shared }) });
    case 'grelu':
    case 'all':
      return new GradualReLU();
    case 'igrelu':
      return new GradualReLU({ slopeStart: -1 });
    default:
      return tf.layers.reLU();
  }
}

/** Input [B, 28, 28, 1] → logits [B, 10]. */
export function buildConvNet(config: ConvNetConfig, variant: ConvVariant, seed: number): tf.LayersModel {
  let layerIndex = 0;
  const nextSeed = (): number => seed * 1000 + ++layerIndex;
  const conv = (h: tf.SymbolicTensor, filters: number, kernelSize: number): tf.SymbolicTensor =>
    tf.layers
      .conv2d({ filters, kernelSize, padding: 'same', kernelInitializer: tf.initializers.heNormal({ seed: nextSeed() }) })
      .apply(h) as tf.SymbolicTensor;
  const block = (x: tf.SymbolicTensor, filters: number): tf.SymbolicTensor => {
    if (variant === 'nin' || variant === 'gnin') {
      // GradualNetworkInNetwork's initialisers are names (unseeded); seeded ones are written below.
      return new GradualNetworkInNetwork({ filters, kernelInitializer: 'heNormal', initialGate: variant === 'nin' ? 1 : 0 }).apply(x) as tf.SymbolicTensor;
    }
    let h = conv(x, filters, 3);
    if (variant === 'bn') h = tf.layers.batchNormalization({ momentum: config.bnMomentum }).apply(h) as tf.SymbolicTensor;
    if (variant === 'gbn' || variant === 'all') h = new GradualBatchNormalization({ momentum: config.bnMomentum }).apply(h) as tf.SymbolicTensor;
    h = activation(variant, [1, 2]).apply(h) as tf.SymbolicTensor;
    if (variant === 'all') {
      const mlp = tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: h.shape.slice(1) as number[], filters, kernelSize: 1, kernelInitializer: tf.initializers.heNormal({ seed: nextSeed() }) }),
          new GradualReLU(),
          tf.layers.conv2d({ filters, kernelSize: 1, kernelInitializer: tf.initializers.heNormal({ seed: nextSeed() }) }),
          new GradualReLU(),
        ],
      });
      h = new GradualInterpolation({ early: tf.layers.activation({ activation: 'linear' }), late: mlp }).apply(h) as tf.SymbolicTensor;
    }
    return h;
  };
  const pool = (h: tf.SymbolicTensor): tf.SymbolicTensor => tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
  const input = tf.input({ shape: [28, 28, 1] });
  let h = pool(block(input, config.filters[0]));
  h = pool(block(h, config.filters[1]));
  h = block(h, config.filters[2]);
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  h = new FastDense({ units: config.hidden, kernelInitializer: tf.initializers.heNormal({ seed: nextSeed() }) }).apply(h) as tf.SymbolicTensor;
  h = activation(variant, undefined).apply(h) as tf.SymbolicTensor;
  const out = new FastDense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed() }) }).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  if (variant === 'nin' || variant === 'gnin') reseedKernels(model, seed);
  return model;
}

/** Rewrites every 4-D kernel with seeded He-normal values (for layers whose initialisers are unseeded names). */
function reseedKernels(model: tf.LayersModel, seed: number): void {
  model.weights.forEach((weight, i) => {
    if (weight.shape.length !== 4) return;
    const shape = weight.shape as [number, number, number, number];
    const [kh, kw, cin] = shape;
    tf.tidy(() => {
      weight.write(tf.randomNormal(shape, 0, Math.sqrt(2 / (kh * kw * cin)), 'float32', seed * 1000 + 500 + i));
    });
  });
}

function imagesOf(dataset: ConvDataset, split: 'train' | 'test', count: number): ClassificationSet {
  const source = dataset === 'mnist' ? loadMnist(split, count) : loadFashionMnist(split, count);
  return { images: source.images, labels: source.labels, count: source.count, shape: [28, 28, 1] };
}

function slice(set: ClassificationSet, start: number, count: number): ClassificationSet {
  return { images: set.images.slice(start * 784, (start + count) * 784), labels: set.labels.slice(start, start + count), count, shape: set.shape };
}

function countParameters(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}

export function runKey(run: Pick<ConvRun, 'phase' | 'dataset' | 'variant' | 'tauFraction' | 'seed'>): string {
  return `${run.phase}:${run.dataset}:${run.variant}:${run.tauFraction ?? '-'}:${run.seed}`;
}

/** The τ fraction with the best mean validation accuracy (ties: the smaller τ). */
export function chooseTau(sweepRuns: ConvRun[], fractions: number[]): number {
  let best = fractions[0] as number;
  let bestAcc = -Infinity;
  for (const fraction of fractions) {
    const { mean } = meanStd(sweepRuns.filter((r) => r.tauFraction === fraction).map((r) => r.valAccuracy ?? NaN));
    if (Number.isFinite(mean) && mean > bestAcc) {
      best = fraction;
      bestAcc = mean;
    }
  }
  return best;
}

export interface RunConvOptions {
  log?: (line: string) => void;
  /** Runs already done (a previous, killed invocation with the same config). */
  previous?: ConvRun[];
  /** Called after every new run with all runs so far (write a checkpoint). */
  onRun?: (runs: ConvRun[], chosenTauFraction: number | null) => void;
  backend?: string;
}

export function runConvNet(config: ConvNetConfig, options: RunConvOptions = {}): ConvNetResults {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const done = new Map((options.previous ?? []).map((r) => [runKey(r), r]));
  const runs: ConvRun[] = [];
  const sets = new Map<ConvDataset, { train: ClassificationSet; val: ClassificationSet; test: ClassificationSet }>();
  const setsOf = (dataset: ConvDataset) => {
    let entry = sets.get(dataset);
    if (entry === undefined) {
      const pool = imagesOf(dataset, 'train', config.trainSize + config.valSize);
      entry = { train: slice(pool, 0, config.trainSize), val: slice(pool, config.trainSize, config.valSize), test: imagesOf(dataset, 'test', config.testSize) };
      sets.set(dataset, entry);
    }
    return entry;
  };
  const totalSteps = Math.min(Math.ceil(config.trainSize / config.batchSize) * config.epochs, config.maxSteps ?? Infinity);
  let chosen: number | null = config.tauFraction;

  const one = (phase: ConvRun['phase'], dataset: ConvDataset, variant: ConvVariant, tauFraction: number | null, seed: number): void => {
    const key = runKey({ phase, dataset, variant, tauFraction, seed });
    const previous = done.get(key);
    if (previous !== undefined) {
      runs.push(previous);
      return;
    }
    const { train, val, test } = setsOf(dataset);
    const model = buildConvNet(config, variant, seed);
    const tauSteps = tauFraction === null ? null : Math.max(1, Math.round(tauFraction * totalSteps));
    const controller = tauSteps === null ? null : new GradNetController(model, { tau: tauSteps, unit: 'step' });
    const result = trainClassifier(model, train, test, {
      epochs: config.epochs,
      batchSize: config.batchSize,
      learningRate: config.learningRate,
      seed,
      beforeStep: controller?.hook,
      maxSteps: config.maxSteps,
    });
    const trainAccuracy = result.diverged ? NaN : accuracy(model, train);
    const valAccuracy = phase === 'sweep' && !result.diverged ? accuracy(model, val) : null;
    const run: ConvRun = { phase, dataset, variant, tauFraction, tauSteps, seed, result, trainAccuracy, valAccuracy, parameters: countParameters(model) };
    model.dispose();
    runs.push(run);
    log(
      `${phase} ${dataset} ${variant}${tauFraction === null ? '' : ` τ=${tauFraction}`} seed ${seed}: test ${(100 * result.testAccuracy).toFixed(2)}% ` +
        `train ${(100 * trainAccuracy).toFixed(2)}%` +
        `${valAccuracy === null ? '' : `, val ${(100 * valAccuracy).toFixed(2)}%`}, ${result.secondsPerStep.toFixed(3)} s/step`,
    );
    options.onRun?.(runs, chosen);
  };

  if (chosen === null) {
    for (const fraction of config.sweepTauFractions) for (const seed of config.sweepSeeds) one('sweep', 'mnist', 'grelu', fraction, seed);
    chosen = chooseTau(runs, config.sweepTauFractions);
    log(`chosen τ fraction: ${chosen}`);
  }
  for (const dataset of config.datasets) {
    for (const seed of config.seeds) {
      for (const variant of config.variants) one('main', dataset, variant, GRADUAL.has(variant) ? chosen : null, seed);
    }
  }
  return summarise(config, runs, chosen, options.backend ?? tf.getBackend(), (performance.now() - started) / 1000);
}

export function summarise(config: ConvNetConfig, runs: ConvRun[], chosenTauFraction: number, backend: string, totalSeconds: number): ConvNetResults {
  const main = runs.filter((r) => r.phase === 'main');
  const summary = config.datasets.flatMap((dataset) =>
    config.variants.map((variant) => {
      const cell = main.filter((r) => r.dataset === dataset && r.variant === variant);
      const accs = cell.map((r) => r.result.testAccuracy);
      const { mean, std, n } = meanStd(accs);
      return {
        dataset,
        variant,
        meanAccuracy: mean,
        stdAccuracy: std,
        meanTrainAccuracy: meanStd(cell.map((r) => r.trainAccuracy)).mean,
        n,
        diverged: accs.length - n,
      };
    }),
  );
  const sweepRuns = runs.filter((r) => r.phase === 'sweep');
  const sweep = config.sweepTauFractions
    .map((tauFraction) => {
      const cell = sweepRuns.filter((r) => r.tauFraction === tauFraction);
      const val = meanStd(cell.map((r) => r.valAccuracy ?? NaN));
      return { tauFraction, meanValAccuracy: val.mean, stdValAccuracy: val.std, meanTestAccuracy: meanStd(cell.map((r) => r.result.testAccuracy)).mean, n: val.n };
    })
    .filter((s) => s.n > 0);
  return { experiment: 'convNet', config, backend, chosenTauFraction, runs, summary, sweep, totalSeconds };
}

export function convTable(results: ConvNetResults): { header: string[]; rows: string[][] } {
  const header = ['variant', ...results.config.datasets.map((d) => `${d} test acc % (final)`), ...results.config.datasets.map((d) => `${d} train acc % (final)`)];
  const rows = results.config.variants.map((variant) => {
    const cells = results.config.datasets.map((dataset) =>
      formatAccuracy(results.runs.filter((r) => r.phase === 'main' && r.dataset === dataset && r.variant === variant).map((r) => r.result.testAccuracy)),
    );
    const extra = results.config.datasets.map((dataset) => {
      const s = results.summary.find((x) => x.dataset === dataset && x.variant === variant);
      return s === undefined ? '–' : (100 * s.meanTrainAccuracy).toFixed(2);
    });
    return [variant, ...cells, ...extra];
  });
  return { header, rows };
}

/** The results file's name for these flags: each flag that changes the config names it (`--tau 0.5` → `-tau0.5`). */
export function resultsName(flags: Pick<ExperimentFlags, 'quick' | 'large' | 'only' | 'epochs' | 'tau'>): string {
  const only = flags.only !== null ? `-${flags.only.join('-')}` : '';
  const epochs = flags.epochs !== null ? `-epochs${flags.epochs}` : '';
  const tau = flags.tau !== null ? `-tau${flags.tau}` : '';
  return `convNet${flags.quick ? '-quick' : ''}${flags.large ? '-large' : ''}${only}${epochs}${tau}`;
}

/** Config fields that may differ between a results file and a run that continues it. */
const GROWING_FIELDS = ['seeds', 'datasets', 'variants'];

/** Null when `path` is absent, empty or written with `config` up to seeds, datasets and variants; else the fields that differ. */
export function configClash(path: string, config: ConvNetConfig): string | null {
  return resultsConfigClash(readResultsFile(path), config, GROWING_FIELDS);
}

/**
 * The config a results file records after merging `runs` of several
 * invocations: the seeds, datasets and variants of all its main runs (in
 * the canonical order), so that a run of fewer variants or datasets
 * (e.g. `--variants relu,grelu --seeds 6`) keeps the others in the tables.
 */
export function mergedConfig(config: ConvNetConfig, runs: readonly ConvRun[]): ConvNetConfig {
  const main = runs.filter((r) => r.phase === 'main');
  const seeds = [...new Set(main.map((r) => r.seed))].sort((a, b) => a - b);
  const present = <T extends string>(all: readonly T[], ours: readonly T[], of: (r: ConvRun) => T): T[] => all.filter((v) => ours.includes(v) || main.some((r) => of(r) === v));
  return {
    ...config,
    seeds,
    datasets: present(CONV_DATASETS, config.datasets, (r) => r.dataset),
    variants: present(CONV_VARIANTS, config.variants, (r) => r.variant),
  };
}

/** Previous runs from a results file, if it was written with the same config. */
export function loadPrevious(path: string, config: ConvNetConfig): ConvRun[] {
  const saved = readResultsFile<Partial<ConvNetResults>>(path);
  // Seeds, datasets and variants may grow between invocations; everything else must match.
  if (saved === null || saved.config === undefined || resultsConfigClash(saved, config, GROWING_FIELDS) !== null) return [];
  return saved.runs ?? [];
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const backend = flags.backend ?? 'wasm';
  await setBackend(backend);
  if (flags.quick && flags.large) throw new Error('--quick and --large exclude each other');
  let config = flags.quick ? CONV_QUICK : flags.large ? CONV_LARGE : CONV_FULL;
  if (flags.seeds !== null || flags.seedFrom !== null) {
    const count = flags.seeds ?? config.seeds.length;
    config = { ...config, seeds: Array.from({ length: count }, (_, i) => (flags.seedFrom ?? 0) + i) };
  }
  if (flags.epochs !== null) config = { ...config, epochs: flags.epochs };
  if (flags.learningRate !== null) config = { ...config, learningRate: flags.learningRate };
  if (flags.tau !== null) config = { ...config, tauFraction: flags.tau };
  if (flags.only !== null) {
    const unknown = flags.only.filter((d) => !(CONV_DATASETS as readonly string[]).includes(d));
    if (unknown.length > 0) throw new Error(`--only: unknown dataset ${unknown.join(', ')} (known: ${CONV_DATASETS.join(', ')})`);
    config = { ...config, datasets: flags.only as ConvDataset[] };
  }
  if (flags.variants !== null) {
    const unknown = flags.variants.filter((v) => !(CONV_VARIANTS as readonly string[]).includes(v));
    if (unknown.length > 0) throw new Error(`--variants: unknown ${unknown.join(', ')} (known: ${CONV_VARIANTS.join(', ')})`);
    config = { ...config, variants: flags.variants as ConvVariant[] };
  }
  if (flags.probe) {
    for (const variant of config.variants) {
      const probe = runConvNet({ ...config, datasets: ['mnist'], variants: [variant], seeds: [0], tauFraction: 0.5, maxSteps: 8, epochs: 1 });
      const run = probe.runs[0];
      if (run !== undefined) console.log(`${variant}: ${run.result.secondsPerStep.toFixed(3)} s/step (${run.parameters} parameters), ${probe.totalSeconds.toFixed(1)} s incl. eval`);
    }
    return;
  }
  const name = resultsName(flags);
  const path = join(RESULTS_DIR, `${name}.json`);
  const clash = configClash(path, config);
  if (clash !== null) throw new Error(`convNet: ${path} holds runs of another config (${clash}); it is left as it is: change the flags or move the file`);
  const previous = loadPrevious(path, config);
  if (previous.length > 0) console.log(`resuming: ${previous.length} runs already in ${path}`);
  const started = performance.now();
  // Merges with the file on disk before each write, so two processes running
  // disjoint seeds (--seed-from) of one command can share its results file.
  const merged = (runs: ConvRun[]): { runs: ConvRun[]; config: ConvNetConfig } => {
    const onDisk = loadPrevious(path, config);
    const ours = new Set(runs.map(runKey));
    const all = [...onDisk.filter((r) => !ours.has(runKey(r))), ...runs];
    return { runs: all, config: mergedConfig(config, all) };
  };
  const checkpoint = (runs: ConvRun[], chosen: number | null): void => {
    const m = merged(runs);
    writeResults(name, summarise(m.config, m.runs, chosen ?? NaN, tf.getBackend(), (performance.now() - started) / 1000));
  };
  const results = runConvNet(config, { log: (line) => console.log(line), previous, onRun: checkpoint, backend: tf.getBackend() });
  const m = merged(results.runs);
  const final = summarise(m.config, m.runs, results.chosenTauFraction, results.backend, results.totalSeconds);
  const { header, rows } = convTable(final);
  printTable(header, rows);
  console.log(`wrote ${writeResults(name, final)} (${results.totalSeconds.toFixed(0)} s)`);
}

if (isMain(import.meta.url)) await main();
