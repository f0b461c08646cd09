/**
 * GradNets paper on cluttered MNIST ("Gradual Pooling", "Gradual
 * Convolutions", "Gradual Spatial Transformer Networks"), small scale.
 *
 * Classifier (the paper's): 20×20 input → conv 3×3×32 ReLU → pool 2 →
 * conv 3×3×32 ReLU → pool 2 → dense 256 ReLU → dense 10. The 60×60 image is
 * brought to 20×20 by 3×3 mean pooling ("downsample") or an affine spatial
 * transformer. The paper's localisation net is 2 × (conv 5×5×20, max pool 2),
 * dense 50, dense 6; here it is dense 50 → dense 6 on the flattened 60×60
 * image (`localizationFilters: []`) because at batch 128 the conv version
 * cost 6.4 s per step on this machine (the sampler alone ~15 ms per image).
 * θ starts at the identity. The localisation layers use tfjs' unseeded
 * default initialisers (only the θ layer is deterministic), so STN runs are
 * not bit-reproducible.
 *
 * Variants (each changes one thing from `maxPool`):
 *   maxPool      downsample + max pooling (the baseline)
 *   meanPool     mean pooling instead of max
 *   gradualPool  GradualPooling2D, mean → max
 *   extraConv    a 3×3×32 conv (ReLU) after each conv: static, deeper net
 *   gradualConv  the same convs as GradualConv2D, identity → conv
 *   stn          affine STN instead of downsample (GradualSpatialTransformer held at g = 1)
 *   gradualStn   GradualSpatialTransformer, downsample → STN
 * All gradual variants ramp g linearly over τ = tauFraction × total steps.
 *
 *   npx tsx experiments/gradnets/cluttered.ts [--quick] [--seeds N] [--probe] [--only a,b]
 */
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../../src/backend.js';
import { loadMnist } from '../../src/data/mnist.js';
import { GradNetController, GradualConv2D, GradualPooling2D, GradualSpatialTransformer } from '../../src/gradnets/index.js';
import { clutteredMnist } from './clutteredMnist.js';
import { formatAccuracy, isMain, meanStd, parseFlags, printTable, trainClassifier, writeResults, type TrainClassifierResult } from './common.js';
import { FastDense } from './fastDense.js';

export type ClutteredVariant = 'maxPool' | 'meanPool' | 'gradualPool' | 'extraConv' | 'gradualConv' | 'stn' | 'gradualStn';
export const CLUTTERED_VARIANTS: readonly ClutteredVariant[] = ['maxPool', 'meanPool', 'gradualPool', 'extraConv', 'gradualConv', 'stn', 'gradualStn'];

export interface ClutteredConfig {
  variants: ClutteredVariant[];
  seeds: number[];
  canvas: number;
  glimpse: number;
  filters: number;
  hidden: number;
  localizationFilters: number[];
  trainSize: number;
  testSize: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  tauFraction: number;
  /** Seed of the generated images (fixed across model seeds). */
  dataSeed: number;
  maxSteps?: number;
}

export const CLUTTERED_FULL: ClutteredConfig = {
  variants: [...CLUTTERED_VARIANTS],
  seeds: [0, 1],
  canvas: 60,
  glimpse: 20,
  filters: 32,
  hidden: 256,
  localizationFilters: [],
  trainSize: 3000,
  testSize: 1000,
  epochs: 2,
  batchSize: 64,
  learningRate: 1e-3,
  tauFraction: 0.5,
  dataSeed: 7,
};

export const CLUTTERED_QUICK: ClutteredConfig = {
  ...CLUTTERED_FULL,
  seeds: [0],
  canvas: 30,
  glimpse: 10,
  filters: 4,
  hidden: 8,
  localizationFilters: [],
  trainSize: 64,
  testSize: 32,
  epochs: 1,
  batchSize: 32,
};

export interface ClutteredRun {
  variant: ClutteredVariant;
  seed: number;
  result: TrainClassifierResult;
}

export interface ClutteredResults {
  experiment: 'cluttered';
  config: ClutteredConfig;
  runs: ClutteredRun[];
  summary: Array<{ variant: ClutteredVariant; meanAccuracy: number; stdAccuracy: number; n: number; diverged: number }>;
  totalSeconds: number;
}

/** Input [B, canvas, canvas, 1] → logits [B, 10]. */
export function buildClutteredNet(config: ClutteredConfig, variant: ClutteredVariant, seed: number): tf.LayersModel {
  const input = tf.input({ shape: [config.canvas, config.canvas, 1] });
  const factor = config.canvas / config.glimpse;
  let h: tf.SymbolicTensor;
  if (variant === 'stn' || variant === 'gradualStn') {
    h = new GradualSpatialTransformer({
      outputSize: [config.glimpse, config.glimpse],
      downsample: 'average',
      localizationFilters: config.localizationFilters,
      localizationUnits: 50,
      initialGate: variant === 'stn' ? 1 : 0,
    }).apply(input) as tf.SymbolicTensor;
  } else {
    h = tf.layers.averagePooling2d({ poolSize: factor, strides: factor }).apply(input) as tf.SymbolicTensor;
  }
  let initSeed = seed * 100;
  const conv = (x: tf.SymbolicTensor): tf.SymbolicTensor =>
    tf.layers
      .conv2d({ filters: config.filters, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: ++initSeed }) })
      .apply(x) as tf.SymbolicTensor;
  const pool = (x: tf.SymbolicTensor): tf.SymbolicTensor => {
    if (variant === 'meanPool') return tf.layers.averagePooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
    if (variant === 'gradualPool') return new GradualPooling2D({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
    return tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  };
  const extra = (x: tf.SymbolicTensor): tf.SymbolicTensor => {
    if (variant !== 'extraConv' && variant !== 'gradualConv') return x;
    return new GradualConv2D({ kernelSize: 3, activation: 'relu', kernelInitializer: 'heNormal', initialGate: variant === 'extraConv' ? 1 : 0 }).apply(x) as tf.SymbolicTensor;
  };
  h = pool(extra(conv(h)));
  h = pool(extra(conv(h)));
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  h = new FastDense({ units: config.hidden, kernelInitializer: tf.initializers.heNormal({ seed: ++initSeed }) }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
  const out = new FastDense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: ++initSeed }) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

const GRADUAL: readonly ClutteredVariant[] = ['gradualPool', 'gradualConv', 'gradualStn'];

export function runCluttered(config: ClutteredConfig, log: (line: string) => void = () => undefined): ClutteredResults {
  const started = performance.now();
  const options = { canvas: config.canvas, fragments: 4, fragmentSize: Math.round((8 * config.canvas) / 60) };
  const train = clutteredMnist(loadMnist('train', config.trainSize), { ...options, count: config.trainSize, seed: config.dataSeed });
  const test = clutteredMnist(loadMnist('test', config.testSize), { ...options, count: config.testSize, seed: config.dataSeed + 1 });
  const totalSteps = Math.min(Math.ceil(train.count / config.batchSize) * config.epochs, config.maxSteps ?? Infinity);
  const tau = Math.max(1, Math.round(config.tauFraction * totalSteps));
  const runs: ClutteredRun[] = [];
  for (const variant of config.variants) {
    for (const seed of config.seeds) {
      const model = buildClutteredNet(config, variant, seed);
      const controller = GRADUAL.includes(variant) ? new GradNetController(model, { tau, unit: 'step' }) : null;
      const result = trainClassifier(model, train, test, {
        epochs: config.epochs,
        batchSize: config.batchSize,
        learningRate: config.learningRate,
        seed,
        beforeStep: controller?.hook,
        maxSteps: config.maxSteps,
      });
      model.dispose();
      runs.push({ variant, seed, result });
      log(`${variant} seed ${seed}: acc ${(100 * result.testAccuracy).toFixed(2)}% (${result.steps} steps, ${result.secondsPerStep.toFixed(3)} s/step)`);
    }
  }
  const summary = config.variants.map((variant) => {
    const accs = runs.filter((r) => r.variant === variant).map((r) => r.result.testAccuracy);
    const { mean, std, n } = meanStd(accs);
    return { variant, meanAccuracy: mean, stdAccuracy: std, n, diverged: accs.length - n };
  });
  return { experiment: 'cluttered', config, runs, summary, totalSeconds: (performance.now() - started) / 1000 };
}

export function clutteredTable(results: ClutteredResults): { header: string[]; rows: string[][] } {
  const header = ['variant', 'test acc % (mean ± std)', 'per seed', 's/step'];
  const rows = results.config.variants.map((variant) => {
    const selected = results.runs.filter((r) => r.variant === variant);
    return [
      variant,
      formatAccuracy(selected.map((r) => r.result.testAccuracy)),
      selected.map((r) => (100 * r.result.testAccuracy).toFixed(1)).join(', '),
      meanStd(selected.map((r) => r.result.secondsPerStep)).mean.toFixed(3),
    ];
  });
  return { header, rows };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  await setBackend('wasm');
  let config = flags.quick ? CLUTTERED_QUICK : CLUTTERED_FULL;
  if (flags.seeds !== null) config = { ...config, seeds: Array.from({ length: flags.seeds }, (_, i) => i) };
  if (flags.only !== null) config = { ...config, variants: flags.only as ClutteredVariant[] };
  if (flags.probe) {
    const probe = runCluttered({ ...config, seeds: [0], maxSteps: 4, trainSize: 512, testSize: 128 });
    for (const run of probe.runs) console.log(`${run.variant}: ${run.result.secondsPerStep.toFixed(3)} s/step`);
    return;
  }
  const results = runCluttered(config, (line) => console.log(line));
  const { header, rows } = clutteredTable(results);
  printTable(header, rows);
  const name = flags.quick ? 'cluttered-quick' : 'cluttered';
  console.log(`wrote ${writeResults(name, results)} (${results.totalSeconds.toFixed(0)} s)`);
}

if (isMain(import.meta.url)) await main();
