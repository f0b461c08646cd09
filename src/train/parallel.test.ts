import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { splitBatch, trainSegmentation, type TrainOptions } from './loop.js';
import { createGradientWorkers, type GradientWorkerPool } from './parallel.js';
import { hemHead } from '../layers/hemHead.js';
import { batchSamples } from '../data/augment.js';
import type { SegmentationDataset, SegmentationSample } from '../data/types.js';
import { assertClose, useBackend } from '../../test/helpers.js';

/** 8×8 scenes: a bright square of class 1 or 2 on background 0, with ignored pixels on a varying band. */
function dataset(size: number): SegmentationDataset {
  const side = 8;
  return {
    numClasses: 3,
    ignoreLabel: 255,
    classNames: ['background', 'a', 'b'],
    size,
    get(index: number): SegmentationSample {
      const image = new Float32Array(side * side * 3);
      const label = new Uint8Array(side * side);
      const cls = (index % 2) + 1;
      const top = index % 4;
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const inside = y >= top && y < top + 3 && x >= 2 && x < 5;
          // Image i has i % 3 ignored rows: shards then differ in scored pixels.
          const ignored = y >= side - (index % 3);
          label[y * side + x] = ignored ? 255 : inside ? cls : 0;
          for (let c = 0; c < 3; c++) image[(y * side + x) * 3 + c] = inside ? cls * 0.5 + 0.1 * c : -0.5 + 0.01 * x;
        }
      }
      return { image, label, height: side, width: side, channels: 3, id: `s${index}` };
    },
  };
}

/** No batch norm: the sharded gradient must equal the full-batch one. */
function plainModel(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 3 }), name: 'stem' }).apply(input) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }), name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

/** With the HEM head (its own batch norm and μ⁽⁰⁾ state). */
function hemModel(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 5 }), name: 'stem' }).apply(input) as tf.SymbolicTensor;
  x = hemHead({ numBases: 2, seed: 6, name: 'hem' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }), name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

const OPTIONS: TrainOptions = { optimizer: 'sgd', steps: 2, batchSize: 5, learningRate: 0.1, momentum: 0, weightDecay: 1e-3, lrPower: 0.9, seed: 1, checkpointEvery: 0 };

describe('data-parallel training (worker_threads)', () => {
  const pools: GradientWorkerPool[] = [];
  after(async () => {
    for (const pool of pools) await pool.close();
  });

  it('splits a batch into near-equal shards in order', () => {
    const data = dataset(5);
    const batch = batchSamples([0, 1, 2, 3, 4].map((i) => data.get(i)));
    const shards = splitBatch(batch, 2);
    assert.deepEqual(shards.map((s) => s.batchSize), [3, 2]);
    assert.deepEqual(shards.map((s) => s.ids), [['s0', 's1', 's2'], ['s3', 's4']]);
    assert.equal(shards[1]?.images[0], batch.images[3 * 64 * 3]);
    assert.deepEqual(splitBatch(batch, 9).map((s) => s.batchSize), [1, 1, 1, 1, 1]);
  });

  it('2 workers give the weights of 1 worker (full-batch gradient) to float error, without leaking tensors', async () => {
    await useBackend('wasm');
    const single = plainModel();
    const one = await trainSegmentation({ model: single, dataset: dataset(10), options: OPTIONS });
    const sharded = plainModel();
    const pool = await createGradientWorkers(sharded, 2);
    assert.ok(pool !== null && pool.count === 1);
    pools.push(pool);
    const before = tf.memory().numTensors;
    const two = await trainSegmentation({ model: sharded, dataset: dataset(10), options: OPTIONS, workers: pool });
    // Step 1 is the same start: compare the losses (weighted mean of the shards' losses) and the final weights.
    assertClose(two.losses, one.losses, 1e-5, 1e-5, 'losses');
    single.trainableWeights.forEach((w, i) => assertClose(sharded.trainableWeights[i]!.read(), w.read(), 1e-6, 1e-4, w.name));
    assert.ok(Math.abs(one.losses[0]! - one.losses[1]!) > 1e-4, 'the step changed the model');
    one.optimizer.dispose();
    two.optimizer.dispose();
    // The optimizer's accumulators are the only new tensors (momentum 0: none kept beyond the lr).
    assert.ok(tf.memory().numTensors - before <= 2, `numTensors ${before} → ${tf.memory().numTensors}`);
  });

  it('trains a model with batch norm and HEM state on 2 workers: loss falls, moving statistics move', async () => {
    await useBackend('wasm');
    const model = hemModel();
    const pool = await createGradientWorkers(model, 2);
    assert.ok(pool !== null);
    pools.push(pool);
    const movingBefore = Array.from(model.nonTrainableWeights.find((w) => w.name.includes('moving_mean'))!.read().dataSync());
    const result = await trainSegmentation({ model, dataset: dataset(12), options: { ...OPTIONS, steps: 12, optimizer: 'adam', learningRate: 0.02 }, workers: pool });
    const movingAfter = Array.from(model.nonTrainableWeights.find((w) => w.name.includes('moving_mean'))!.read().dataSync());
    assert.notDeepEqual(movingAfter, movingBefore);
    const first = result.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = result.losses.slice(-3).reduce((a, b) => a + b) / 3;
    assert.ok(last < 0.8 * first, `loss ${first} → ${last}`);
    result.optimizer.dispose();
  });

  it('rejects a bad worker count', async () => {
    await assert.rejects(createGradientWorkers(plainModel(), 0), /createGradientWorkers: 'workers' must be a positive integer, received 0/);
  });
});
