/**
 * Data preparation on its own thread (Node only): a dataset whose `load`
 * generates the samples in a `worker_threads` worker holding a second copy
 * of the same dataset, so that `trainSegmentation` (which reads datasets
 * with `load` a few batches ahead, see `TrainSetup.readAhead`) never builds a
 * batch on the training thread. The worker builds its copy by importing
 * `source.module` and calling its export `source.exportName(...source.args)`
 * (arguments: structured-cloneable, e.g. a run config), which must give the
 * same dataset as the one passed in: `load` then returns exactly what `get`
 * returns (datasets are deterministic given index and epoch).
 */
import type { Worker } from 'node:worker_threads';
import type { SampleRequest, SegmentationDataset, SegmentationSample } from '../data/types.js';
import { startModuleWorker } from './parallel.js';

/** Where a worker finds the factory of a dataset. */
export interface DatasetSource {
  /** URL (file:) of the module (e.g. `new URL('./x.js', import.meta.url).href`). */
  module: string;
  /** Its export: a function returning the dataset (or a promise of it). */
  exportName: string;
  /** Arguments of the call. */
  args: unknown[];
  /**
   * When the export returns an object holding the dataset rather than the
   * dataset itself, the property to read (e.g. 'train' of `createDatasets`).
   */
  property?: string;
}

/** Messages from the data worker. */
export type DataWorkerReply =
  | { type: 'ready'; size: number }
  | { type: 'samples'; id: number; samples: SegmentationSample[] }
  | { type: 'error'; id: number | null; message: string };

/** A dataset whose samples come from a data worker; `close()` ends the worker. */
export interface WorkerBackedDataset extends SegmentationDataset {
  load(requests: readonly SampleRequest[]): Promise<SegmentationSample[]>;
  close(): Promise<void>;
}

/**
 * `dataset` with `load` served by a worker that builds its own copy from
 * `source` (its size is checked against `dataset.size`). `get` stays the
 * dataset's own (synchronous, this thread).
 */
export async function workerBackedDataset(dataset: SegmentationDataset, source: DatasetSource): Promise<WorkerBackedDataset> {
  const worker: Worker = startModuleWorker('parallelDataWorker', { source });
  const waiting = new Map<number, { resolve: (samples: SegmentationSample[]) => void; reject: (error: Error) => void }>();
  let failed: Error | null = null;
  let closed = false;
  let nextId = 0;
  let onReady: ((reply: DataWorkerReply) => void) | null = null;
  const failAll = (error: Error) => {
    failed = error;
    for (const entry of waiting.values()) entry.reject(error);
    waiting.clear();
  };
  worker.on('message', (reply: DataWorkerReply) => {
    if (onReady !== null) {
      const ready = onReady;
      onReady = null;
      ready(reply);
      return;
    }
    if (reply.type === 'ready') return;
    const id = reply.id;
    const entry = id === null ? undefined : waiting.get(id);
    if (id !== null) waiting.delete(id);
    if (reply.type === 'samples') entry?.resolve(reply.samples);
    else if (entry !== undefined) entry.reject(new Error(`workerBackedDataset: the data worker failed: ${reply.message}`));
    else failAll(new Error(`workerBackedDataset: the data worker failed: ${reply.message}`));
  });
  const ready = new Promise<DataWorkerReply>((resolve) => (onReady = resolve));
  worker.on('error', (error) => {
    const ready = onReady;
    onReady = null;
    ready?.({ type: 'error', id: null, message: error.message });
    failAll(error);
  });
  worker.on('exit', (code) => {
    if (closed) return;
    const ready = onReady;
    onReady = null;
    const error = new Error(`workerBackedDataset: the data worker exited with code ${code}`);
    ready?.({ type: 'error', id: null, message: error.message });
    failAll(error);
  });
  const first = await ready;
  if (first.type !== 'ready' || first.size !== dataset.size) {
    closed = true;
    await worker.terminate();
    throw new Error(
      first.type === 'ready'
        ? `workerBackedDataset: the worker's dataset has ${first.size} samples, this one ${dataset.size}; 'source' must build the same dataset`
        : `workerBackedDataset: the data worker did not start: ${first.type === 'error' ? first.message : first.type}`,
    );
  }
  return {
    numClasses: dataset.numClasses,
    ignoreLabel: dataset.ignoreLabel,
    classNames: dataset.classNames,
    size: dataset.size,
    get: (index: number, epoch?: number) => dataset.get(index, epoch),
    load(requests: readonly SampleRequest[]): Promise<SegmentationSample[]> {
      if (failed !== null) return Promise.reject(failed);
      if (closed) return Promise.reject(new Error('workerBackedDataset: the dataset is closed'));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.postMessage({ type: 'load', id, requests });
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      failAll(new Error('workerBackedDataset: the dataset was closed'));
      await worker.terminate();
    },
  };
}
