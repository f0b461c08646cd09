/**
 * Training steps as the benches time them.
 *
 * `trainingStep`: one step outside `trainSegmentation`:
 * batch `s` of `dataset`, forward + backward as the loop runs it
 * (`lossAndGradients`, weight decay 1e-4), the optimizer's update, the loss
 * read back; no tensor kept.
 */
import * as tf from '@tensorflow/tfjs';
import { batchSamples, batchToTensors } from '../src/data/augment.js';
import type { SegmentationDataset } from '../src/data/types.js';
import type { HeadName } from '../src/models/heads.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { batchIndices, decayedVariables, decayWeights, lossAndGradients, trainSegmentation, type TrainOptions } from '../src/train/loop.js';
import { createOptimizer } from '../src/train/optimizer.js';
import { randomSegmentationDataset } from './randomData.js';

export function trainingStep(model: tf.LayersModel, dataset: SegmentationDataset, optimizer: tf.Optimizer, batchSize: number): (s: number) => void {
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const decayed = decayWeights(trainable, decayedVariables(model).map((w) => w.read()));
  return (s) => {
    const { indices, epochs } = batchIndices(s, batchSize, dataset.size, 0);
    const { images, labels } = batchToTensors(batchSamples(indices.map((index, i) => dataset.get(index, epochs[i]))));
    const { value, loss, gradients } = lossAndGradients(model, images, labels, dataset.ignoreLabel, 1e-4, trainable, decayed);
    optimizer.applyGradients(gradients);
    loss();
    tf.dispose([images, labels, value]);
    tf.dispose(gradients.map((g) => g.tensor));
  };
}

/**
 * Training steps as `hemnet train` runs them, through `trainSegmentation`:
 * the zoo's default model with `head`, random scenes of `size`² (32 of
 * them), Adam at 2e-3 with weight decay 1e-4, batch `batchSize`.
 * `step()` runs `stepsPerCall` steps in one call and resolves with the ms
 * per step; `dispose()` frees the model and the optimizer.
 */
export function trainLoopStepper(head: HeadName, batchSize: number, size: number, stepsPerCall: number): { step(): Promise<number>; dispose(): void } {
  const { model } = buildSegmentationModel({ head });
  const dataset = randomSegmentationDataset(32, size);
  const optimizer = createOptimizer('adam', 2e-3, 0.9);
  const options: TrainOptions = { optimizer: 'adam', steps: stepsPerCall, batchSize, learningRate: 2e-3, momentum: 0.9, weightDecay: 1e-4, lrPower: 0.9, seed: 0, checkpointEvery: 0 };
  return {
    async step() {
      const start = performance.now();
      await trainSegmentation({ model, dataset, options, optimizer });
      return (performance.now() - start) / stepsPerCall;
    },
    dispose() {
      optimizer.dispose();
      model.dispose();
    },
  };
}
