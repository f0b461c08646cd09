import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../test/helpers.js';

describe('Identity on wasm (shares data, no copy)', () => {
  it('a clone shares the data, outlives its source, and frees the memory with the last reference', async () => {
    await useBackend('wasm');
    const buffersBefore = tf.memory().numDataBuffers;
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const buffersWithX = tf.memory().numDataBuffers;
    const y = tf.clone(x);
    assert.equal(tf.memory().numDataBuffers, buffersWithX, 'no second buffer');
    assert.equal(y.dataId, x.dataId);
    assert.equal((tf.engine().backend as unknown as { refCount(id: tf.DataId): number }).refCount(x.dataId), 2);
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4]);
    y.dispose();
    assert.equal(tf.memory().numDataBuffers, buffersBefore);
  });

  it('gradients through saved (cloned) tensors are unchanged, and strings still clone', async () => {
    await useBackend('wasm');
    const x = tf.tensor1d([0.5, -1, 2]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.exp(v), tf.square(v))))(x);
    // d/dv eᵛ v² = eᵛ (v² + 2v)
    const expected = [0.5, -1, 2].map((v) => Math.exp(v) * (v * v + 2 * v));
    Array.from(g.dataSync()).forEach((value, i) => assert.ok(Math.abs(value - expected[i]!) < 1e-5 * Math.max(1, Math.abs(expected[i]!)), `${value} vs ${expected[i]}`));
    const s = tf.clone(tf.tensor1d(['a', 'b'], 'string'));
    assert.deepEqual(s.arraySync(), ['a', 'b']);
    tf.dispose([x, g, s]);
  });
});
