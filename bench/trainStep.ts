/**
 * One training step as the benches time it, outside `trainSegmentation`:
 * batch `s` of `dataset`, forward + backward through `batchLoss` (weight
 * decay 1e-4), the optimizer's update, the loss read back; no tensor kept.
 */
import * as tf from '@tensorflow/tfjs';
import { batchSamples, batchToTensors } from '../src/data/augment.js';
import type { SegmentationDataset } from '../src/data/types.js';
import { batchIndices, batchLoss, decayedVariables } from '../src/train/loop.js';

export function trainingStep(model: tf.LayersModel, dataset: SegmentationDataset, optimizer: tf.Optimizer, batchSize: number): (s: number) => void {
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const decayed = decayedVariables(model).map((w) => w.read());
  return (s) => {
    const { indices, epochs } = batchIndices(s, batchSize, dataset.size, 0);
    const { images, labels } = batchToTensors(batchSamples(indices.map((index, i) => dataset.get(index, epochs[i]))));
    const { value, grads } = tf.variableGrads(() => batchLoss(model, images, labels, dataset.ignoreLabel, 1e-4, decayed), trainable);
    optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    value.dataSync();
    tf.dispose([images, labels, value]);
    tf.dispose(grads);
  };
}
