/**
 * The training loop: one readable function that emits events. SGD with
 * momentum, poly learning-rate decay, weight decay on conv kernels only,
 * cross-entropy with an ignore label (the EMANet recipe, docs/design.md "Training recipe").
 * Platform-neutral: checkpoints go through a callback the caller supplies.
 */
import * as tf from '@tensorflow/tfjs';
import { batchSamples, batchToTensors, type SegmentationBatch } from '../data/augment.js';
import { createRng, hashSeed } from '../data/random.js';
import type { SegmentationDataset, SegmentationSample } from '../data/types.js';
import { copyTensorInto } from '../kernels/wasmHeap.js';
import { sumOfSquares } from '../backends/native/sumOfSquares.js';
import { segmentationCrossEntropy } from './loss.js';
import type { HeadBasesUsage, TrainingMeasurement, ValidationMetrics } from './monitor.js';
import { polyLearningRate } from './schedule.js';
import { weightedGradientSum } from './shardAverage.js';
import { addDecayLoss, addWeightDecay, weightDecayLoss } from './weightDecay.js';
import { setDropoutStream } from '../layers/dropout.js';
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
  /**
   * Every `monitor.every` steps: bases usage of every HEM/EMA head, (optionally) ‖∂loss/∂backbone output‖
   * and (optionally) mIoU / pixel accuracy on a fixed validation subset (src/train/monitor.ts).
   * `validation` is absent in logs written before it existed.
   */
  | { type: 'monitor'; step: number; bases: HeadBasesUsage[]; backboneGradientNorm: number | null; validation?: ValidationMetrics | null }
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
   * Data-parallel gradient workers (Node: `createGradientWorkers` in
   * `parallel.ts`). Each step's batch is split into `workers.count + 1`
   * shards: this thread computes shard 0, each worker one more, and the
   * gradients are averaged weighted by scored pixels, which equals the
   * full-batch gradient for models without batch norm. Batch norm uses each
   * shard's own statistics (as PyTorch's DataParallel without SyncBN); the
   * moving statistics are averaged over the shards. Default: none.
   */
  workers?: GradientWorkers;
  /** Measured after step s when s % every = 0 (and after step 1), emitted as a 'monitor' event (e.g. `measureTraining`). */
  monitor?: { every: number; measure: (step: number) => TrainingMeasurement };
  /**
   * Batches requested ahead of use from a dataset with `load` (a streaming
   * dataset), so that decoding overlaps the steps. Default 3; ignored for
   * datasets without `load`.
   */
  readAhead?: number;
}

/** What a data-parallel worker computes for one shard of a batch. */
export interface ShardResult {
  /** Loss of the shard (cross-entropy + weight decay). */
  loss: number;
  /** Scored (not ignored) pixels of the shard: the weight of its gradient. */
  scored: number;
  /** Gradients of `model.trainableWeights`, concatenated in that order (a pool may return views, valid until its next `compute`). */
  gradients: Float32Array;
  /** `model.nonTrainableWeights` after the shard's forward pass (BN moving statistics, μ⁽⁰⁾), concatenated. */
  state: Float32Array;
}

/** Settings of one sharded step that the workers need besides the weights. */
export interface ShardSettings {
  ignoreLabel: number;
  /** The training step: dropout masks derive from it (src/layers/dropout.ts). */
  step: number;
  /** η of every HemHead layer (in `model.layers` order), e.g. during annealing. */
  hemStepSizes: number[];
}

/** A pool of gradient workers holding replicas of one model (see `TrainSetup.workers`). */
export interface GradientWorkers {
  /** Workers besides the calling thread. */
  readonly count: number;
  /** Sends the model's current weights and one shard to each worker; resolves with their results in order. */
  compute(model: tf.LayersModel, shards: readonly SegmentationBatch[], settings: ShardSettings): Promise<ShardResult[]>;
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

/**
 * The training loss of one batch: cross-entropy of the main output (+ 0.4 ×
 * each auxiliary output) + weightDecay/2 · Σ‖kernel‖². Runs the model in
 * training mode (batch norm updates its moving statistics).
 */
export function batchLoss(
  model: tf.LayersModel,
  images: tf.Tensor4D,
  labels: tf.Tensor3D,
  ignoreLabel: number,
  weightDecay: number,
  decayed: readonly tf.Tensor[],
): tf.Scalar {
  const { main, auxiliary } = firstOutput(model.apply(images, { training: true }) as tf.Tensor | tf.Tensor[]);
  let loss: tf.Tensor = segmentationCrossEntropy(main, labels, ignoreLabel);
  for (const aux of auxiliary) loss = tf.add(loss, tf.mul(segmentationCrossEntropy(aux, labels, ignoreLabel), AUXILIARY_LOSS_WEIGHT));
  if (weightDecay > 0 && decayed.length > 0) {
    const squares = sumOfSquares(decayed); // one kernel on native
    loss = tf.add(loss, tf.mul(squares, weightDecay / 2));
  }
  return loss as tf.Scalar;
}

/** `decayed`'s tensor for each of `trainable` that gets weight decay, null for the others (the weights `addWeightDecay` takes). */
export function decayWeights(trainable: readonly tf.Tensor[], decayed: readonly tf.Tensor[]): (tf.Tensor | null)[] {
  const set = new Set(decayed);
  return trainable.map((v) => (set.has(v) ? v : null));
}

/**
 * One batch's loss and gradients as a step applies them: the data loss on
 * the tape (`batchLoss` without its decay term), then the weight decay
 * added outside it (weightDecay.ts: the same values, ≈ 40 fewer kernel
 * calls). `value` is the data loss (read it back with `loss()`, which adds
 * the decay term); the caller disposes `value` and the gradients.
 */
export function lossAndGradients(
  model: tf.LayersModel,
  images: tf.Tensor4D,
  labels: tf.Tensor3D,
  ignoreLabel: number,
  weightDecay: number,
  trainable: readonly tf.Variable[],
  weights: readonly (tf.Tensor | null)[],
): { value: tf.Scalar; loss(): number; gradients: { name: string; tensor: tf.Tensor }[] } {
  const { value, grads } = tf.variableGrads(() => batchLoss(model, images, labels, ignoreLabel, 0, []), [...trainable]);
  const decay = weightDecayLoss(weights, weightDecay);
  const present = trainable.map((v, i) => ({ v, i })).filter(({ v }) => grads[v.name] !== undefined);
  const summed = addWeightDecay(present.map(({ v }) => grads[v.name] as tf.Tensor), present.map(({ i }) => weights[i] ?? null), weightDecay);
  return {
    value,
    loss: () => addDecayLoss(value.dataSync()[0] as number, decay),
    gradients: present.map(({ v }, k) => ({ name: v.name, tensor: summed[k] as tf.Tensor })),
  };
}

/** Splits a batch into `parts` shards of nearly equal size (the first ones one larger), in order; fewer when the batch is smaller. */
export function splitBatch(batch: SegmentationBatch, parts: number): SegmentationBatch[] {
  const { batchSize, height, width, channels } = batch;
  const count = Math.max(1, Math.min(parts, batchSize));
  const imageSize = height * width * channels;
  const labelSize = height * width;
  const shards: SegmentationBatch[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const size = Math.floor(batchSize / count) + (i < batchSize % count ? 1 : 0);
    shards.push({
      ...batch,
      batchSize: size,
      images: batch.images.subarray(start * imageSize, (start + size) * imageSize),
      labels: batch.labels.subarray(start * labelSize, (start + size) * labelSize),
      ids: batch.ids.slice(start, start + size),
    });
    start += size;
  }
  return shards;
}

/** Pixels of a batch whose label is not `ignoreLabel`. */
export function scoredPixels(labels: Int32Array, ignoreLabel: number): number {
  let count = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== ignoreLabel) count++;
  return count;
}

/** Concatenates the data of tensors (in order) into `out` (or a new Float32Array), without intermediate copies on wasm. */
export function flattenTensors(tensors: readonly tf.Tensor[], out?: Float32Array): Float32Array {
  const size = tensors.reduce((n, t) => n + t.size, 0);
  const target = out ?? new Float32Array(size);
  if (target.length < size) throw new Error(`flattenTensors: ${size} values do not fit an output of ${target.length}`);
  let offset = 0;
  for (const t of tensors) offset += copyTensorInto(t, target, offset);
  return target;
}

/** η of every HemHead layer of a model, in layer order. */
export function hemStepSizes(model: tf.LayersModel): number[] {
  return model.layers.filter((l) => l.getClassName() === 'HemHead').map((l) => (l as unknown as { stepSize: number }).stepSize);
}

/** Buffers a data-parallel run reuses every step (no per-step allocation of weight-sized arrays). */
interface ShardScratch {
  state: Float32Array;
}

/**
 * One data-parallel step: shards 1.. go to the workers, shard 0 runs here;
 * then the gradients are averaged weighted by scored pixels, the moving
 * statistics averaged, and the optimizer applies the mean gradient.
 * `whileWaiting` runs after this thread's shard (e.g. to prepare the next batch).
 */
async function shardedStep(
  model: tf.LayersModel,
  workers: GradientWorkers,
  batch: SegmentationBatch,
  trainable: tf.Variable[],
  decayed: readonly (tf.Tensor | null)[],
  optimizer: TrainingOptimizer,
  ignoreLabel: number,
  weightDecay: number,
  whileWaiting: () => void,
  scratch: ShardScratch,
  step: number,
): Promise<number> {
  const shards = splitBatch(batch, workers.count + 1);
  const [own, ...rest] = shards as [SegmentationBatch, ...SegmentationBatch[]];
  const pending = rest.length > 0 ? workers.compute(model, rest, { ignoreLabel, step, hemStepSizes: hemStepSizes(model) }) : Promise.resolve([]);
  const { images, labels } = batchToTensors(own);
  // This thread computes shard 0 (worker i computes shard i).
  setDropoutStream(step, 0);
  // The shards' data losses only: the weight decay is added once, to the mean gradient, below.
  const { value, grads } = tf.variableGrads(() => batchLoss(model, images, labels, ignoreLabel, 0, []), trainable);
  const ownLoss = value.dataSync()[0] as number;
  const ownScored = scoredPixels(own.labels, ignoreLabel);
  const ownState = flattenTensors(model.nonTrainableWeights.map((w) => w.read()), scratch.state);
  tf.dispose([images, labels, value]);
  let others: ShardResult[];
  try {
    whileWaiting();
    others = await pending;
  } catch (error) {
    tf.dispose(grads);
    throw error;
  }
  // Weighted by scored pixels, the mean of the shards' mean losses is the batch's mean loss.
  const scored = [ownScored, ...others.map((r) => r.scored)];
  const totalScored = scored.reduce((n, s) => n + s, 0);
  const weights = scored.map((s) => (totalScored > 0 ? s / totalScored : 1 / scored.length));
  const dataLoss = others.reduce((sum, r, i) => sum + (weights[i + 1] as number) * r.loss, (weights[0] as number) * ownLoss);
  // (Before the update: the decay term of the weights this step's gradients were taken at.)
  const loss = addDecayLoss(dataLoss, weightDecayLoss(decayed, weightDecay));
  // gradient = Σᵢ wᵢ gᵢ + λ·w, in one pass from this thread's gradient tensors and the workers' shared buffers, then one per decayed weight.
  const mean = addWeightDecay(
    weightedGradientSum(
      trainable.map((v) => grads[v.name] as tf.Tensor),
      others.map((r) => r.gradients),
      weights,
    ),
    decayed,
    weightDecay,
  );
  tf.dispose(grads);
  // The moving statistics: the mean of the shards' states, in this thread's buffer.
  const state = ownState;
  for (const r of others) for (let j = 0; j < state.length; j++) state[j] = (state[j] as number) + (r.state[j] as number);
  for (let j = 0; j < state.length; j++) state[j] = (state[j] as number) / scored.length;
  let offset = 0;
  for (const w of model.nonTrainableWeights) {
    const size = w.shape.reduce((p: number, d) => p * (d ?? 1), 1);
    // A copy: the cpu backend keeps the array it is given, and `state` is reused next step.
    const next = tf.tensor(state.slice(offset, offset + size), w.shape as number[], 'float32');
    w.write(next);
    next.dispose();
    offset += size;
  }
  const named = trainable.map((v, i) => ({ name: v.name, tensor: mean[i] as tf.Tensor }));
  optimizer.applyGradients(named);
  tf.dispose(named.map((n) => n.tensor));
  return loss;
}

/** Trains `model` on `dataset`; see `TrainSetup`. */
export async function trainSegmentation(setup: TrainSetup): Promise<TrainResult> {
  try {
    return await runTraining(setup);
  } finally {
    // Dropout layers used outside this loop count their own calls again.
    setDropoutStream(null);
  }
}

async function runTraining(setup: TrainSetup): Promise<TrainResult> {
  const { model, dataset, options } = setup;
  const emit = setup.onEvent ?? (() => undefined);
  const optimizer = setup.optimizer ?? createOptimizer(options.optimizer, options.learningRate, options.momentum);
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const decayed = decayWeights(trainable, decayedVariables(model).map((w) => w.read()));
  const losses: number[] = [];
  let step = setup.startStep ?? 0;
  const startTime = performance.now();
  emit({ type: 'start', step, totalSteps: options.steps, trainableParameters: model.countParams() });
  const workers = setup.workers;
  const prepareBatch = (at: number): SegmentationBatch => {
    const { indices, epochs } = batchIndices(at, options.batchSize, dataset.size, options.seed);
    return batchSamples(indices.map((index, i) => dataset.get(index, epochs[i])));
  };
  let next: SegmentationBatch | null = null;
  let scratch: ShardScratch | undefined;

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
    let batch: SegmentationBatch;
    // Time the step waited for a batch that was not decoded yet (0 when read-ahead kept up).
    let dataWaitMs = 0;
    if (readAhead > 0) {
      for (let s = step; s <= step + readAhead; s++) request(s);
      const entry = pending.get(step) as { promise: Promise<SegmentationSample[]>; ready: boolean };
      const waitStart = performance.now();
      const wasReady = entry.ready;
      const samples = await entry.promise;
      if (!wasReady) dataWaitMs = performance.now() - waitStart;
      pending.delete(step);
      batch = batchSamples(samples);
    } else {
      batch = next ?? prepareBatch(step);
      next = null;
    }
    const learningRate = polyLearningRate(options.learningRate, step, options.steps, options.lrPower);
    optimizer.setLearningRate(learningRate);
    let loss: number;
    // In-memory datasets: the next batch is prepared while this step's kernels (or workers) run.
    const prefetch = () => {
      if (readAhead === 0 && step + 1 < options.steps) next = prepareBatch(step + 1);
    };
    if (workers !== undefined && workers.count > 0) {
      scratch ??= {
        state: new Float32Array(model.nonTrainableWeights.reduce((n, w) => n + w.shape.reduce((p: number, d) => p * (d ?? 1), 1), 0)),
      };
      loss = await shardedStep(model, workers, batch, trainable, decayed, optimizer, dataset.ignoreLabel, options.weightDecay, prefetch, scratch, step);
    } else {
      const { images, labels } = batchToTensors(batch);
      setDropoutStream(step, 0);
      const { value, loss: readLoss, gradients } = lossAndGradients(model, images, labels, dataset.ignoreLabel, options.weightDecay, trainable, decayed);
      optimizer.applyGradients(gradients);
      tf.dispose(gradients.map((g) => g.tensor));
      // The kernels run synchronously; the next batch is prepared before the loss is read back.
      prefetch();
      loss = readLoss();
      tf.dispose([images, labels, value]);
    }
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
    const monitor = setup.monitor;
    if (monitor !== undefined && monitor.every > 0 && (step % monitor.every === 0 || step === 1)) {
      emit({ type: 'monitor', step, ...monitor.measure(step) });
    }
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
