/**
 * One gradient worker of `GradientWorkerPool` (a `worker_threads` entry
 * point, Node only): a replica of the model on its own backend. Per step it
 * copies the shared weights into the replica, computes the data loss and
 * gradient of its shard (the same `batchLoss` as the calling thread, without
 * the weight decay, which the calling thread adds once) and writes the
 * gradient and the non-trainable weights (BN moving statistics, μ⁽⁰⁾) back
 * into shared memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import '../index.js'; // registers hemnet's layer classes with tf.serialization
import { setBackend } from '../backend.js';
import { setDropoutStream } from '../layers/dropout.js';
import { sameWeightShapes } from './parallel.js';
import { batchLoss, flattenTensors, scoredPixels, type ShardSettings } from './loop.js';

interface WorkerInit {
  topology: tf.io.ModelJSON['modelTopology'] | string;
  backend: string;
  trainableShapes: number[][];
  stateShapes: number[][];
  weights: Float32Array;
}

interface StepRequest {
  type: 'step';
  /** Which shard of the step this is (1 … workers; the calling thread computes shard 0). */
  shard: number;
  images: Float32Array;
  labels: Int32Array;
  gradients: Float32Array;
  state: Float32Array;
  shape: [number, number, number, number];
  settings: ShardSettings;
}

const port = parentPort;
if (port === null) throw new Error('parallelWorker: must run as a worker thread');
const init = workerData as WorkerInit;


async function start(): Promise<(request: StepRequest) => { loss: number; scored: number }> {
  await setBackend(init.backend);
  const topology = typeof init.topology === 'string' ? (JSON.parse(init.topology) as tf.io.ModelJSON['modelTopology']) : init.topology;
  const model = (await tf.models.modelFromJSON({ modelTopology: topology } as tf.io.ModelJSON)) as tf.LayersModel;
  if (!sameWeightShapes(model.trainableWeights, init.trainableShapes) || !sameWeightShapes(model.nonTrainableWeights, init.stateShapes)) {
    throw new Error('parallelWorker: the replica built from the model topology has other weights than the model');
  }
  const all = [...model.trainableWeights, ...model.nonTrainableWeights];
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const hemHeads = model.layers.filter((l) => l.getClassName() === 'HemHead') as unknown as { setStepSize(v: number | null): void }[];
  return (request) => {
    let offset = 0;
    for (const w of all) {
      const size = w.shape.reduce((p: number, d) => p * (d ?? 1), 1);
      const value = tf.tensor(init.weights.subarray(offset, offset + size), w.shape as number[], 'float32');
      w.write(value);
      value.dispose();
      offset += size;
    }
    request.settings.hemStepSizes.forEach((eta, i) => hemHeads[i]?.setStepSize(eta));
    const [b, h, width, c] = request.shape;
    const labelsView = request.labels.subarray(0, b * h * width);
    const images = tf.tensor4d(request.images.subarray(0, b * h * width * c), [b, h, width, c], 'float32');
    const labels = tf.tensor3d(labelsView, [b, h, width], 'int32');
    setDropoutStream(request.settings.step, request.shard);
    // The data loss only: the calling thread adds the weight decay once, to the mean gradient.
    const { value, grads } = tf.variableGrads(() => batchLoss(model, images, labels, request.settings.ignoreLabel, 0, []), trainable);
    const loss = value.dataSync()[0] as number;
    flattenTensors(trainable.map((v) => grads[v.name] as tf.Tensor), request.gradients);
    flattenTensors(model.nonTrainableWeights.map((w) => w.read()), request.state);
    tf.dispose([images, labels, value]);
    tf.dispose(grads);
    return { loss, scored: scoredPixels(labelsView, request.settings.ignoreLabel) };
  };
}

start().then(
  (step) => {
    port.on('message', (request: StepRequest) => {
      try {
        port.postMessage({ type: 'done', ...step(request) });
      } catch (error) {
        port.postMessage({ type: 'error', message: (error as Error).message });
      }
    });
    port.postMessage({ type: 'ready' });
  },
  (error: unknown) => port.postMessage({ type: 'error', message: (error as Error).message }),
);
