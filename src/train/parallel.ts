/**
 * Data-parallel training on every core (Node only): `worker_threads`, each
 * with its own tfjs backend (wasm: its own XNNPACK instance) and a replica of
 * the model. Every step the calling thread writes all weights into one
 * SharedArrayBuffer, each worker copies them into its replica, computes the
 * gradient of its shard of the batch and writes it (and its batch-norm moving
 * statistics) into its own region of shared memory; `trainSegmentation`
 * averages them and applies the optimizer once, so the calling thread's
 * model and optimizer stay the only state (checkpoints and resume unchanged).
 *
 * Chosen over the threaded wasm build: that build does not initialise in Node
 * (tfjs-backend-wasm forces WASM_HAS_MULTITHREAD_SUPPORT off there).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { SegmentationBatch } from '../data/augment.js';
import { copyTensorInto } from '../kernels/wasmHeap.js';
import type { GradientWorkers, ShardResult, ShardSettings } from './loop.js';
import { WorkerSlot } from './workerSlot.js';

/** Cores of this machine: the default number of training workers. */
export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

/** Messages from a worker. */
type WorkerReply = { type: 'ready' } | { type: 'done'; loss: number; scored: number } | { type: 'error'; message: string };

/** True when `weights` have exactly `shapes` (a replica built from a topology against the model's own weights). */
export function sameWeightShapes(weights: readonly tf.LayerVariable[], shapes: readonly number[][]): boolean {
  return weights.length === shapes.length && weights.every((w, i) => w.shape.join(',') === (shapes[i] as number[]).join(','));
}

function sizeOf(shape: readonly (number | null)[]): number {
  return shape.reduce((p: number, d) => p * (d ?? 1), 1);
}

interface Slot {
  channel: WorkerSlot<WorkerReply>;
  images: Float32Array;
  labels: Int32Array;
  gradients: Float32Array;
  state: Float32Array;
}

/** Under tsx (tests, benches) this module is a .ts file, in the package a .js file. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

/**
 * Starts the worker entry `./<name>.js` next to this module (`./<name>.ts`
 * from source, through a bootstrap that registers tsx in the worker first).
 */
export function startModuleWorker(name: string, workerData: object): Worker {
  const entry = new URL(`./${name}.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url);
  if (!FROM_SOURCE) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData, execArgv: [] });
}

/** A pool of `count` gradient workers for `model` (see `TrainSetup.workers`); `close()` ends them. */
export class GradientWorkerPool implements GradientWorkers {
  readonly count: number;
  private readonly slots: Slot[] = [];
  private readonly weights: Float32Array;
  private readonly trainableSize: number;
  private readonly stateSize: number;
  private closed = false;

  private constructor(count: number, trainableSize: number, stateSize: number) {
    this.count = count;
    this.trainableSize = trainableSize;
    this.stateSize = stateSize;
    this.weights = new Float32Array(new SharedArrayBuffer(4 * (trainableSize + stateSize)));
  }

  /**
   * Starts `count` workers holding replicas of `model` on `backend` (the
   * active one by default). The model's classes must be registered with
   * `tf.serialization` (every hemnet layer is).
   */
  static async create(model: tf.LayersModel, count: number, backend: string = tf.getBackend()): Promise<GradientWorkerPool> {
    if (!Number.isInteger(count) || count < 0) throw new Error(`GradientWorkerPool.create: 'count' must be an integer ≥ 0, received ${String(count)}`);
    const trainableSize = model.trainableWeights.reduce((n, w) => n + sizeOf(w.shape), 0);
    const stateSize = model.nonTrainableWeights.reduce((n, w) => n + sizeOf(w.shape), 0);
    const pool = new GradientWorkerPool(count, trainableSize, stateSize);
    const topology = model.toJSON(null, false);
    const trainableShapes = model.trainableWeights.map((w) => w.shape as number[]);
    const stateShapes = model.nonTrainableWeights.map((w) => w.shape as number[]);
    for (let i = 0; i < count; i++) {
      const worker = startModuleWorker('parallelWorker', { topology, backend, trainableShapes, stateShapes, weights: pool.weights });
      pool.slots.push({
        channel: new WorkerSlot<WorkerReply>(worker, 'GradientWorkerPool', `gradient worker ${i + 1}`),
        images: new Float32Array(new SharedArrayBuffer(4)),
        labels: new Int32Array(new SharedArrayBuffer(4)),
        gradients: new Float32Array(new SharedArrayBuffer(4 * trainableSize)),
        state: new Float32Array(new SharedArrayBuffer(4 * stateSize)),
      });
    }
    try {
      await Promise.all(pool.slots.map((slot) => slot.channel.request(null)));
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  async compute(model: tf.LayersModel, shards: readonly SegmentationBatch[], settings: ShardSettings): Promise<ShardResult[]> {
    if (this.closed) throw new Error('GradientWorkerPool.compute: the pool is closed');
    if (shards.length > this.count) throw new Error(`GradientWorkerPool.compute: at most ${this.count} shards, received ${shards.length}`);
    let offset = 0;
    for (const w of [...model.trainableWeights, ...model.nonTrainableWeights]) {
      const value = w.read();
      if (offset + value.size > this.weights.length) break;
      offset += copyTensorInto(value, this.weights, offset);
    }
    const total = model.countParams();
    if (offset !== this.weights.length || total !== this.weights.length) throw new Error(`GradientWorkerPool.compute: the model has ${total} weights, the workers ${this.weights.length}`);
    const replies = shards.map((shard, i) => {
      const slot = this.slots[i] as Slot;
      if (slot.images.length < shard.images.length) slot.images = new Float32Array(new SharedArrayBuffer(4 * shard.images.length));
      if (slot.labels.length < shard.labels.length) slot.labels = new Int32Array(new SharedArrayBuffer(4 * shard.labels.length));
      slot.images.set(shard.images);
      slot.labels.set(shard.labels);
      return slot.channel.request({
        type: 'step',
        shard: i + 1,
        images: slot.images,
        labels: slot.labels,
        gradients: slot.gradients,
        state: slot.state,
        shape: [shard.batchSize, shard.height, shard.width, shard.channels],
        settings,
      });
    });
    const done = await Promise.all(replies);
    return done.map((reply, i) => {
      const slot = this.slots[i] as Slot;
      if (reply.type !== 'done') throw new Error(`GradientWorkerPool: unexpected reply '${reply.type}'`);
      // Views of shared memory, valid until the next `compute` (no copies of weight-sized arrays per step).
      return { loss: reply.loss, scored: reply.scored, gradients: slot.gradients, state: slot.state };
    });
  }

  /** Ends the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((slot) => slot.channel.terminate()));
  }
}

/**
 * A pool for `workers` threads of training in total (the caller's thread is
 * one of them): `workers − 1` worker threads, or null for 1.
 */
export async function createGradientWorkers(model: tf.LayersModel, workers: number, backend?: string): Promise<GradientWorkerPool | null> {
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`createGradientWorkers: 'workers' must be a positive integer, received ${String(workers)}`);
  if (workers === 1) return null;
  return GradientWorkerPool.create(model, workers - 1, backend);
}
