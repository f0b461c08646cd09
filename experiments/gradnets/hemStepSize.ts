/**
 * Annealed HEM step size η (GradNets schedule on Eq. 13's η) vs fixed η on
 * the built-in MNIST scenes: the default compact `buildSegmentationModel({head:
 * 'hem'})`, `trainSegmentation` (SGD momentum, poly lr, the EMANet recipe),
 * mIoU on the val split with `evaluateSegmentation`.
 *
 * Variants: fixed η ∈ {0.2, 0.5, 0.8}; annealed 0.8 → 0.2 and 0.2 → 0.8 with
 * η(t) = (1 − g)·η_start + g·η_end, g = min(step/τ, 1), τ = tauFraction × steps.
 *
 *   npx tsx experiments/gradnets/hemStepSize.ts [--quick] [--seeds N] [--probe]
 */
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../../src/backend.js';
import { loadMnistScenes } from '../../src/data/mnistScenes.js';
import { HemStepSizeController } from '../../src/gradnets/hemStepSize.js';
import { buildSegmentationModel } from '../../src/models/zoo.js';
import { evaluateSegmentation } from '../../src/train/evaluate.js';
import { DEFAULT_TRAIN_OPTIONS, trainSegmentation } from '../../src/train/loop.js';
import { isMain, meanStd, parseFlags, printTable, writeResults } from './common.js';

export interface HemVariant {
  name: string;
  /** η at the start (and throughout, when `stepSizeEnd` equals it). */
  stepSizeStart: number;
  stepSizeEnd: number;
}

export interface HemExperimentConfig {
  variants: HemVariant[];
  seeds: number[];
  steps: number;
  batchSize: number;
  learningRate: number;
  trainSize: number;
  valSize: number;
  canvasSize: number;
  tauFraction: number;
  /** Scene dataset seed (fixed across model seeds). */
  dataSeed: number;
  /** Model overrides for tiny runs (empty: the default compact model). */
  model: { width?: number; channels?: number; midChannels?: number; numBases?: number };
}

export const HEM_VARIANTS: HemVariant[] = [
  { name: 'fixed η=0.2', stepSizeStart: 0.2, stepSizeEnd: 0.2 },
  { name: 'fixed η=0.5', stepSizeStart: 0.5, stepSizeEnd: 0.5 },
  { name: 'fixed η=0.8', stepSizeStart: 0.8, stepSizeEnd: 0.8 },
  { name: 'annealed η 0.8→0.2', stepSizeStart: 0.8, stepSizeEnd: 0.2 },
  { name: 'annealed η 0.2→0.8', stepSizeStart: 0.2, stepSizeEnd: 0.8 },
];

export const HEM_FULL: HemExperimentConfig = {
  variants: HEM_VARIANTS,
  seeds: [0, 1],
  steps: 250,
  batchSize: 8,
  learningRate: DEFAULT_TRAIN_OPTIONS.learningRate,
  trainSize: 4000,
  valSize: 300,
  canvasSize: 64,
  tauFraction: 0.5,
  dataSeed: 0,
  model: {},
};

export const HEM_QUICK: HemExperimentConfig = {
  ...HEM_FULL,
  variants: [HEM_VARIANTS[0] as HemVariant, HEM_VARIANTS[3] as HemVariant],
  seeds: [0],
  steps: 2,
  batchSize: 2,
  trainSize: 8,
  valSize: 4,
  canvasSize: 48,
  model: { width: 4, channels: 8, midChannels: 8, numBases: 4 },
};

export interface HemRun {
  variant: string;
  seed: number;
  meanIoU: number;
  pixelAccuracy: number;
  /** Mean training loss over the last 10% of steps. */
  finalLoss: number;
  /** η the head used at evaluation. */
  evalStepSize: number;
  trainSeconds: number;
  secondsPerStep: number;
}

export interface HemResults {
  experiment: 'hemStepSize';
  config: HemExperimentConfig;
  runs: HemRun[];
  summary: Array<{ variant: string; meanIoU: number; stdIoU: number; n: number }>;
  totalSeconds: number;
}

export async function runHemStepSize(config: HemExperimentConfig, log: (line: string) => void = () => undefined): Promise<HemResults> {
  const started = performance.now();
  const train = loadMnistScenes({ split: 'train', size: config.trainSize, canvasSize: config.canvasSize, seed: config.dataSeed });
  const val = loadMnistScenes({ split: 'val', size: config.valSize, canvasSize: config.canvasSize, seed: config.dataSeed });
  const tau = Math.max(1, Math.round(config.tauFraction * config.steps));
  const runs: HemRun[] = [];
  for (const variant of config.variants) {
    for (const seed of config.seeds) {
      const { numBases, ...sizes } = config.model;
      const { model } = buildSegmentationModel({
        head: 'hem',
        inputSize: [config.canvasSize, config.canvasSize],
        seed,
        ...sizes,
        hem: { stepSize: variant.stepSizeStart, ...(numBases !== undefined ? { numBases } : {}) },
      });
      const annealed = variant.stepSizeStart !== variant.stepSizeEnd;
      const controller = annealed
        ? new HemStepSizeController(model, { stepSizeStart: variant.stepSizeStart, stepSizeEnd: variant.stepSizeEnd, schedule: { tau, unit: 'step' } })
        : null;
      const trainStart = performance.now();
      const result = await trainSegmentation({
        model,
        dataset: train,
        options: { ...DEFAULT_TRAIN_OPTIONS, steps: config.steps, batchSize: config.batchSize, learningRate: config.learningRate, seed, checkpointEvery: 0 },
        ...(controller !== null ? { beforeStep: controller.hook } : {}),
      });
      const trainSeconds = (performance.now() - trainStart) / 1000;
      result.optimizer.dispose();
      const evalStepSize = controller?.heads[0]?.stepSize ?? variant.stepSizeStart;
      const evaluation = await evaluateSegmentation(model, val, { batchSize: 8, sizeMultiple: 8 });
      const tail = result.losses.slice(-Math.max(1, Math.round(result.losses.length / 10)));
      model.dispose();
      const run: HemRun = {
        variant: variant.name,
        seed,
        meanIoU: evaluation.metrics.meanIoU,
        pixelAccuracy: evaluation.metrics.pixelAccuracy,
        finalLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
        evalStepSize,
        trainSeconds,
        secondsPerStep: trainSeconds / config.steps,
      };
      runs.push(run);
      log(
        `${variant.name} seed ${seed}: mIoU ${(100 * run.meanIoU).toFixed(2)} pixel acc ${(100 * run.pixelAccuracy).toFixed(2)} ` +
          `loss ${run.finalLoss.toFixed(3)} (${run.secondsPerStep.toFixed(3)} s/step, tensors ${tf.memory().numTensors})`,
      );
    }
  }
  const summary = config.variants.map((variant) => {
    const { mean, std, n } = meanStd(runs.filter((r) => r.variant === variant.name).map((r) => r.meanIoU));
    return { variant: variant.name, meanIoU: mean, stdIoU: std, n };
  });
  return { experiment: 'hemStepSize', config, runs, summary, totalSeconds: (performance.now() - started) / 1000 };
}

export function hemTable(results: HemResults): { header: string[]; rows: string[][] } {
  const header = ['η', 'val mIoU % (mean ± std)', 'per seed', 'pixel acc %', 'final train loss'];
  const rows = results.config.variants.map((variant) => {
    const selected = results.runs.filter((r) => r.variant === variant.name);
    const iou = meanStd(selected.map((r) => r.meanIoU));
    return [
      variant.name,
      `${(100 * iou.mean).toFixed(2)} ± ${(100 * iou.std).toFixed(2)}`,
      selected.map((r) => (100 * r.meanIoU).toFixed(1)).join(', '),
      (100 * meanStd(selected.map((r) => r.pixelAccuracy)).mean).toFixed(2),
      meanStd(selected.map((r) => r.finalLoss)).mean.toFixed(3),
    ];
  });
  return { header, rows };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  await setBackend('wasm');
  let config = flags.quick ? HEM_QUICK : HEM_FULL;
  if (flags.seeds !== null) config = { ...config, seeds: Array.from({ length: flags.seeds }, (_, i) => i) };
  if (flags.probe) {
    const probe = await runHemStepSize({ ...config, variants: [HEM_VARIANTS[3] as HemVariant], seeds: [0], steps: 5, valSize: 16 });
    for (const run of probe.runs) console.log(`${run.variant}: ${run.secondsPerStep.toFixed(3)} s/step (total ${probe.totalSeconds.toFixed(1)} s)`);
    return;
  }
  const results = await runHemStepSize(config, (line) => console.log(line));
  const { header, rows } = hemTable(results);
  printTable(header, rows);
  const name = flags.quick ? 'hemStepSize-quick' : 'hemStepSize';
  console.log(`wrote ${writeResults(name, results)} (${results.totalSeconds.toFixed(0)} s)`);
}

if (isMain(import.meta.url)) await main();
