import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { workerBackedDataset } from './parallelData.js';
import { fixtureDataset } from '../../test/fixtures/dataset.js';
import { trainSegmentation, type TrainOptions } from './loop.js';
import { useBackend } from '../../test/helpers.js';

const SOURCE = { module: new URL('../../test/fixtures/dataset.ts', import.meta.url).href, exportName: 'fixtureDataset', args: [6, 8] };

function model(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  const x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 3 }) }).apply(input) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

describe('workerBackedDataset (data preparation on a worker thread)', () => {
  it('load returns what get returns, in order', async () => {
    const local = fixtureDataset(6, 8);
    const remote = await workerBackedDataset(local, SOURCE);
    try {
      const requests = [{ index: 4, epoch: 1 }, { index: 0 }, { index: 5, epoch: 2 }];
      const samples = await remote.load(requests);
      assert.equal(samples.length, 3);
      samples.forEach((s, i) => {
        const expected = local.get(requests[i]!.index, requests[i]!.epoch);
        assert.equal(s.id, expected.id);
        assert.deepEqual(Array.from(s.image), Array.from(expected.image));
        assert.deepEqual(Array.from(s.label), Array.from(expected.label));
      });
      assert.equal(remote.get(2, 1).id, 'f2e1');
    } finally {
      await remote.close();
    }
    await assert.rejects(remote.load([{ index: 0 }]), /closed/);
  });

  it('trains to the same losses as the dataset itself', async () => {
    await useBackend('wasm');
    const options: TrainOptions = { optimizer: 'sgd', steps: 4, batchSize: 2, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3, lrPower: 0.9, seed: 2, checkpointEvery: 0 };
    const plain = await trainSegmentation({ model: model(), dataset: fixtureDataset(6, 8), options });
    const remote = await workerBackedDataset(fixtureDataset(6, 8), SOURCE);
    let waited = 0;
    try {
      const viaWorker = await trainSegmentation({ model: model(), dataset: remote, options, onEvent: (e) => (waited += e.type === 'step' ? 1 : 0) });
      assert.deepEqual(viaWorker.losses, plain.losses);
      assert.equal(waited, 4);
      viaWorker.optimizer.dispose();
    } finally {
      await remote.close();
      plain.optimizer.dispose();
    }
  });

  it('refuses a source that builds another dataset, and a missing export', async () => {
    await assert.rejects(workerBackedDataset(fixtureDataset(5, 8), SOURCE), /the worker's dataset has 6 samples, this one 5/);
    await assert.rejects(workerBackedDataset(fixtureDataset(6, 8), { ...SOURCE, exportName: 'nothing' }), /did not start: .*no function export 'nothing'/);
  });
});
