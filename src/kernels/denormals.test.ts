import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setBackend, setFlushDenormals, flushesDenormals } from '../backend.js';
import { loadModelFromFiles, saveModelToFiles } from '../train/checkpointFiles.js';
import { FLOAT32_MIN_NORMAL, flushSubnormalWeights } from './denormals.js';

/** A conv + batch norm whose kernel and moving mean hold subnormals (as an EMA head's input convolution does after training). */
function modelWithSubnormals(): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 3] });
  const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1, useBias: false, name: 'conv' });
  const bn = tf.layers.batchNormalization({ name: 'bn' });
  const model = tf.model({ inputs: input, outputs: bn.apply(conv.apply(input)) as tf.SymbolicTensor });
  tf.tidy(() => {
    conv.setWeights([tf.tensor4d([3e-39, 0.5, -1e-40, 0.25, 0, -2e-39], [1, 1, 3, 2])]);
    const [gamma, beta, , variance] = bn.getWeights() as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    bn.setWeights([gamma, beta, tf.tensor1d([5e-39, 1]), variance]);
  });
  return model;
}

const subnormals = (model: tf.LayersModel): number =>
  model.weights.reduce((n, w) => n + (w.read().dataSync() as Float32Array).filter((x) => x !== 0 && Math.abs(x) < FLOAT32_MIN_NORMAL).length, 0);

describe('flushSubnormalWeights: loaded models carry no subnormal weights', () => {
  it('zeroes the subnormal entries of every float32 weight, trainable or not, and leaves the rest; the loaders call it; off with setFlushDenormals(false)', async () => {
    await setBackend('wasm');
    const initially = flushesDenormals();
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-denormals-'));
    try {
      setFlushDenormals(true);
      const model = modelWithSubnormals();
      assert.equal(subnormals(model), 4);
      await saveModelToFiles(dir, model);
      const before = tf.memory().numTensors;
      assert.equal(flushSubnormalWeights(model), 4);
      assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
      assert.equal(subnormals(model), 0);
      assert.deepEqual(Array.from(model.getLayer('conv').getWeights()[0]?.dataSync() ?? []), [0, 0.5, 0, 0.25, 0, 0]);
      assert.equal(flushSubnormalWeights(model), 0, 'nothing left to flush');
      const loaded = await loadModelFromFiles(dir);
      assert.equal(subnormals(loaded), 0, 'loadModelFromFiles flushes');
      setFlushDenormals(false);
      const kept = await loadModelFromFiles(dir);
      assert.equal(subnormals(kept), 4, 'kept with the flush off');
      tf.dispose([model, loaded, kept].flatMap((m) => m.weights.map((w) => w.read())));
    } finally {
      setFlushDenormals(initially);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
