import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { countFlops, kernelFlops, modelForwardFlops } from './flops.js';

describe('countFlops (from the kernels a computation runs)', () => {
  it('counts a hand-checked small graph: conv, matMul, add, reshape', async () => {
    await tf.setBackend('cpu');
    const x = tf.ones([1, 8, 8, 2]) as tf.Tensor4D;
    const w = tf.ones([3, 3, 2, 4]) as tf.Tensor4D;
    const a = tf.ones([3, 5]) as tf.Tensor2D;
    const b = tf.ones([5, 7]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const count = await countFlops(() => {
      const y = tf.conv2d(x, w, 1, 'same'); // 2 · (1·8·8·4) · 3·3·2 = 9216
      const m = tf.matMul(a, b); // 2 · (3·7) · 5 = 210
      const s = tf.add(m, m); // 21
      const r = tf.reshape(s, [7, 3]); // 0
      return [y, r];
    });
    assert.equal(count.total, 9216 + 210 + 21);
    const byName = Object.fromEntries(count.byKernel.map((k) => [k.kernel, k.flops]));
    assert.equal(byName['Conv2D'], 9216);
    assert.equal(byName['Add'], 21);
    assert.equal(count.byKernel[0]?.kernel, 'Conv2D', 'sorted by FLOPs');
    assert.equal(tf.memory().numTensors, before, 'the profiled results are disposed');
    tf.dispose([x, w, a, b]);
  });

  it('gets K of a product right whatever the transposes', () => {
    // a [2, 5, 3] transposed to [2, 3, 5] times b [2, 5, 4] → out [2, 3, 4]: 2·24·5.
    assert.equal(kernelFlops('BatchMatMul', [[2, 5, 3], [2, 5, 4]], [[2, 3, 4]]), 240);
    assert.equal(kernelFlops('BatchMatMul', [[2, 3, 5], [2, 4, 5]], [[2, 3, 4]]), 240);
    // A conv's gradients cost what the forward conv costs.
    const forward = kernelFlops('Conv2D', [[1, 8, 8, 2], [3, 3, 2, 4]], [[1, 8, 8, 4]]);
    assert.equal(kernelFlops('Conv2DBackpropInput', [[1, 8, 8, 4], [3, 3, 2, 4]], [[1, 8, 8, 2]]), forward);
    assert.equal(kernelFlops('Conv2DBackpropFilter', [[1, 8, 8, 2], [1, 8, 8, 4]], [[3, 3, 2, 4]]), forward);
    assert.equal(kernelFlops('Transpose', [[100, 100]], [[100, 100]]), 0);
  });

  it('counts a dense model: the matMul dominates and matches 2·B·in·out', async () => {
    await tf.setBackend('cpu');
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [16], units: 8, useBias: false })] });
    const count = await modelForwardFlops(model, [4, 16]);
    assert.equal(count.byKernel.find((k) => k.kernel === 'MatMul' || k.kernel === '_FusedMatMul')?.flops, 2 * 4 * 16 * 8);
    model.dispose();
  });
});
