/**
 * Shared pieces of the GradNets experiments (Node only: reads argv, writes
 * JSON under experiments/results/, prints tables).
 *
 * Training is a hand-written loop (not `model.fit`) so that the sample order
 * is a pure function of the seed (tfjs' fit shuffles with Math.random) and so
 * that GradNet controllers are driven through their `hook(step, epoch)`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { parseBackendName, type BackendName } from '../../src/backend.js';
import { createRng, hashSeed } from '../../src/data/random.js';
import { ScheduledAdam } from '../../src/train/optimizer.js';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** A classification set: images [count, ...shape] in [0, 1] and labels 0..9. */
export interface ClassificationSet {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  /** Per-sample shape, e.g. [784] or [60, 60, 1]. */
  shape: number[];
}

export interface TrainClassifierOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Called before each optimiser step (e.g. a GradNetController's hook). */
  beforeStep?: (step: number, epoch: number) => void;
  /** Stop after this many steps in total (for timing probes and tiny tests). */
  maxSteps?: number;
  /** Evaluate on the test set after every epoch (costs a pass over it). */
  evalEveryEpoch?: boolean;
}

export interface TrainClassifierResult {
  /** Test accuracy after the last step, in [0, 1]. */
  testAccuracy: number;
  /** Test accuracy after each epoch (when `evalEveryEpoch`). */
  testAccuracyPerEpoch: number[];
  /** Mean training loss of each epoch (NaN once the loss stops being finite). */
  trainLossPerEpoch: number[];
  /** True when the loss became NaN/Infinity (training stops there). */
  diverged: boolean;
  steps: number;
  /** Wall-clock seconds of the training loop (evaluation excluded). */
  trainSeconds: number;
  /** Mean seconds per optimiser step. */
  secondsPerStep: number;
}

/** Takes [count, ...shape] rows `indices` of a set as a tensor. */
export function batchTensor(set: ClassificationSet, indices: number[]): { x: tf.Tensor; y: tf.Tensor2D } {
  const per = set.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  indices.forEach((index, i) => {
    data.set(set.images.subarray(index * per, (index + 1) * per), i * per);
    labels[i] = set.labels[index] as number;
  });
  const x = tf.tensor(data, [indices.length, ...set.shape]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat() as tf.Tensor2D);
  return { x, y };
}

/** A seeded permutation of 0..n−1 (Fisher–Yates on mulberry32). */
export function permutation(n: number, seed: number): number[] {
  const rng = createRng(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

/** Accuracy of `model` (logits output) on a set, in batches. */
export function accuracy(model: tf.LayersModel, set: ClassificationSet, batchSize = 500): number {
  let correct = 0;
  for (let start = 0; start < set.count; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, set.count - start) }, (_, i) => start + i);
    const { x, y } = batchTensor(set, indices);
    const hits = tf.tidy(() => {
      const logits = model.predict(x) as tf.Tensor2D;
      return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32')).dataSync()[0] as number;
    });
    correct += hits;
    tf.dispose([x, y]);
  }
  return correct / set.count;
}

/** Adam on softmax cross-entropy (the paper's optimiser), seeded sample order. */
export function trainClassifier(
  model: tf.LayersModel,
  train: ClassificationSet,
  test: ClassificationSet,
  options: TrainClassifierOptions,
): TrainClassifierResult {
  // tfjs's Adam (β₁ 0.9, β₂ 0.999, ε 1e-7, tf.train.adam's defaults), as one fused kernel per variable on native and wasm.
  const optimizer = new ScheduledAdam(options.learningRate, 0.9, 0.999, 1e-7);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const stepsPerEpoch = Math.ceil(train.count / options.batchSize);
  const lossPerEpoch: number[] = [];
  const accPerEpoch: number[] = [];
  let diverged = false;
  let step = 0;
  let trainMs = 0;
  outer: for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = permutation(train.count, hashSeed(options.seed, epoch));
    let lossSum = 0;
    let batches = 0;
    for (let b = 0; b < stepsPerEpoch; b++) {
      if (options.maxSteps !== undefined && step >= options.maxSteps) break outer;
      const started = performance.now();
      options.beforeStep?.(step, epoch);
      const { x, y } = batchTensor(train, order.slice(b * options.batchSize, (b + 1) * options.batchSize));
      const lossTensor = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor2D) as tf.Scalar,
        true,
        variables,
      );
      const loss = lossTensor === null ? NaN : (lossTensor.dataSync()[0] as number);
      tf.dispose([x, y]);
      lossTensor?.dispose();
      trainMs += performance.now() - started;
      step++;
      if (!Number.isFinite(loss)) {
        diverged = true;
        lossPerEpoch.push(NaN);
        break outer;
      }
      lossSum += loss;
      batches++;
    }
    lossPerEpoch.push(batches > 0 ? lossSum / batches : NaN);
    if (options.evalEveryEpoch === true && epoch < options.epochs - 1) accPerEpoch.push(accuracy(model, test));
  }
  optimizer.dispose();
  const testAccuracy = diverged ? NaN : accuracy(model, test);
  if (options.evalEveryEpoch === true) accPerEpoch.push(testAccuracy);
  return {
    testAccuracy,
    testAccuracyPerEpoch: accPerEpoch,
    trainLossPerEpoch: lossPerEpoch,
    diverged,
    steps: step,
    trainSeconds: trainMs / 1000,
    secondsPerStep: step > 0 ? trainMs / 1000 / step : NaN,
  };
}

/** Mean and (sample, n − 1) standard deviation of the finite values; `n` counts them. */
export function meanStd(values: number[]): { mean: number; std: number; n: number } {
  const finite = values.filter((v) => Number.isFinite(v));
  const n = finite.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = finite.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? finite.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), n };
}

/** "97.12 ± 0.31" (percent) from accuracies in [0, 1]; notes diverged runs. */
export function formatAccuracy(values: number[]): string {
  const { mean, std, n } = meanStd(values);
  const failed = values.length - n;
  const base = n === 0 ? 'diverged' : `${(100 * mean).toFixed(2)} ± ${(100 * std).toFixed(2)}`;
  return failed > 0 && n > 0 ? `${base} (${failed}/${values.length} diverged)` : base;
}

/** A results file as written by `writeResults` (its config and runs), or null when it does not exist. */
export function readResultsFile<T extends { config?: object; runs?: unknown[] }>(path: string): T | null {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

/**
 * Null when the results file `saved` (from `readResultsFile`) is absent,
 * holds no runs, or was written with `config` up to the `growing` fields
 * (seeds and the like, which a continuing run may extend); else the fields
 * that differ, so that a run never overwrites the results of another config.
 */
export function resultsConfigClash(saved: { config?: object; runs?: unknown[] } | null, config: object, growing: readonly string[]): string | null {
  if (saved === null || saved.config === undefined || (saved.runs ?? []).length === 0) return null;
  const savedConfig = saved.config as Record<string, unknown>;
  const ours = config as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(savedConfig), ...Object.keys(ours)])].filter((k) => !growing.includes(k));
  const differ = keys.filter((k) => JSON.stringify(savedConfig[k]) !== JSON.stringify(ours[k]));
  return differ.length === 0 ? null : differ.map((k) => `${k}: ${JSON.stringify(savedConfig[k])} in the file, ${JSON.stringify(ours[k])} now`).join('; ');
}

/** Prints a markdown table. */
export function printTable(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
  const text = lines.join('\n');
  console.log(text);
  return text;
}

/** Writes `experiments/results/<name>.json`. */
export function writeResults(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

/** Command-line flags shared by the scripts: --quick, --seeds N, --probe, --only a,b, --gain G (deepMlp). */
export interface ExperimentFlags {
  quick: boolean;
  probe: boolean;
  /** convNet.ts: the larger net, data and budget (CONV_LARGE). */
  large: boolean;
  seeds: number | null;
  only: string[] | null;
  gain: number | null;
  /** Overrides the experiment's epochs (a longer budget). */
  epochs: number | null;
  /** deepMlp: only these activations. */
  activations: string[] | null;
  /** Overrides the experiment's learning rate. */
  learningRate: number | null;
  /** tfjs backend to run on (default: the experiment's, usually wasm); also read from HEMNET_BACKEND. */
  backend: BackendName | null;
  /** τ as a fraction of the run's steps (overrides the experiment's, or its sweep). */
  tau: number | null;
  /** convNet: only these variants. */
  variants: string[] | null;
  /** deepMlp: hidden-kernel initialiser ('orthogonal' or 'heNormal'). */
  init: string | null;
  /** deepMlp: hidden units per layer. */
  units: number | null;
  /** First seed (with --seeds N: seeds K..K+N−1), so that two processes can split the seeds of one sweep. */
  seedFrom: number | null;
}

const KNOWN_FLAGS =
  '--quick, --probe, --large, --seeds N, --only a,b, --gain G, --epochs N, --activations a,b, --lr LR, --backend B, --tau F, --variants a,b, --init I, --units N, --seed-from K';

export function parseFlags(argv: string[]): ExperimentFlags {
  const envBackend = process.env['HEMNET_BACKEND'];
  const flags: ExperimentFlags = {
    quick: false, probe: false, large: false, seeds: null, only: null, gain: null, epochs: null, activations: null, learningRate: null,
    backend: envBackend === undefined || envBackend === '' ? null : parseBackendName(envBackend, 'HEMNET_BACKEND'),
    tau: null, variants: null, init: null, units: null, seedFrom: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') flags.quick = true;
    else if (arg === '--probe') flags.probe = true;
    else if (arg === '--large') flags.large = true;
    else if (arg === '--seeds') flags.seeds = Number(argv[++i]);
    else if (arg === '--only') flags.only = String(argv[++i]).split(',');
    else if (arg === '--gain') flags.gain = Number(argv[++i]);
    else if (arg === '--epochs') flags.epochs = Number(argv[++i]);
    else if (arg === '--activations') flags.activations = String(argv[++i]).split(',');
    else if (arg === '--lr') flags.learningRate = Number(argv[++i]);
    else if (arg === '--backend') flags.backend = parseBackendName(String(argv[++i]), '--backend');
    else if (arg === '--tau') flags.tau = Number(argv[++i]);
    else if (arg === '--variants') flags.variants = String(argv[++i]).split(',');
    else if (arg === '--init') flags.init = String(argv[++i]);
    else if (arg === '--units') flags.units = Number(argv[++i]);
    else if (arg === '--seed-from') flags.seedFrom = Number(argv[++i]);
    else throw new Error(`unknown flag '${String(arg)}' (known: ${KNOWN_FLAGS})`);
  }
  if (flags.tau !== null && !(Number.isFinite(flags.tau) && flags.tau > 0)) {
    throw new Error(`--tau must be a positive number (a fraction of the run's steps), received ${String(flags.tau)}`);
  }
  if (flags.seedFrom !== null && !(Number.isInteger(flags.seedFrom) && flags.seedFrom >= 0)) {
    throw new Error(`--seed-from must be a non-negative integer, received ${String(flags.seedFrom)}`);
  }
  if (flags.units !== null && !(Number.isInteger(flags.units) && flags.units > 0)) {
    throw new Error(`--units must be a positive integer, received ${String(flags.units)}`);
  }
  if (flags.init !== null && flags.init !== 'orthogonal' && flags.init !== 'heNormal') {
    throw new Error(`--init must be 'orthogonal' or 'heNormal', received '${flags.init}'`);
  }
  if (flags.learningRate !== null && !(Number.isFinite(flags.learningRate) && flags.learningRate > 0)) {
    throw new Error(`--lr must be a positive number, received ${String(flags.learningRate)}`);
  }
  if (flags.epochs !== null && !(Number.isInteger(flags.epochs) && flags.epochs > 0)) {
    throw new Error(`--epochs must be a positive integer, received ${String(flags.epochs)}`);
  }
  if (flags.seeds !== null && !(Number.isInteger(flags.seeds) && flags.seeds > 0)) {
    throw new Error(`--seeds must be a positive integer, received ${String(flags.seeds)}`);
  }
  return flags;
}

/** True when this module is the script node was started with. */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && fileURLToPath(metaUrl) === entry;
}
