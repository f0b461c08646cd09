/**
 * Evaluation on every core (Node only): `worker_threads`, each with its own
 * tfjs backend (wasm: its own XNNPACK instance) and a replica of the model,
 * evaluating whole batches while the calling thread evaluates one more
 * (`evaluateSegmentation`'s `workers`). A worker returns the predicted class
 * of every pixel; the caller counts them into its confusion matrix, so the
 * result equals a one-thread evaluation exactly. A pool that mirrors the
 * dataset (each worker builds its own copy from a `DatasetSource`) is sent
 * sample indices instead of images and returns confusion counts, so that
 * decoding or rendering the samples runs on the workers too; such a pool
 * also computes the bases usage of its batches (`datasetBasesUsage`).
 * Weights, and the head state that is not a weight (η, T_eval), are sent
 * once per evaluation (`load`), so one pool serves evaluations of a model
 * that trains in between.
 */
import * as tf from '@tensorflow/tfjs';
import { findHemHeads, type EvaluationSettings, type EvaluationWorkers } from './evaluate.js';
import type { SegmentationDataset } from '../data/types.js';
import type { BasesUsageSums, BasesUsageWorkers } from './monitor.js';
import { sameWeightShapes, startModuleWorker } from './parallel.js';
import type { DatasetSource } from './parallelData.js';
import { WorkerSlot } from './workerSlot.js';

/** Messages from an evaluation worker. */
type EvalWorkerReply =
  | { type: 'ready'; datasetSize: number | null }
  | { type: 'loaded' }
  | { type: 'done'; classes: Int32Array }
  | { type: 'counts'; matrix: number[][] }
  | { type: 'bases'; sums: BasesUsageSums[] }
  | { type: 'error'; message: string };

/** A dataset the workers rebuild for themselves (see `EvaluationWorkers.mirrors`). */
export interface MirroredDataset {
  /** The dataset on the calling thread. */
  dataset: SegmentationDataset;
  /** How a worker builds the same dataset (as the training data worker does: `workerBackedDataset`). */
  source: DatasetSource;
}

const OWNER = 'EvaluationWorkerPool';

/** A pool of `count` evaluation workers for one model's topology; `close()` ends them. */
export class EvaluationWorkerPool implements EvaluationWorkers, BasesUsageWorkers {
  readonly count: number;
  private readonly slots: WorkerSlot<EvalWorkerReply>[];
  private readonly shapes: number[][];
  private readonly mirrored: SegmentationDataset | null;
  private closed = false;

  private constructor(slots: WorkerSlot<EvalWorkerReply>[], shapes: number[][], mirrored: SegmentationDataset | null) {
    this.count = slots.length;
    this.slots = slots;
    this.shapes = shapes;
    this.mirrored = mirrored;
  }

  /**
   * Starts `count` workers holding replicas of `model` (its topology; the
   * weights come with `load`) on `backend` (the active one by default). The
   * model's classes must be registered with `tf.serialization` (every hemnet
   * layer is). With `mirror`, every worker builds its own copy of that
   * dataset (its size is checked) and loads the samples it evaluates.
   */
  static async create(model: tf.LayersModel, count: number, backend: string = tf.getBackend(), mirror: MirroredDataset | null = null): Promise<EvaluationWorkerPool> {
    if (!Number.isInteger(count) || count < 0) throw new Error(`${OWNER}.create: 'count' must be an integer ≥ 0, received ${String(count)}`);
    const topology = model.toJSON(null, false);
    const shapes = model.weights.map((w) => w.shape as number[]);
    const slots = Array.from({ length: count }, (_, i) => new WorkerSlot<EvalWorkerReply>(startModuleWorker('parallelEvalWorker', { topology, backend, shapes, source: mirror?.source ?? null }), OWNER, `evaluation worker ${i + 1}`),
    );
    const pool = new EvaluationWorkerPool(slots, shapes, mirror?.dataset ?? null);
    try {
      for (const reply of await Promise.all(slots.map((slot) => slot.request(null)))) {
        const size = reply.type === 'ready' ? reply.datasetSize : null;
        if (mirror !== null && size !== mirror.dataset.size) {
          throw new Error(`${OWNER}.create: a worker's dataset has ${String(size)} samples, this one ${mirror.dataset.size}; 'source' must build the same dataset`);
        }
      }
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  async load(model: tf.LayersModel): Promise<void> {
    if (this.closed) throw new Error(`${OWNER}.load: the pool is closed`);
    const weights = model.weights;
    if (!sameWeightShapes(weights, this.shapes)) {
      throw new Error(`${OWNER}.load: the model's weights differ from those of the model the pool was created for`);
    }
    const values = weights.map((w) => w.read().dataSync() as Float32Array);
    // Head state that is not a weight: η (an annealing schedule's) and T_eval (an override in force), per head.
    const heads = findHemHeads(model);
    const request = { type: 'load', weights: values, stepSizes: heads.map((h) => h.stepSize), evalIterations: heads.map((h) => h.evalIterations) };
    await Promise.all(this.slots.map((slot) => slot.request(request)));
  }

  async predict(slot: number, images: Float32Array, shape: [number, number, number, number], settings: EvaluationSettings): Promise<Int32Array> {
    if (this.closed) throw new Error(`${OWNER}.predict: the pool is closed`);
    const channel = this.slots[slot];
    if (channel === undefined) throw new Error(`${OWNER}.predict: 'slot' must be in [0, ${this.count}), received ${slot}`);
    const [b, h, w, c] = shape;
    if (images.length !== b * h * w * c) throw new Error(`${OWNER}.predict: 'images' has ${images.length} values, shape [${shape.join(', ')}] needs ${b * h * w * c}`);
    const reply = await channel.request({ type: 'predict', images, shape, settings });
    if (reply.type !== 'done') throw new Error(`${OWNER}: unexpected reply '${reply.type}'`);
    return reply.classes;
  }

  mirrors(dataset: SegmentationDataset): boolean {
    return this.mirrored !== null && dataset === this.mirrored;
  }

  /** The worker of `slot`, checked with `indices` of the mirrored dataset (for a request named `what`). */
  private mirroredSlot(what: string, slot: number, indices: readonly number[]): WorkerSlot<EvalWorkerReply> {
    if (this.closed) throw new Error(`${OWNER}.${what}: the pool is closed`);
    const channel = this.slots[slot];
    if (channel === undefined) throw new Error(`${OWNER}.${what}: 'slot' must be in [0, ${this.count}), received ${slot}`);
    const mirrored = this.mirrored;
    if (mirrored === null) throw new Error(`${OWNER}.${what}: the pool was created without a dataset to mirror`);
    const bad = indices.find((i) => !Number.isInteger(i) || i < 0 || i >= mirrored.size);
    if (indices.length === 0 || bad !== undefined) throw new Error(`${OWNER}.${what}: 'indices' must be sample indices in [0, ${mirrored.size}), received [${indices.join(', ')}]`);
    return channel;
  }

  async evaluate(slot: number, indices: readonly number[], settings: EvaluationSettings): Promise<number[][]> {
    const reply = await this.mirroredSlot('evaluate', slot, indices).request({ type: 'evaluate', indices, settings });
    if (reply.type !== 'counts') throw new Error(`${OWNER}: unexpected reply '${reply.type}'`);
    return reply.matrix;
  }

  async basesUsage(slot: number, indices: readonly number[], iterations: number | null): Promise<BasesUsageSums[]> {
    const reply = await this.mirroredSlot('basesUsage', slot, indices).request({ type: 'bases', indices, iterations });
    if (reply.type !== 'bases') throw new Error(`${OWNER}: unexpected reply '${reply.type}'`);
    return reply.sums;
  }

  /** Ends the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((slot) => slot.terminate()));
  }
}

/**
 * A pool for `threads` threads of evaluation in total (the caller's thread
 * is one of them): `threads − 1` worker threads, or null for 1.
 */
export async function createEvaluationWorkers(model: tf.LayersModel, threads: number, backend?: string, mirror: MirroredDataset | null = null): Promise<EvaluationWorkerPool | null> {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`createEvaluationWorkers: 'threads' must be a positive integer, received ${String(threads)}`);
  if (threads === 1) return null;
  return EvaluationWorkerPool.create(model, threads - 1, backend, mirror);
}
