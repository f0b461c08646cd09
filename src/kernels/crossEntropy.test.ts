import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { setFusedCrossEntropy } from '../backends/native/crossEntropy.js';
import { segmentationCrossEntropy } from '../train/loss.js';
import { setSimdCrossEntropy } from './crossEntropy.js';
import { EXP_INPUT_MAX, EXP_INPUT_MIN, simdExp } from './expSimd.js';
import { assertClose, assertNoLeak } from '../../test/helpers.js';

describe('SIMD exponentials (expSimd.ts)', () => {
  it('are within 2 ulp of e^x over the whole float32 range of normal results, clamp outside it and keep NaN', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const kernel = simdExp(memory);
    assert.ok(kernel !== null, 'WebAssembly SIMD is available in Node 20');
    const count = 16384;
    const values = new Float32Array(memory.buffer, 0, count);
    const inputs = Float32Array.from({ length: count }, (_, i) => EXP_INPUT_MIN + ((EXP_INPUT_MAX - EXP_INPUT_MIN) * i) / (count - 1));
    values.set(inputs);
    kernel.exps(0, 4 * count);
    let worst = 0;
    inputs.forEach((x, i) => {
      const exact = Math.exp(x);
      worst = Math.max(worst, Math.abs((values[i] as number) - exact) / exact);
    });
    assert.ok(worst <= 2 * 2 ** -23, `worst relative error ${worst}`);
    values.set([NaN, -Infinity, -1000, 1000, 0, 1, -1, 0.5]);
    kernel.exps(0, 32);
    const out = Array.from(values.subarray(0, 8));
    assert.ok(Number.isNaN(out[0]));
    assert.ok((out[1] as number) > 0 && (out[1] as number) < 1.2e-38, `e^-inf → ${out[1]}`);
    assert.equal(out[2], out[1]);
    assert.ok(Number.isFinite(out[3]) && (out[3] as number) > 2e38, `e^1000 → ${out[3]}`);
    assert.equal(out[4], 1);
    assertClose(out.slice(5), [Math.E, 1 / Math.E, Math.sqrt(Math.E)], 0, 2.4e-7);
  });
});

describe('segmentation loss as one wasm kernel (crossEntropy.ts)', () => {
  /** Labels with some ignored pixels (255) and some outside [0, K) (a zero one-hot row: counted, not scored). */
  const mixedLabels = (shape: [number, number, number], k: number): tf.Tensor3D =>
    tf.tidy(() => {
      const u = tf.randomUniform(shape, 0, 1, 'float32', 32);
      const classes = tf.randomUniform(shape, 0, k, 'int32', 33);
      return tf.where(tf.less(u, 0.15), tf.fill(shape, 255, 'int32'), tf.where(tf.less(u, 0.2), tf.fill(shape, k + 2, 'int32'), classes)) as tf.Tensor3D;
    });
  const lossAndGradient = (fused: boolean, logits: tf.Tensor4D, labels: tf.Tensor3D): number[][] => {
    setFusedCrossEntropy(fused);
    try {
      return tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => segmentationCrossEntropy(x as tf.Tensor4D, labels))([logits]);
        return [value, ...grads].map((t) => Array.from(t.dataSync()));
      });
    } finally {
      setFusedCrossEntropy(true);
    }
  };

  it('equals the tfjs composition and cpu in value and gradient (ignored and out-of-range labels, all ignored, large logits, K not a multiple of 4)', async () => {
    await setBackend('wasm');
    for (const [shape, k, scale] of [[[2, 8, 8], 11, 3], [[1, 3, 5], 7, 40], [[2, 4, 4], 4, 1]] as [[number, number, number], number, number][]) {
      const logits = tf.mul(tf.randomNormal([...shape, k], 0, 1, 'float32', 31), scale) as tf.Tensor4D;
      const labels = mixedLabels(shape, k);
      const all = tf.fill(shape, 255, 'int32') as tf.Tensor3D;
      for (const l of [labels, all]) {
        const expected = lossAndGradient(false, logits, l);
        const before = tf.memory().numTensors;
        const actual = lossAndGradient(true, logits, l);
        assert.equal(tf.memory().numTensors, before, 'leaked tensors');
        actual.forEach((values, i) => assertClose(values, expected[i] as number[], 1e-7, 1e-5, `${shape}×${k}: ${i === 0 ? 'loss' : 'gradient'}`));
        // All in JS (Math.exp, no WebAssembly passes): the same to float error.
        const previous = setSimdCrossEntropy(false);
        try {
          lossAndGradient(true, logits, l).forEach((values, i) => assertClose(values, actual[i] as number[], 1e-8, 1e-6, `plain JS ${i}`));
        } finally {
          setSimdCrossEntropy(previous);
        }
        if (l === all) assert.deepEqual(actual[0], [0], 'no pixel scored: loss 0');
      }
      // The same loss on cpu (tfjs's composition there).
      const onWasm = lossAndGradient(true, logits, labels);
      const logitsData = logits.arraySync();
      const labelsData = labels.arraySync();
      await setBackend('cpu');
      const onCpu = lossAndGradient(true, tf.tensor4d(logitsData), tf.tensor3d(labelsData, undefined, 'int32'));
      onCpu.forEach((values, i) => assertClose(onWasm[i] as number[], values, 1e-7, 1e-5, `cpu ${i}`));
      await setBackend('wasm');
      tf.dispose([logits, labels, all]);
    }
  });

  it('runs the loss as one kernel and its gradient as one product, without leaks', async () => {
    await setBackend('wasm');
    const logits = tf.randomNormal([2, 4, 4, 5], 0, 1, 'float32', 34);
    const labels = tf.randomUniform([2, 4, 4], 0, 5, 'int32', 35) as tf.Tensor3D;
    const profile = await tf.profile(() => tf.grad((x: tf.Tensor) => segmentationCrossEntropy(x as tf.Tensor4D, labels))(logits));
    const names = profile.kernels.map((k) => k.name);
    assert.equal(names.filter((n) => n === 'HemnetSoftmaxCrossEntropy').length, 1, names.join(' '));
    assert.ok(!names.includes('OneHot') && !names.includes('Exp') && !names.includes('Log'), names.join(' '));
    tf.dispose(profile.result as tf.Tensor);
    assertNoLeak(() => segmentationCrossEntropy(logits as tf.Tensor4D, labels), 'loss');
    assertNoLeak(() => tf.grad((x: tf.Tensor) => segmentationCrossEntropy(x as tf.Tensor4D, labels))(logits), 'loss gradient');
    tf.dispose([logits, labels]);
  });

  it('gives NaN for a NaN logit (the training loop then stops with its message)', async () => {
    await setBackend('wasm');
    const logits = tf.tensor4d([0, NaN, 1, 2, 0, 1], [1, 1, 2, 3]);
    const labels = tf.tensor3d([0, 1], [1, 1, 2], 'int32');
    const loss = segmentationCrossEntropy(logits, labels);
    assert.ok(Number.isNaN(loss.dataSync()[0]));
    tf.dispose([logits, labels, loss]);
  });
});
