/**
 * The data worker of `workerBackedDataset` (a `worker_threads` entry point,
 * Node only): builds its copy of the dataset from `source` and answers
 * `load` requests with the samples.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SampleRequest, SegmentationDataset } from '../data/types.js';
import type { DatasetSource, DataWorkerReply } from './parallelData.js';

const port = parentPort;
if (port === null) throw new Error('parallelDataWorker: must run as a worker thread');
const { source } = workerData as { source: DatasetSource };
const post = (reply: DataWorkerReply) => port.postMessage(reply);

async function build(): Promise<SegmentationDataset> {
  const module = (await import(source.module)) as Record<string, unknown>;
  const factory = module[source.exportName];
  if (typeof factory !== 'function') throw new Error(`'${source.module}' has no function export '${source.exportName}'`);
  const made = (await (factory as (...args: unknown[]) => unknown)(...source.args)) as Record<string, unknown>;
  const dataset = (source.property !== undefined ? made[source.property] : made) as SegmentationDataset | undefined;
  if (dataset === undefined || typeof dataset.get !== 'function') throw new Error(`'${source.exportName}' did not give a dataset${source.property !== undefined ? ` in '${source.property}'` : ''}`);
  return dataset;
}

build().then(
  (dataset) => {
    port.on('message', (request: { type: 'load'; id: number; requests: SampleRequest[] }) => {
      try {
        const samples = request.requests.map((r) => dataset.get(r.index, r.epoch));
        // Copied by the structured clone (a dataset may keep and return the same arrays again).
        post({ type: 'samples', id: request.id, samples });
      } catch (error) {
        post({ type: 'error', id: request.id, message: (error as Error).message });
      }
    });
    post({ type: 'ready', size: dataset.size });
  },
  (error: unknown) => post({ type: 'error', id: null, message: (error as Error).message }),
);
