import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertClose, randn, useBackend } from '../../test/helpers.js';
import { winogradConv2d, winogradConvApplies, winogradConvAvailable, winogradFilters } from './winograd.js';
import { withWasmWinograd } from '../kernels/winogradTraining.js';

describe('Winograd F(2×2, 3×3) convolution for inference', () => {
  it('winogradFilters: U = G·g·Gᵀ, checked on a hand-computed 3 × 3 filter', async () => {
    await useBackend('cpu');
    // One channel pair, g = [[1, 2, 3], [4, 5, 6], [7, 8, 9]].
    const g = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [3, 3, 1, 1]);
    const u = winogradFilters(g).map((t) => t.dataSync()[0] as number);
    // G·g rows: [1, 2, 3], [6, 7.5, 9], [2, 2.5, 3], [7, 8, 9]; then (G·g)·Gᵀ per row r: [r0, (r0+r1+r2)/2, (r0−r1+r2)/2, r2].
    const expected = [
      [1, 3, 1, 3],
      [6, 11.25, 3.75, 9],
      [2, 3.75, 1.25, 3],
      [7, 12, 4, 9],
    ].flat();
    assert.deepEqual(u, expected);
    assert.throws(() => winogradFilters(tf.zeros([1, 1, 4, 4]) as tf.Tensor4D), /winogradFilters: 'filter' must be \[3, 3, C, Co\], received \[1, 1, 4, 4\]/);
    g.dispose();
  });

  it('winogradConvApplies: 3×3, stride 1, one dilation d on both axes with d pixels of padding, channels multiples of 4, maps multiples of 2d', () => {
    const ok = (x: number[], f: number[], s: [number, number] = [1, 1], d: [number, number] = [1, 1], pad: Parameters<typeof winogradConvApplies>[4] = 'same') => winogradConvApplies(x, f, s, d, pad);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 32]), true);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 32], [1, 1], [1, 1], [[1, 1], [1, 1]]), true);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 32], [1, 1], [1, 1], [[0, 1], [1, 1]]), false);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 32], [1, 1], [1, 1], 'valid'), false);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 32], [2, 2]), false);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 32], [1, 1], [2, 2]), true);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 32], [1, 1], [2, 2], [[2, 2], [2, 2]]), true);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 32], [1, 1], [2, 2], [[1, 1], [1, 1]]), false);
    assert.equal(ok([2, 6, 8, 16], [3, 3, 16, 32], [1, 1], [2, 2]), false);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 32], [1, 1], [2, 1]), false);
    assert.equal(ok([2, 8, 8, 16], [1, 1, 16, 32]), false);
    assert.equal(ok([2, 7, 8, 16], [3, 3, 16, 32]), false);
    assert.equal(ok([2, 8, 8, 6], [3, 3, 6, 32]), false);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 16, 30]), false);
    assert.equal(ok([2, 8, 8, 16], [3, 3, 8, 32]), false);
  });

  it('wasm: equals tf.conv2d (+ bias, ReLU) to float32 rounding, on non-square maps, batch 1 and 3, 4 channels, without bias or ReLU, dilations 2 and 3; leaks nothing', async () => {
    await useBackend('wasm');
    assert.equal(winogradConvAvailable(), true, 'the wasm backend runs HemnetWinogradConv2D (WebAssembly SIMD)');
    const before = tf.memory().numTensors;
    const cases: Array<[number, number, number, number, number, boolean, boolean, number]> = [
      // B, H, W, C, Co, bias, relu, dilation
      [1, 2, 2, 4, 4, true, true, 1],
      [3, 6, 10, 8, 12, true, false, 1],
      [2, 8, 8, 64, 128, false, true, 1],
      [1, 16, 4, 20, 8, false, false, 1],
      [2, 8, 8, 64, 128, true, true, 2],
      [1, 12, 4, 8, 4, false, false, 2],
      [1, 12, 6, 4, 8, true, false, 3],
    ];
    for (const [B, H, W, C, Co, withBias, relu, dilation] of cases) {
      const x = randn([B, H, W, C], H * 7 + C) as tf.Tensor4D;
      const filter = randn([3, 3, C, Co], Co + 1, 0.3) as tf.Tensor4D;
      const bias = withBias ? (randn([Co], 5) as tf.Tensor1D) : null;
      const u = winogradFilters(filter);
      const got = winogradConv2d(x, u, bias, relu, dilation);
      // The direct convolution (the wasm kernels would run these shapes as Winograd too).
      const want = withWasmWinograd(false, () => tf.tidy(() => {
        let y: tf.Tensor = tf.conv2d(x, filter, 1, 'same', 'NHWC', dilation);
        if (bias !== null) y = tf.add(y, bias);
        return relu ? tf.relu(y) : y;
      }));
      assert.deepEqual(got.shape, [B, H, W, Co]);
      assertClose(got, want, 1e-4, 1e-5, `[${B}, ${H}, ${W}, ${C}] → ${Co} bias ${withBias} relu ${relu} dilation ${dilation}`);
      if (!relu) assert.ok(got.dataSync().some((v) => v < 0), 'without ReLU negative outputs stay');
      tf.dispose([x, filter, ...(bias === null ? [] : [bias]), ...u, got, want]);
    }
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
  });

  it('wasm: rejects a wrong number of filters, odd maps and channel counts it cannot take', async () => {
    await useBackend('wasm');
    const x = tf.zeros([1, 4, 4, 4]) as tf.Tensor4D;
    const u = winogradFilters(tf.zeros([3, 3, 4, 4]) as tf.Tensor4D);
    assert.throws(() => winogradConv2d(x, u.slice(1), null, false), /winogradConv2d: expects the 16 transformed filters of winogradFilters, received 15/);
    const odd = tf.zeros([1, 5, 4, 4]) as tf.Tensor4D;
    assert.throws(() => winogradConv2d(odd, u, null, false), /HemnetWinogradConv2D: x must be \[B, H, W, C\] with H, W even/);
    const wrongBias = tf.zeros([3]) as tf.Tensor1D;
    assert.throws(() => winogradConv2d(x, u, wrongBias, false), /HemnetWinogradConv2D: bias must be \[4\], received \[3\]/);
    assert.throws(() => winogradConv2d(x, u, null, false, 4), /HemnetWinogradConv2D: dilation must be a positive integer with H and W multiples of 2·dilation, received dilation 4 for a 4 × 4 map/);
    tf.dispose([x, odd, wrongBias, ...u]);
  });
});
