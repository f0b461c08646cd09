import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { weightedGradientSum } from './shardAverage.js';
import { assertClose, TEST_BACKENDS, useBackend } from '../../test/helpers.js';

/** Σᵢ wᵢ gᵢ in float64, variable by variable. */
function reference(own: number[][], others: Float32Array[], weights: number[]): number[][] {
  let offset = 0;
  return own.map((values) => {
    const out = values.map((v, j) => weights[0]! * v + others.reduce((sum, other, i) => sum + weights[i + 1]! * other[offset + j]!, 0));
    offset += values.length;
    return out;
  });
}

for (const backend of TEST_BACKENDS) {
  describe(`weightedGradientSum on ${backend}`, () => {
    const ownValues = [[1, -2, 3, 0.5, 4, -1], [10, 20], [0.25, -0.75, 2, 8]];
    const shapes = [[2, 3], [2], [1, 2, 2]];
    const flat = (seed: number): Float32Array => {
      const data = new Float32Array(new SharedArrayBuffer(4 * 14));
      for (let j = 0; j < 12; j++) data[j] = Math.sin(seed * 7 + j) * (j + 1);
      data[12] = 999; // values past the variables are ignored
      data[13] = -999;
      return data;
    };

    for (const workers of [1, 2]) {
      it(`sums this thread's tensors and ${workers} worker buffer(s) with their weights, in new tensors, without leaks`, async () => {
        await useBackend(backend);
        const own = ownValues.map((v, k) => tf.tensor(v, shapes[k]));
        const others = Array.from({ length: workers }, (_, i) => flat(i + 1));
        const weights = workers === 1 ? [0.375, 0.625] : [0.5, 0.2, 0.3];
        const before = tf.memory().numTensors;
        const sum = weightedGradientSum(own, others, weights);
        assert.equal(tf.memory().numTensors, before + own.length);
        const expected = reference(ownValues, others, weights);
        sum.forEach((t, k) => {
          assert.deepEqual(t.shape, shapes[k]);
          assert.notEqual(t.dataId, own[k]!.dataId);
          assertClose(t, expected[k]!, 1e-6, 1e-6, `variable ${k}`);
        });
        // The inputs are untouched.
        own.forEach((t, k) => assert.deepEqual(Array.from(t.dataSync()), ownValues[k]));
        tf.dispose([...own, ...sum]);
      });
    }

    it('rejects weights that do not match the shards, and worker buffers shorter than the variables', async () => {
      await useBackend(backend);
      const own = [tf.tensor([1, 2, 3])];
      assert.throws(() => weightedGradientSum(own, [new Float32Array(3)], [1]), /weightedGradientSum: 2 shards need as many weights, received 1/);
      assert.throws(() => weightedGradientSum(own, [new Float32Array(2)], [0.5, 0.5]), /worker 1's gradients hold 2 values, the variables 3/);
      tf.dispose(own);
    });
  });
}
