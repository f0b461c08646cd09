import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { setFusedReluGrad } from '../backends/native/reluGrad.js';
import { RELU_GRAD_WASM_KERNEL, simdReluGrad } from './reluGrad.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend } from './wasmHeap.js';
import { randn } from '../../test/helpers.js';

const reluGradient = (x: tf.Tensor, dy: tf.Tensor): number[] => tf.tidy(() => Array.from(tf.grad((a: tf.Tensor) => tf.relu(a))(x, dy).dataSync()));

describe('HemnetReluGrad on wasm (the ReLU gradient as one WebAssembly SIMD kernel)', () => {
  it('equals tfjs\'s Step · Cast · Multiply bit for bit (±0, NaN, ±∞, subnormals; lengths with and without a JS tail), as one kernel, without leaks', async () => {
    await setBackend('wasm');
    assert.notEqual(simdReluGrad(memoryOf(asWasmBackend(tf.backend(), 'test'))), null, 'the SIMD module instantiates on the wasm backend');
    const special = [
      [tf.tensor([-2, -0, 0, 0.5, 3, NaN, -1e-30, 1e-30]), tf.tensor([1, 2, -3, 4, -5, 6, Infinity, -Infinity])],
      [tf.tensor([-2, -0, 0, 0.5, 3, NaN, -1e-30, 1e-30, -1, 2, NaN]), tf.tensor([-1, -2, 3, 4, -5, 6, 7, Infinity, -Infinity, NaN, 1])],
      [randn([3, 17, 5, 7], 1), randn([3, 17, 5, 7], 2)],
    ] as const;
    for (const [x, dy] of special) {
      setFusedReluGrad(false);
      const expected = reluGradient(x, dy);
      setFusedReluGrad(true);
      assert.deepEqual(reluGradient(x, dy), expected, `[${x.shape.join(', ')}]`);
    }
    const [x, dy] = special[1];
    const profile = await tf.profile(() => tf.grad((a: tf.Tensor) => tf.relu(a))(x, dy));
    const names = profile.kernels.map((k) => k.name);
    assert.ok(names.includes(RELU_GRAD_WASM_KERNEL) && !names.includes('Step') && !names.includes('Cast'), names.join(' '));
    tf.dispose(profile.result as tf.Tensor);
    const before = tf.memory().numTensors;
    tf.dispose(tf.grad((a: tf.Tensor) => tf.relu(a))(x, dy));
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
    tf.dispose(special.flat());
  });

  it('rejects inputs of different shapes or dtypes', async () => {
    await setBackend('wasm');
    const x = tf.zeros([4]);
    const dy = tf.zeros([5]);
    assert.throws(() => tf.engine().runKernel(RELU_GRAD_WASM_KERNEL, { dy, x }), /HemnetReluGrad: dy and x must be float32 of one shape, received float32 \[5\] and float32 \[4\]/);
    tf.dispose([x, dy]);
  });
});
