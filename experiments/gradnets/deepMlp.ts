/**
 * GradNets paper, "GReLU Depth Experiments" (MNIST): deep MLPs with 512 units
 * per hidden layer, Adam, orthogonal initialisation; plain ReLU vs gradual ReLU
 * (identity → ReLU, τ in steps) vs leaky ReLU (0.01) vs very leaky ReLU (0.3).
 *
 *   npx tsx experiments/gradnets/deepMlp.ts [--quick] [--seeds N] [--probe]
 *     [--only depths] [--gain G] [--epochs N] [--activations relu,grelu,leaky,veryLeaky] [--lr LR]
 *     [--tau F] [--init orthogonal|heNormal] [--units N] [--backend B]
 * Resumable: results are written after every run, and a restarted command
 * with the same flags skips the runs already in its file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../../src/backend.js';
import { loadMnist } from '../../src/data/mnist.js';
import { GradNetController, GradualReLU } from '../../src/gradnets/index.js';
import {
  RESULTS_DIR,
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
  type TrainClassifierResult,
} from './common.js';
import { FastDense, orthogonalizeKernels } from './fastDense.js';

export type MlpActivation = 'relu' | 'grelu' | 'leaky' | 'veryLeaky';
export const MLP_ACTIVATIONS: readonly MlpActivation[] = ['relu', 'grelu', 'leaky', 'veryLeaky'];

export interface DeepMlpConfig {
  depths: number[];
  activations: MlpActivation[];
  seeds: number[];
  /** Fewer (or more) seeds for some depths, e.g. {30: [0, 1]} (deep runs cost more). */
  seedsForDepth?: Record<string, number[]>;
  units: number;
  trainSize: number;
  testSize: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** τ of the GReLU ramp as a fraction of the total steps (unit 'step'). */
  tauFraction: number;
  /** 'orthogonal' (the paper's) or 'heNormal'. */
  initializer: 'orthogonal' | 'heNormal';
  /** Gain of the orthogonal hidden kernels (1: norm-preserving for a linear net; √2 compensates ReLU's halving). */
  gain: number;
  /** Stop every run after this many steps (probes and tests). */
  maxSteps?: number;
}

export const DEEP_MLP_FULL: DeepMlpConfig = {
  depths: [10, 30],
  activations: [...MLP_ACTIVATIONS],
  seeds: [0, 1, 2],
  seedsForDepth: { '30': [0, 1] },
  units: 512,
  trainSize: 6000,
  testSize: 2000,
  epochs: 2,
  batchSize: 128,
  learningRate: 1e-3,
  tauFraction: 0.5,
  initializer: 'orthogonal',
  gain: 1,
};

export const DEEP_MLP_QUICK: DeepMlpConfig = {
  ...DEEP_MLP_FULL,
  depths: [3],
  seeds: [0, 1],
  seedsForDepth: {},
  units: 32,
  trainSize: 256,
  testSize: 128,
  epochs: 1,
  batchSize: 64,
};

export interface DeepMlpRun {
  depth: number;
  activation: MlpActivation;
  seed: number;
  result: TrainClassifierResult;
  /** Seconds to build and initialise the model. */
  buildSeconds: number;
}

export interface DeepMlpResults {
  experiment: 'deepMlp';
  config: DeepMlpConfig;
  runs: DeepMlpRun[];
  summary: Array<{ depth: number; activation: MlpActivation; meanAccuracy: number; stdAccuracy: number; n: number; diverged: number }>;
  totalSeconds: number;
}

function activationLayer(kind: MlpActivation): tf.layers.Layer {
  switch (kind) {
    case 'relu':
      return tf.layers.reLU();
    case 'grelu':
      return new GradualReLU();
    case 'leaky':
      return tf.layers.leakyReLU({ alpha: 0.01 });
    case 'veryLeaky':
      return tf.layers.leakyReLU({ alpha: 0.3 });
  }
}

/** 784 → depth × (dense units → activation) → dense 10 (logits). */
export function buildMlp(
  depth: number,
  units: number,
  activation: MlpActivation,
  seed: number,
  initializer: DeepMlpConfig['initializer'],
  gain = 1,
): tf.LayersModel {
  const input = tf.input({ shape: [784] });
  let h: tf.SymbolicTensor = input;
  for (let i = 0; i < depth; i++) {
    // Orthogonal kernels are written after the model is built (see below).
    const kernelInitializer = initializer === 'orthogonal' ? tf.initializers.zeros() : tf.initializers.heNormal({ seed: seed * 1000 + i });
    h = new FastDense({ units, kernelInitializer }).apply(h) as tf.SymbolicTensor;
    h = activationLayer(activation).apply(h) as tf.SymbolicTensor;
  }
  const out = new FastDense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + 999 }) }).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  if (initializer === 'orthogonal') orthogonalizeKernels(model, seed, units, gain);
  return model;
}

function mnistSet(split: 'train' | 'test', count: number): ClassificationSet {
  const digits = loadMnist(split, count);
  return { images: digits.images, labels: digits.labels, count: digits.count, shape: [784] };
}

export interface RunDeepMlpOptions {
  /** Runs already done by a previous (killed) invocation with the same config: skipped. */
  previous?: DeepMlpRun[];
  /** Called after every new run with all runs so far and the previous runs not reached yet (write a checkpoint). */
  onRun?: (runs: DeepMlpRun[]) => void;
}

export function runDeepMlp(config: DeepMlpConfig, log: (line: string) => void = () => undefined, options: RunDeepMlpOptions = {}): DeepMlpResults {
  const started = performance.now();
  const train = mnistSet('train', config.trainSize);
  const test = mnistSet('test', config.testSize);
  const totalSteps = Math.ceil(train.count / config.batchSize) * config.epochs;
  const tau = Math.max(1, Math.round(config.tauFraction * Math.min(totalSteps, config.maxSteps ?? totalSteps)));
  const runs: DeepMlpRun[] = [];
  for (const depth of config.depths) {
    for (const activation of config.activations) {
      for (const seed of config.seedsForDepth?.[String(depth)] ?? config.seeds) {
        const previous = options.previous?.find((r) => r.depth === depth && r.activation === activation && r.seed === seed);
        if (previous !== undefined) {
          runs.push(previous);
          continue;
        }
        const built = performance.now();
        const model = buildMlp(depth, config.units, activation, seed, config.initializer, config.gain);
        const buildSeconds = (performance.now() - built) / 1000;
        const controller = activation === 'grelu' ? new GradNetController(model, { tau, unit: 'step' }) : null;
        const result = trainClassifier(model, train, test, {
          epochs: config.epochs,
          batchSize: config.batchSize,
          learningRate: config.learningRate,
          seed,
          beforeStep: controller?.hook,
          maxSteps: config.maxSteps,
        });
        model.dispose();
        runs.push({ depth, activation, seed, result, buildSeconds });
        log(
          `depth ${depth} ${activation} seed ${seed}: acc ${(100 * result.testAccuracy).toFixed(2)}% ` +
            `(${result.steps} steps, ${result.secondsPerStep.toFixed(3)} s/step, build ${buildSeconds.toFixed(1)} s, ` +
            `train loss per epoch ${result.trainLossPerEpoch.map((l) => l.toFixed(3)).join(' ')})`,
        );
        // The checkpoint keeps the previous runs the loop has not reached yet: a crash loses none of them.
        options.onRun?.([...runs, ...(options.previous ?? []).filter((r) => !runs.includes(r))]);
      }
    }
  }
  return summariseDeepMlp(config, runs, (performance.now() - started) / 1000);
}

export function summariseDeepMlp(config: DeepMlpConfig, runs: DeepMlpRun[], totalSeconds: number): DeepMlpResults {
  const summary = config.depths.flatMap((depth) =>
    config.activations.map((activation) => {
      const accs = runs.filter((r) => r.depth === depth && r.activation === activation).map((r) => r.result.testAccuracy);
      const { mean, std, n } = meanStd(accs);
      return { depth, activation, meanAccuracy: mean, stdAccuracy: std, n, diverged: accs.length - n };
    }),
  );
  return { experiment: 'deepMlp', config, runs, summary, totalSeconds };
}

export function deepMlpTable(results: DeepMlpResults): { header: string[]; rows: string[][] } {
  const header = ['depth', ...results.config.activations.map((a) => `${a} acc % (mean ± std)`)];
  const rows = results.config.depths.map((depth) => [
    String(depth),
    ...results.config.activations.map((activation) =>
      formatAccuracy(results.runs.filter((r) => r.depth === depth && r.activation === activation).map((r) => r.result.testAccuracy)),
    ),
  ]);
  return { header, rows };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  await setBackend(flags.backend ?? 'wasm');
  let config = flags.quick ? DEEP_MLP_QUICK : DEEP_MLP_FULL;
  if (flags.tau !== null) config = { ...config, tauFraction: flags.tau };
  if (flags.init !== null) config = { ...config, initializer: flags.init as DeepMlpConfig['initializer'] };
  if (flags.units !== null) config = { ...config, units: flags.units };
  if (flags.seeds !== null) config = { ...config, seeds: Array.from({ length: flags.seeds }, (_, i) => i), seedsForDepth: {} };
  if (flags.only !== null) config = { ...config, depths: flags.only.map(Number) };
  if (flags.gain !== null) config = { ...config, gain: flags.gain, activations: ['relu'] };
  if (flags.epochs !== null) config = { ...config, epochs: flags.epochs };
  if (flags.learningRate !== null) config = { ...config, learningRate: flags.learningRate };
  if (flags.activations !== null) {
    const unknown = flags.activations.filter((a) => !(MLP_ACTIVATIONS as readonly string[]).includes(a));
    if (unknown.length > 0) throw new Error(`--activations: unknown ${unknown.join(', ')} (known: ${MLP_ACTIVATIONS.join(', ')})`);
    config = { ...config, activations: flags.activations as MlpActivation[] };
  }
  if (flags.probe) {
    // One short run per depth to time a step before committing to a size.
    for (const depth of config.depths) {
      const probe = runDeepMlp({ ...config, depths: [depth], activations: ['grelu'], seeds: [0], maxSteps: 5 });
      const run = probe.runs[0];
      if (run !== undefined) {
        console.log(`depth ${depth}: ${run.result.secondsPerStep.toFixed(3)} s/step, build ${run.buildSeconds.toFixed(1)} s, total ${probe.totalSeconds.toFixed(1)} s incl. eval`);
      }
    }
    return;
  }
  const depthSuffix = flags.only !== null && flags.gain === null ? `-depth${flags.only.join('-')}` : '';
  const epochsSuffix = `${flags.epochs !== null ? `-epochs${flags.epochs}` : ''}${flags.learningRate !== null ? `-lr${flags.learningRate}` : ''}`;
  const extraSuffix = `${flags.tau !== null ? `-tau${flags.tau}` : ''}${flags.init !== null ? `-${flags.init}` : ''}${flags.units !== null ? `-units${flags.units}` : ''}`;
  const name = `deepMlp${flags.quick ? '-quick' : ''}${flags.gain !== null ? `-gain${flags.gain}` : ''}${depthSuffix}${epochsSuffix}${extraSuffix}`;
  // Resumable: a restarted command with the same config skips the runs already in the file.
  const path = join(RESULTS_DIR, `${name}.json`);
  // Seeds may grow between invocations (--seeds 1, later --seeds 2); everything else must match.
  const saved = readResultsFile<Partial<DeepMlpResults>>(path);
  const clash = resultsConfigClash(saved, config, ['seeds', 'seedsForDepth']);
  if (clash !== null) throw new Error(`deepMlp: ${path} holds runs of another config (${clash}); it is left as it is: change the flags or move the file`);
  const previous: DeepMlpRun[] = saved?.runs ?? [];
  if (previous.length > 0) console.log(`resuming: ${previous.length} runs already in ${path}`);
  const started = performance.now();
  const results = runDeepMlp(config, (line) => console.log(line), {
    previous,
    onRun: (runs) => writeResults(name, summariseDeepMlp(config, runs, (performance.now() - started) / 1000)),
  });
  const { header, rows } = deepMlpTable(results);
  printTable(header, rows);
  console.log(`wrote ${writeResults(name, results)} (${results.totalSeconds.toFixed(0)} s)`);
}

if (isMain(import.meta.url)) await main();
