import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { sumOfSquares } from '../backends/native/sumOfSquares.js';
import { useBackend } from '../../test/helpers.js';
import { simdSumOfSquares } from './sumOfSquaresSimd.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend } from './wasmHeap.js';

describe('HemnetSumOfSquares on wasm: whole groups of 4 in SIMD, the rest in JS', () => {
  it('equals Σ w² in float64 over tensors of every length modulo 4, and one of the default model\'s size; leaks nothing', async () => {
    await useBackend('wasm');
    assert.notEqual(simdSumOfSquares(memoryOf(asWasmBackend(tf.backend(), 'test'))), null, 'the SIMD module instantiates on the wasm memory');
    const lengths = [1, 2, 3, 4, 5, 7, 8, 1001, 427_483];
    const arrays = lengths.map((n, i) => Float32Array.from({ length: n }, (_, j) => Math.sin(1 + 7 * j + i) * (j % 3 === 0 ? 3 : 0.01)));
    const tensors = arrays.map((a) => tf.tensor1d(a));
    let want = 0;
    for (const a of arrays) for (const w of a) want += w * w;
    const before = tf.memory().numTensors;
    const got = sumOfSquares(tensors);
    assert.equal(tf.getBackend(), 'wasm');
    const value = got.dataSync()[0] as number;
    assert.ok(Math.abs(value - want) <= 1e-6 * want, `${value} against ${want}`);
    got.dispose();
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
    // One tensor at a time too (each its own SIMD run and JS tail).
    for (const [i, t] of tensors.entries()) {
      const a = arrays[i] as Float32Array;
      let expected = 0;
      for (const w of a) expected += w * w;
      const one = sumOfSquares([t]);
      assert.ok(Math.abs((one.dataSync()[0] as number) - expected) <= 1e-6 * expected, `length ${a.length}`);
      one.dispose();
    }
    tf.dispose(tensors);
  });
});
