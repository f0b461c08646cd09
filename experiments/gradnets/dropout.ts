/**
 * GradNets paper, "Gradual Dropout": static dropout at rate p vs gradual
 * dropout (rate g·p, g annealed 0 → 1 over τ steps) on a small conv net on an
 * MNIST subset, p ∈ {0.5, 0.7, 0.9}, plus no dropout as the reference.
 *
 * Net: conv 3×3×32 ReLU → maxpool 2 → D → conv 3×3×32 ReLU → maxpool 2 → D →
 * dense 256 ReLU → D → dense 10, D = dropout after every block (the paper's
 * CIFAR-10 net drops the activations after each conv layer). Static dropout is
 * the same `GradualDropout` layer held at g = 1, so the two differ only in g(t).
 *
 *   npx tsx experiments/gradnets/dropout.ts [--quick] [--seeds N] [--probe]
 */
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../../src/backend.js';
import { loadMnist } from '../../src/data/mnist.js';
import { GradNetController, GradualDropout } from '../../src/gradnets/index.js';
import {
  formatAccuracy,
  isMain,
  meanStd,
  parseFlags,
  printTable,
  trainClassifier,
  writeResults,
  type ClassificationSet,
  type TrainClassifierResult,
} from './common.js';
import { FastDense } from './fastDense.js';

export type DropoutMode = 'none' | 'static' | 'gradual';

export interface DropoutConfig {
  rates: number[];
  seeds: number[];
  filters: number;
  hidden: number;
  trainSize: number;
  testSize: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** τ as a fraction of the total steps (unit 'step'). */
  tauFraction: number;
  maxSteps?: number;
}

export const DROPOUT_FULL: DropoutConfig = {
  rates: [0.5, 0.7, 0.9],
  seeds: [0, 1],
  filters: 32,
  hidden: 256,
  trainSize: 5000,
  testSize: 2000,
  epochs: 2,
  batchSize: 128,
  learningRate: 1e-3,
  tauFraction: 0.5,
};

export const DROPOUT_QUICK: DropoutConfig = {
  ...DROPOUT_FULL,
  rates: [0.5],
  seeds: [0, 1],
  filters: 4,
  hidden: 16,
  trainSize: 128,
  testSize: 64,
  epochs: 1,
  batchSize: 64,
};

export interface DropoutRun {
  mode: DropoutMode;
  rate: number;
  seed: number;
  result: TrainClassifierResult;
}

export interface DropoutResults {
  experiment: 'dropout';
  config: DropoutConfig;
  runs: DropoutRun[];
  summary: Array<{ mode: DropoutMode; rate: number; meanAccuracy: number; stdAccuracy: number; n: number; diverged: number; meanFinalTrainLoss: number }>;
  totalSeconds: number;
}

/** The conv net; `mode` 'none' has no dropout layers. Input [B, 28, 28, 1] → logits [B, 10]. */
export function buildDropoutNet(config: DropoutConfig, mode: DropoutMode, rate: number, seed: number): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1] });
  let dropIndex = 0;
  const drop = (h: tf.SymbolicTensor): tf.SymbolicTensor => {
    if (mode === 'none') return h;
    dropIndex++;
    return new GradualDropout({ rate, seed: seed * 100 + dropIndex, initialGate: mode === 'static' ? 1 : 0 }).apply(h) as tf.SymbolicTensor;
  };
  const conv = (h: tf.SymbolicTensor, i: number): tf.SymbolicTensor =>
    tf.layers
      .conv2d({ filters: config.filters, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: seed * 100 + i }) })
      .apply(h) as tf.SymbolicTensor;
  const pool = (h: tf.SymbolicTensor): tf.SymbolicTensor => tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
  let h = drop(pool(conv(input, 1)));
  h = drop(pool(conv(h, 2)));
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  h = new FastDense({ units: config.hidden, kernelInitializer: tf.initializers.heNormal({ seed: seed * 100 + 3 }) }).apply(h) as tf.SymbolicTensor;
  h = drop(tf.layers.reLU().apply(h) as tf.SymbolicTensor);
  const out = new FastDense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 100 + 4 }) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

function mnistImages(split: 'train' | 'test', count: number): ClassificationSet {
  const digits = loadMnist(split, count);
  return { images: digits.images, labels: digits.labels, count: digits.count, shape: [28, 28, 1] };
}

export function runDropout(config: DropoutConfig, log: (line: string) => void = () => undefined): DropoutResults {
  const started = performance.now();
  const train = mnistImages('train', config.trainSize);
  const test = mnistImages('test', config.testSize);
  const totalSteps = Math.min(Math.ceil(train.count / config.batchSize) * config.epochs, config.maxSteps ?? Infinity);
  const tau = Math.max(1, Math.round(config.tauFraction * totalSteps));
  const settings: Array<{ mode: DropoutMode; rate: number }> = [
    { mode: 'none', rate: 0 },
    ...config.rates.flatMap((rate) => [
      { mode: 'static' as const, rate },
      { mode: 'gradual' as const, rate },
    ]),
  ];
  const runs: DropoutRun[] = [];
  for (const { mode, rate } of settings) {
    for (const seed of config.seeds) {
      const model = buildDropoutNet(config, mode, rate, seed);
      const controller = mode === 'gradual' ? new GradNetController(model, { tau, unit: 'step' }) : null;
      const result = trainClassifier(model, train, test, {
        epochs: config.epochs,
        batchSize: config.batchSize,
        learningRate: config.learningRate,
        seed,
        beforeStep: controller?.hook,
        maxSteps: config.maxSteps,
      });
      model.dispose();
      runs.push({ mode, rate, seed, result });
      log(`${mode} p=${rate} seed ${seed}: acc ${(100 * result.testAccuracy).toFixed(2)}% (${result.steps} steps, ${result.secondsPerStep.toFixed(3)} s/step)`);
    }
  }
  const summary = settings.map(({ mode, rate }) => {
    const selected = runs.filter((r) => r.mode === mode && r.rate === rate);
    const { mean, std, n } = meanStd(selected.map((r) => r.result.testAccuracy));
    const finalLoss = meanStd(selected.map((r) => r.result.trainLossPerEpoch[r.result.trainLossPerEpoch.length - 1] ?? NaN)).mean;
    return { mode, rate, meanAccuracy: mean, stdAccuracy: std, n, diverged: selected.length - n, meanFinalTrainLoss: finalLoss };
  });
  return { experiment: 'dropout', config, runs, summary, totalSeconds: (performance.now() - started) / 1000 };
}

export function dropoutTable(results: DropoutResults): { header: string[]; rows: string[][] } {
  const header = ['p', 'static dropout acc %', 'gradual dropout acc %', 'static last-epoch train loss', 'gradual last-epoch train loss'];
  const pick = (mode: DropoutMode, rate: number) => results.runs.filter((r) => r.mode === mode && r.rate === rate);
  const loss = (mode: DropoutMode, rate: number): string => results.summary.find((s) => s.mode === mode && s.rate === rate)?.meanFinalTrainLoss.toFixed(3) ?? '–';
  const rows = [
    ['0 (no dropout)', formatAccuracy(pick('none', 0).map((r) => r.result.testAccuracy)), '–', loss('none', 0), '–'],
    ...results.config.rates.map((rate) => [
      String(rate),
      formatAccuracy(pick('static', rate).map((r) => r.result.testAccuracy)),
      formatAccuracy(pick('gradual', rate).map((r) => r.result.testAccuracy)),
      loss('static', rate),
      loss('gradual', rate),
    ]),
  ];
  return { header, rows };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  await setBackend('wasm');
  let config = flags.quick ? DROPOUT_QUICK : DROPOUT_FULL;
  if (flags.seeds !== null) config = { ...config, seeds: Array.from({ length: flags.seeds }, (_, i) => i) };
  if (flags.probe) {
    const probe = runDropout({ ...config, rates: [0.5], seeds: [0], maxSteps: 5 });
    for (const run of probe.runs) console.log(`${run.mode}: ${run.result.secondsPerStep.toFixed(3)} s/step`);
    return;
  }
  const results = runDropout(config, (line) => console.log(line));
  const { header, rows } = dropoutTable(results);
  printTable(header, rows);
  const name = flags.quick ? 'dropout-quick' : 'dropout';
  console.log(`wrote ${writeResults(name, results)} (${results.totalSeconds.toFixed(0)} s)`);
}

if (isMain(import.meta.url)) await main();
