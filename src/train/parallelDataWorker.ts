/**
 * The data worker of `workerBackedDataset` (a `worker_threads` entry point,
 * Node only): builds its copy of the dataset from `source` and answers
 * `load` requests with the samples.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SampleRequest } from '../data/types.js';
import { buildDatasetFromSource } from './datasetSource.js';
import type { DatasetSource, DataWorkerReply } from './parallelData.js';

const port = parentPort;
if (port === null) throw new Error('parallelDataWorker: must run as a worker thread');
const { source } = workerData as { source: DatasetSource };
const post = (reply: DataWorkerReply) => port.postMessage(reply);

buildDatasetFromSource(source).then(
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
