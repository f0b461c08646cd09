import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { assertClose, assertNoLeak, randn } from '../../test/helpers.js';

/** The batch-norm formula written with elementary ops (their stock gradients are the reference). */
function explicitBatchNorm(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, offset: tf.Tensor, scale: tf.Tensor, epsilon: number): tf.Tensor {
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), scale), tf.rsqrt(tf.add(variance, epsilon))), offset);
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`FusedBatchNorm gradient on ${backend}`, () => {
    it('matches the gradient of the explicit formula for x, mean, variance, scale and offset', async () => {
      await setBackend(backend);
      tf.tidy(() => {
        const x = tf.add(randn([2, 5, 4, 3], 1), 3);
        const mean = randn([3], 2);
        const variance = tf.add(tf.abs(randn([3], 3)), 0.5);
        const offset = randn([3], 4);
        const scale = randn([3], 5);
        const g = randn([2, 5, 4, 3], 6);
        const inputs = [x, mean, variance, offset, scale];
        const fused = tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
          tf.sum(tf.mul(tf.batchNorm(a, m, v, o, s, 1e-3), g)))(inputs);
        const explicit = tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, o: tf.Tensor, s: tf.Tensor) =>
          tf.sum(tf.mul(explicitBatchNorm(a, m, v, o, s, 1e-3), g)))(inputs);
        ['x', 'mean', 'variance', 'offset', 'scale'].forEach((name, index) =>
          assertClose(fused[index]!, explicit[index]!, 1e-5, 1e-4, `${backend} d${name}`));
      });
    });

    it(`computes the per-channel sums ${backend === 'wasm' ? 'in one HemnetBatchNormSums kernel' : 'with tf ops'}`, async () => {
      await setBackend(backend);
      const x = randn([2, 3, 3, 4], 8);
      const [mean, variance, offset, scale] = [randn([4], 9), tf.tidy(() => tf.add(tf.abs(randn([4], 10)), 0.5)), randn([4], 11), randn([4], 12)];
      const info = await tf.profile(() => tf.grads((a: tf.Tensor, s: tf.Tensor) => tf.sum(tf.square(tf.batchNorm(a, mean!, variance!, offset!, s, 1e-3))))([x, scale!]));
      tf.dispose(info.result as tf.Tensor[]);
      const names = info.kernels.map((k) => k.name);
      if (backend === 'wasm') assert.equal(names.filter((n) => n === 'HemnetBatchNormSums').length, 1, names.join(', '));
      else assert.ok(!names.includes('HemnetBatchNormSums'), names.join(', '));
      tf.dispose([x, mean, variance, offset, scale]);
    });

    it('leaks no tensors in a layers batch-norm training step', async () => {
      await setBackend(backend);
      const layer = tf.layers.batchNormalization();
      const x = randn([2, 4, 4, 3], 7);
      layer.apply(x);
      assertNoLeak(() => tf.grad((t: tf.Tensor) => tf.sum(tf.square(layer.apply(t, { training: true }) as tf.Tensor)))(x), backend);
      tf.dispose(x);
      layer.dispose();
    });
  });
}
