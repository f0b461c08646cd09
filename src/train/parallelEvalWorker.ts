/**
 * One evaluation worker of `EvaluationWorkerPool` (a `worker_threads` entry
 * point, Node only): a replica of the model on its own backend, and the
 * same `EvaluationRunner` as the calling thread, so a batch gets the same
 * predicted classes on either.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import '../index.js'; // registers hemnet's layer classes with tf.serialization
import { setBackend } from '../backend.js';
import { loadSamples, type SegmentationDataset, type SegmentationSample } from '../data/types.js';
import { ConfusionMatrix } from '../metrics/confusion.js';
import { EvaluationRunner, evaluateSamples, findHemHeads, type EvaluationSettings } from './evaluate.js';
import { buildDatasetFromSource } from './datasetSource.js';
import { basesUsageSumsOf } from './monitor.js';
import { sameWeightShapes } from './parallel.js';
import type { DatasetSource } from './parallelData.js';

interface WorkerInit {
  topology: tf.io.ModelJSON['modelTopology'] | string;
  backend: string;
  shapes: number[][];
  /** Where this worker builds its copy of the evaluated dataset (null: it is sent images). */
  source: DatasetSource | null;
}

type Request =
  | { type: 'load'; weights: Float32Array[]; stepSizes: number[]; evalIterations: number[] }
  | { type: 'predict'; images: Float32Array; shape: [number, number, number, number]; settings: EvaluationSettings }
  | { type: 'evaluate'; indices: number[]; settings: EvaluationSettings }
  | { type: 'bases'; indices: number[]; iterations: number | null };

const port = parentPort;
if (port === null) throw new Error('parallelEvalWorker: must run as a worker thread');
const init = workerData as WorkerInit;

async function start(): Promise<{ handle: (request: Request) => Promise<object>; datasetSize: number | null }> {
  await setBackend(init.backend);
  const dataset = init.source !== null ? await buildDatasetFromSource(init.source) : null;
  const topology = typeof init.topology === 'string' ? (JSON.parse(init.topology) as tf.io.ModelJSON['modelTopology']) : init.topology;
  const model = (await tf.models.modelFromJSON({ modelTopology: topology } as tf.io.ModelJSON)) as tf.LayersModel;
  const weights = model.weights;
  if (!sameWeightShapes(weights, init.shapes)) {
    throw new Error('parallelEvalWorker: the replica built from the model topology has other weights than the model');
  }
  /** Samples `indices` of this worker's copy of the dataset, and that copy. */
  const mirroredSamples = async (what: string, indices: number[]): Promise<{ mirror: SegmentationDataset; samples: SegmentationSample[] }> => {
    if (dataset === null) throw new Error(`parallelEvalWorker: '${what}' needs a dataset source`);
    return { mirror: dataset, samples: await loadSamples(dataset, indices.map((index) => ({ index }))) };
  };
  let loaded = false;
  // The runner of the last settings; a variable-size copy holds its own copy of the weights, so a load drops it.
  let runner: { settings: EvaluationSettings; runner: EvaluationRunner } | null = null;
  const handle = async (request: Request): Promise<object> => {
    if (request.type === 'load') {
      runner?.runner.dispose();
      runner = null;
      weights.forEach((w, i) => {
        const value = tf.tensor(request.weights[i] as Float32Array, w.shape as number[], 'float32');
        w.write(value);
        value.dispose();
      });
      const heads = findHemHeads(model);
      if (heads.length !== request.stepSizes.length) throw new Error(`parallelEvalWorker: the replica has ${heads.length} HEM heads, the model ${request.stepSizes.length}`);
      heads.forEach((head, i) => {
        head.setStepSize(request.stepSizes[i] as number);
        head.setEvalIterations(request.evalIterations[i] as number);
      });
      loaded = true;
      return { type: 'loaded' };
    }
    if (!loaded) throw new Error(`parallelEvalWorker: '${request.type}' before 'load'`);
    if (request.type === 'bases') {
      const { mirror, samples } = await mirroredSamples('bases', request.indices);
      return { type: 'bases', sums: basesUsageSumsOf(model, samples, mirror.ignoreLabel, request.iterations) };
    }
    if (runner === null || EvaluationRunner.differ(request.settings, runner.settings)) {
      runner?.runner.dispose();
      runner = { settings: request.settings, runner: await EvaluationRunner.create(model, request.settings) };
    }
    if (request.type === 'evaluate') {
      const { mirror, samples } = await mirroredSamples('evaluate', request.indices);
      const confusion = new ConfusionMatrix(mirror.numClasses, { ignoreLabel: mirror.ignoreLabel });
      evaluateSamples(runner.runner, samples, request.settings, confusion);
      return { type: 'counts', matrix: confusion.toArray() };
    }
    const images = tf.tensor4d(request.images, request.shape, 'float32');
    try {
      return { type: 'done', classes: runner.runner.predict(images, request.settings) };
    } finally {
      images.dispose();
    }
  };
  return { handle, datasetSize: dataset?.size ?? null };
}

start().then(
  ({ handle, datasetSize }) => {
    port.on('message', (request: Request) => {
      handle(request).then(
        (reply) => port.postMessage(reply),
        (error: unknown) => port.postMessage({ type: 'error', message: (error as Error).message }),
      );
    });
    port.postMessage({ type: 'ready', datasetSize });
  },
  (error: unknown) => port.postMessage({ type: 'error', message: (error as Error).message }),
);
