import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../test/helpers.js';

/** The stock formula: dx = (dy with the reduced axes kept as 1) · ones(x.shape) (÷ n). */
function stockDx(dy: tf.Tensor, shape: number[], axes: number[], n: number | null): Float32Array {
  return tf.tidy(() => {
    const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const product = tf.mul(tf.reshape(dy, kept), tf.ones(shape));
    return (n === null ? product : tf.div(product, n)).dataSync() as Float32Array;
  });
}

describe('Mean / Sum gradients (broadcast, no ones tensor)', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`${backend}: equal the stock formula bit for bit, for several axes and keepDims`, async () => {
      await useBackend(backend);
      const shape = [2, 3, 4, 5];
      const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
      for (const axes of [[0], [1, 2], [0, 1, 2], [3], [0, 1, 2, 3]]) {
        for (const keepDims of [false, true]) {
          for (const op of ['mean', 'sum'] as const) {
            const reduced = (t: tf.Tensor) => (op === 'mean' ? tf.mean(t, axes, keepDims) : tf.sum(t, axes, keepDims));
            const outShape = reduced(x).shape;
            const dy = tf.randomNormal(outShape, 0, 1, 'float32', 2);
            const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(reduced(t), dy)))(x);
            const n = axes.reduce((p, a) => p * (shape[a] as number), 1);
            const expected = stockDx(dy, shape, axes, op === 'mean' ? n : null);
            assert.deepEqual(dx.shape, shape);
            assert.deepEqual(Array.from(dx.dataSync()), Array.from(expected), `${op} over [${axes.join(',')}] keepDims ${keepDims}`);
            tf.dispose([dy, dx]);
          }
        }
      }
      x.dispose();
    });
  }

  it('wasm: HemnetBroadcastTo equals tf.broadcastTo for every pattern of size-1 axes (rank 4) and a scalar', async () => {
    await useBackend('wasm');
    const shape = [3, 4, 2, 5];
    for (let mask = 0; mask < 16; mask++) {
      const inShape = shape.map((d, i) => ((mask >> i) & 1 ? 1 : d));
      const x = tf.randomNormal(inShape, 0, 1, 'float32', mask + 1);
      const ours = tf.engine().runKernel('HemnetBroadcastTo', { x }, { shape }) as tf.Tensor;
      const stock = tf.broadcastTo(x, shape);
      assert.deepEqual(ours.shape, shape);
      assert.deepEqual(Array.from(ours.dataSync()), Array.from(stock.dataSync()), `from [${inShape.join(', ')}]`);
      tf.dispose([x, ours, stock]);
    }
    const one = tf.scalar(2.5);
    const filled = tf.engine().runKernel('HemnetBroadcastTo', { x: tf.reshape(one, [1, 1]) }, { shape: [7, 9] }) as tf.Tensor;
    assert.deepEqual(Array.from(filled.dataSync()), new Array(63).fill(2.5));
    assert.throws(() => tf.engine().runKernel('HemnetBroadcastTo', { x: tf.zeros([2, 3]) }, { shape: [4, 3] }), /HemnetBroadcastTo: cannot broadcast \[2, 3\] to \[4, 3\]/);
    tf.dispose([one, filled]);
  });

  it('wasm: the mean gradient runs no Multiply on a full-size ones tensor, but one heap broadcast', async () => {
    await useBackend('wasm');
    const x = tf.randomNormal([8, 16, 16, 4]);
    const profile = await tf.profile(() => tf.tidy(() => void tf.grad((t: tf.Tensor) => tf.mean(t))(x)));
    const names = profile.kernels.map((k) => k.name);
    assert.ok(!names.includes('Multiply'), names.join(' '));
    assert.ok(names.includes('HemnetBroadcastTo'), names.join(' '));
    x.dispose();
  });
});
