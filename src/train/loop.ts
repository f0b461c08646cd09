/**
 * The training loop: one readable function that emits events. SGD with
 * momentum, poly learning-rate decay, weight decay on conv kernels only,
 * cross-entropy with an ignore label (the EMANet recipe, docs/design.md "Training recipe").
 * Platform-neutral: checkpoints go through a callback the caller supplies.
 */
import * as tf from '@tensorflow/tfjs';
import { batchSamples, batchToTensors } from '../data/augment.js';
import { createRng, hashSeed } from '../data/random.js';
import type { SegmentationDataset, SegmentationSample } from '../data/types.js';
import { segmentationCrossEntropy } from './loss.js';
import { polyLearningRate } from './schedule.js';
import { createOptimizer, type OptimizerName, type TrainingOptimizer } from './optimizer.js';

export interface TrainOptions {
  /** 'sgd' (momentum SGD, the paper's recipe) or 'adam'. */
  optimizer: OptimizerName;
  /** Total optimisation steps (the poly schedule reaches 0 here). */
  steps: number;
  batchSize: number;
  /** Base learning rate (EMANet: 9e-3). */
  learningRate: number;
  /** SGD momentum (0.9); unused by Adam. */
  momentum: number;
  /** L2 weight decay on kernels only (1e-4); gradient weightDecay·w. */
  weightDecay: number;
  /** Power of the poly decay (0.9). */
  lrPower: number;
  /** Seed of the sample order. */
  seed: number;
  /** Write a checkpoint every this many steps (0: only at the end). */
  checkpointEvery: number;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  optimizer: 'sgd',
  steps: 300,
  batchSize: 8,
  learningRate: 9e-3,
  momentum: 0.9,
  weightDecay: 1e-4,
  lrPower: 0.9,
  seed: 0,
  checkpointEvery: 100,
};

export type TrainEvent =
  | { type: 'start'; step: number; totalSteps: number; trainableParameters: number }
  | { type: 'step'; step: number; totalSteps: number; loss: number; learningRate: number; imagesPerSecond: number; elapsedMs: number; dataWaitMs: number }
  | { type: 'checkpoint'; step: number }
  | { type: 'stopped'; step: number; reason: string }
  | { type: 'done'; step: number; elapsedMs: number };

export interface TrainSetup {
  model: tf.LayersModel;
  /** Training samples (already augmented); every batch must share one size. */
  dataset: SegmentationDataset;
  options: TrainOptions;
  /** Resume: an optimizer restored from a checkpoint. Default: a new momentum optimizer. */
  optimizer?: TrainingOptimizer;
  /** Resume: the number of steps already done. Default 0. */
  startStep?: number;
  onEvent?: (event: TrainEvent) => void;
  /** Called after step s (s = steps done) when s % checkpointEvery = 0, at the end, and on stop. */
  saveCheckpoint?: (step: number, optimizer: TrainingOptimizer) => Promise<void>;
  /** Called before each step with the step index (e.g. to advance GradNet schedules). */
  beforeStep?: (step: number) => void;
  /**
   * Awaited after each step (s = steps done), before any checkpoint. In a
   * browser, `await new Promise(requestAnimationFrame)` here lets the page
   * repaint a progress bar; the loop itself never yields to the event loop.
   */
  afterStep?: (step: number) => void | Promise<void>;
  /** Stops after the current step (then a checkpoint is written). */
  signal?: AbortSignal;
  /**
   * Batches requested ahead of use from a dataset with `load` (a streaming
   * dataset), so that decoding overlaps the steps. Default 3; ignored for
   * datasets without `load`.
   */
  readAhead?: number;
}

/** Lets timers, I/O callbacks and signal handlers run (setImmediate in Node, a 0 ms timeout elsewhere). */
function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate !== undefined ? immediate(resolve) : setTimeout(resolve, 0)));
}

export interface TrainResult {
  /** Steps done in total (including those before a resume). */
  step: number;
  /** Loss of every step run in this call. */
  losses: number[];
  optimizer: TrainingOptimizer;
}

/** Sample indices of step `step`: a fresh seeded permutation every epoch, so a resume continues the same order. */
export function batchIndices(step: number, batchSize: number, datasetSize: number, seed: number): { indices: number[]; epochs: number[] } {
  const indices: number[] = [];
  const epochs: number[] = [];
  let cachedEpoch = -1;
  let permutation: number[] = [];
  for (let i = 0; i < batchSize; i++) {
    const position = step * batchSize + i;
    const epoch = Math.floor(position / datasetSize);
    if (epoch !== cachedEpoch) {
      const rng = createRng(hashSeed(seed, epoch));
      permutation = Array.from({ length: datasetSize }, (_, j) => j);
      for (let j = datasetSize - 1; j > 0; j--) {
        const swap = rng.int(0, j);
        [permutation[j], permutation[swap]] = [permutation[swap] as number, permutation[j] as number];
      }
      cachedEpoch = epoch;
    }
    indices.push(permutation[position % datasetSize] as number);
    epochs.push(epoch);
  }
  return { indices, epochs };
}

/** Variables that get weight decay: kernels of convs and dense layers (not biases, BN or bases). */
export function decayedVariables(model: tf.LayersModel): tf.LayerVariable[] {
  return model.trainableWeights.filter((w) => /kernel/.test(w.originalName));
}

function firstOutput(output: tf.Tensor | tf.Tensor[]): { main: tf.Tensor4D; auxiliary: tf.Tensor4D[] } {
  if (Array.isArray(output)) {
    const [main, ...auxiliary] = output as tf.Tensor4D[];
    if (main === undefined) throw new Error('trainSegmentation: the model returned no output');
    return { main, auxiliary };
  }
  return { main: output as tf.Tensor4D, auxiliary: [] };
}

/** Auxiliary heads' loss weight (PSPNet / mmseg default). */
export const AUXILIARY_LOSS_WEIGHT = 0.4;

/** Trains `model` on `dataset`; see `TrainSetup`. */
export async function trainSegmentation(setup: TrainSetup): Promise<TrainResult> {
  const { model, dataset, options } = setup;
  const emit = setup.onEvent ?? (() => undefined);
  const optimizer = setup.optimizer ?? createOptimizer(options.optimizer, options.learningRate, options.momentum);
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const decayed = decayedVariables(model).map((w) => w.read());
  const losses: number[] = [];
  let step = setup.startStep ?? 0;
  const startTime = performance.now();
  emit({ type: 'start', step, totalSteps: options.steps, trainableParameters: model.countParams() });

  const readAhead = dataset.load !== undefined ? (setup.readAhead ?? 3) : 0;
  if (!Number.isInteger(readAhead) || readAhead < 0) throw new Error(`trainSegmentation: 'readAhead' must be a non-negative integer, received ${String(setup.readAhead)}`);
  // Streaming datasets: batch s + readAhead is requested when step s starts, so
  // its files decode (sharp, libuv threads) while steps s … s + readAhead − 1 run.
  const pending = new Map<number, { promise: Promise<SegmentationSample[]>; ready: boolean }>();
  const request = (s: number): void => {
    if (readAhead === 0 || s >= options.steps || pending.has(s) || dataset.load === undefined) return;
    const { indices, epochs } = batchIndices(s, options.batchSize, dataset.size, options.seed);
    const entry = { promise: dataset.load(indices.map((index, i) => ({ index, epoch: epochs[i] as number }))), ready: false };
    // Errors surface when the batch is awaited; never an unhandled rejection.
    entry.promise.then(() => (entry.ready = true), () => (entry.ready = true));
    pending.set(s, entry);
  };
  const yieldEachStep = readAhead > 0 || setup.signal !== undefined;

  while (step < options.steps) {
    if (yieldEachStep) await yieldToEventLoop();
    if (setup.signal?.aborted === true) {
      emit({ type: 'stopped', step, reason: String(setup.signal.reason ?? 'aborted') });
      break;
    }
    setup.beforeStep?.(step);
    const stepStart = performance.now();
    let samples: SegmentationSample[];
    // Time the step waited for a batch that was not decoded yet (0 when read-ahead kept up).
    let dataWaitMs = 0;
    if (readAhead > 0) {
      for (let s = step; s <= step + readAhead; s++) request(s);
      const entry = pending.get(step) as { promise: Promise<SegmentationSample[]>; ready: boolean };
      const waitStart = performance.now();
      const wasReady = entry.ready;
      samples = await entry.promise;
      if (!wasReady) dataWaitMs = performance.now() - waitStart;
      pending.delete(step);
    } else {
      const { indices, epochs } = batchIndices(step, options.batchSize, dataset.size, options.seed);
      samples = indices.map((index, i) => dataset.get(index, epochs[i]));
    }
    const batch = batchSamples(samples);
    const learningRate = polyLearningRate(options.learningRate, step, options.steps, options.lrPower);
    optimizer.setLearningRate(learningRate);
    const { images, labels } = batchToTensors(batch);
    const lossTensor = optimizer.minimize(
      () => {
        const { main, auxiliary } = firstOutput(model.apply(images, { training: true }) as tf.Tensor | tf.Tensor[]);
        let loss: tf.Tensor = segmentationCrossEntropy(main, labels, dataset.ignoreLabel);
        for (const aux of auxiliary) loss = tf.add(loss, tf.mul(segmentationCrossEntropy(aux, labels, dataset.ignoreLabel), AUXILIARY_LOSS_WEIGHT));
        if (options.weightDecay > 0 && decayed.length > 0) {
          const squares = tf.addN(decayed.map((w) => tf.sum(tf.square(w))));
          loss = tf.add(loss, tf.mul(squares, options.weightDecay / 2));
        }
        return loss as tf.Scalar;
      },
      true,
      trainable,
    );
    const loss = lossTensor === null ? NaN : (lossTensor.dataSync()[0] as number);
    tf.dispose([images, labels]);
    lossTensor?.dispose();
    if (!Number.isFinite(loss)) {
      throw new Error(`trainSegmentation: the loss became ${loss} at step ${step + 1}; lower 'learningRate' (now ${options.learningRate})`);
    }
    losses.push(loss);
    step++;
    const elapsed = performance.now() - stepStart;
    emit({
      type: 'step',
      step,
      totalSteps: options.steps,
      loss,
      learningRate,
      imagesPerSecond: (options.batchSize * 1000) / elapsed,
      elapsedMs: performance.now() - startTime,
      dataWaitMs,
    });
    await setup.afterStep?.(step);
    const due = options.checkpointEvery > 0 && step % options.checkpointEvery === 0;
    if (setup.saveCheckpoint !== undefined && (due || step === options.steps)) {
      await setup.saveCheckpoint(step, optimizer);
      emit({ type: 'checkpoint', step });
    }
  }
  if (step < options.steps && setup.saveCheckpoint !== undefined) {
    await setup.saveCheckpoint(step, optimizer);
    emit({ type: 'checkpoint', step });
  }
  emit({ type: 'done', step, elapsedMs: performance.now() - startTime });
  return { step, losses, optimizer };
}
