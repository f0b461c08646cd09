import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { batchMatMul } from './batchMatMul.js';
import { TEST_BACKENDS, assertClose, assertNoLeak, randn, useBackend } from '../../test/helpers.js';

const FLAG_CASES: Array<[boolean, boolean]> = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

function operands(batch: number, transposeA: boolean, transposeB: boolean, seed: number): [tf.Tensor3D, tf.Tensor3D] {
  const [m, k, p] = [5, 7, 3];
  const a = randn(transposeA ? [batch, k, m] : [batch, m, k], seed) as tf.Tensor3D;
  const b = randn(transposeB ? [batch, p, k] : [batch, k, p], seed + 1) as tf.Tensor3D;
  return [a, b];
}

for (const backend of TEST_BACKENDS) {
  describe(`batchMatMul on ${backend}`, () => {
    it('matches tf.matMul in value and gradient for every transpose combination', async () => {
      await useBackend(backend);
      for (const batch of [1, 3]) {
        for (const [transposeA, transposeB] of FLAG_CASES) {
          tf.tidy(() => {
            const [a, b] = operands(batch, transposeA, transposeB, 11);
            const weights = randn([batch, 5, 3], 99);
            const label = `B=${batch} tA=${transposeA} tB=${transposeB}`;
            const split = batchMatMul(a, b, { transposeA, transposeB, path: 'split' });
            const stock = tf.matMul(a, b, transposeA, transposeB);
            assertClose(split, stock, 1e-5, 0, label);
            const lossSplit = (x: tf.Tensor, y: tf.Tensor) =>
              tf.sum(tf.mul(batchMatMul(x as tf.Tensor3D, y as tf.Tensor3D, { transposeA, transposeB, path: 'split' }), weights));
            const lossStock = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, transposeA, transposeB), weights));
            const [gaSplit, gbSplit] = tf.grads(lossSplit)([a, b]);
            const [gaStock, gbStock] = tf.grads(lossStock)([a, b]);
            assertClose(gaSplit!, gaStock!, 1e-5, 0, `${label} dA`);
            assertClose(gbSplit!, gbStock!, 1e-5, 0, `${label} dB`);
          });
        }
      }
    });

    it('leaks no tensors in forward and backward', async () => {
      await useBackend(backend);
      const [a, b] = operands(2, false, true, 3);
      assertNoLeak(() => batchMatMul(a, b, { transposeB: true, path: 'split' }), 'forward');
      assertNoLeak(() => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(batchMatMul(x as tf.Tensor3D, y as tf.Tensor3D, { transposeB: true, path: 'split' })))([a, b]), 'backward');
      tf.dispose([a, b]);
    });

    it('rejects mismatched shapes with a named error', async () => {
      await useBackend(backend);
      const a = tf.zeros([2, 3, 4]) as tf.Tensor3D;
      const b = tf.zeros([2, 5, 6]) as tf.Tensor3D;
      assert.throws(() => batchMatMul(a, b), /batchMatMul: inner dimensions must match, received \[2, 3, 4\] and \[2, 5, 6\]/);
      const c = tf.zeros([3, 4, 6]) as tf.Tensor3D;
      assert.throws(() => batchMatMul(a, c), /batchMatMul: batch sizes must match, received 2 and 3/);
      tf.dispose([a, b, c]);
    });
  });
}
