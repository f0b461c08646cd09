import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertClose, randn, useBackend } from '../../test/helpers.js';
import { winogradConv2d, winogradConvApplies, winogradConvAvailable, winogradFilters } from './winograd.js';
import { withWasmWinograd } from '../kernels/winogradTraining.js';

describe('Winograd F(2×2, 3×3) and F(4×4, 3×3) convolutions for inference', () => {
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

  it('winogradFilters, tile 4: the 36 planes of F(4×4, 3×3), rows 0 and 5 checked by hand', async () => {
    await useBackend('cpu');
    const g = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [3, 3, 1, 1]);
    const u = winogradFilters(g, 4).map((t) => t.dataSync()[0] as number);
    assert.equal(u.length, 36);
    // G·g row 0 = ¼·[1, 2, 3], row 5 = [7, 8, 9]; then (G·g)·Gᵀ per row r:
    // [r0/4, −(r0 + r1 + r2)/6, −(r0 − r1 + r2)/6, (r0 + 2r1 + 4r2)/24, (r0 − 2r1 + 4r2)/24, r2].
    const row0 = [0.0625, -0.25, -1 / 12, 4.25 / 24, 2.25 / 24, 0.75];
    const row5 = [1.75, -4, -4 / 3, 59 / 24, 27 / 24, 9];
    assertClose(u.slice(0, 6), row0, 1e-7, 0, 'row 0');
    assertClose(u.slice(30, 36), row5, 1e-6, 0, 'row 5');
    // Row 1 = −⅙·(sum of g's rows) = [−2, −2.5, −3]: its first entry −2/4 and last −3.
    assertClose([u[6] as number, u[11] as number], [-0.5, -3], 1e-6, 0, 'row 1');
    assert.throws(() => winogradFilters(g, 3 as unknown as 2), /winogradFilters: 'tile' must be 2 or 4, received 3/);
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
    // Tile 4: the map's sides multiples of 4d.
    const ok4 = (x: number[], d = 1) => winogradConvApplies(x, [3, 3, x[3] as number, 8], [1, 1], [d, d], 'same', 4);
    assert.equal(ok4([1, 8, 12, 16]), true);
    assert.equal(ok4([1, 6, 8, 16]), false);
    assert.equal(ok4([1, 8, 16, 16], 2), true);
    assert.equal(ok4([1, 8, 12, 16], 2), false);
  });

  it('wasm: equals tf.conv2d (+ bias, ReLU) to float32 rounding with either tile, on non-square maps, batch 1 and 3, 4 channels, without bias or ReLU, dilations 2 and 3; leaks nothing', async () => {
    await useBackend('wasm');
    assert.equal(winogradConvAvailable(), true, 'the wasm backend runs HemnetWinogradConv2D (WebAssembly SIMD)');
    const before = tf.memory().numTensors;
    const cases: Array<[number, number, number, number, number, boolean, boolean, number, 2 | 4]> = [
      // B, H, W, C, Co, bias, relu, dilation, tile
      [1, 2, 2, 4, 4, true, true, 1, 2],
      [3, 6, 10, 8, 12, true, false, 1, 2],
      [2, 8, 8, 64, 128, false, true, 1, 2],
      [1, 16, 4, 20, 8, false, false, 1, 2],
      [2, 8, 8, 64, 128, true, true, 2, 2],
      [1, 12, 4, 8, 4, false, false, 2, 2],
      [1, 12, 6, 4, 8, true, false, 3, 2],
      [1, 4, 4, 4, 4, true, true, 1, 4],
      [3, 8, 12, 8, 12, true, false, 1, 4],
      [2, 8, 8, 64, 128, false, true, 1, 4],
      [1, 16, 4, 20, 8, false, false, 1, 4],
      [2, 8, 8, 128, 128, true, true, 2, 4],
      [1, 8, 16, 12, 8, false, false, 2, 4],
      [1, 24, 12, 4, 8, true, false, 3, 4],
    ];
    for (const [B, H, W, C, Co, withBias, relu, dilation, tile] of cases) {
      const x = randn([B, H, W, C], H * 7 + C) as tf.Tensor4D;
      const filter = randn([3, 3, C, Co], Co + 1, 0.3) as tf.Tensor4D;
      const bias = withBias ? (randn([Co], 5) as tf.Tensor1D) : null;
      const u = winogradFilters(filter, tile);
      assert.equal(u.length, (tile + 2) ** 2);
      const got = winogradConv2d(x, u, bias, relu, dilation);
      // The direct convolution (the wasm kernels would run these shapes as Winograd too).
      const want = withWasmWinograd(false, () => tf.tidy(() => {
        let y: tf.Tensor = tf.conv2d(x, filter, 1, 'same', 'NHWC', dilation);
        if (bias !== null) y = tf.add(y, bias);
        return relu ? tf.relu(y) : y;
      }));
      assert.deepEqual(got.shape, [B, H, W, Co]);
      // F(4×4, 3×3) rounds more (its filter transform has ⅙ and 1/24): ≈ 1e-5 of the largest output against ≈ 1e-6.
      assertClose(got, want, 1e-4, tile === 2 ? 1e-5 : 5e-5, `[${B}, ${H}, ${W}, ${C}] → ${Co} bias ${withBias} relu ${relu} dilation ${dilation} tile ${tile}`);
      if (!relu) assert.ok(got.dataSync().some((v) => v < 0), 'without ReLU negative outputs stay');
      tf.dispose([x, filter, ...(bias === null ? [] : [bias]), ...u, got, want]);
    }
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
  });

  it('wasm: rejects a wrong number of filters, odd maps and channel counts it cannot take', async () => {
    await useBackend('wasm');
    const x = tf.zeros([1, 4, 4, 4]) as tf.Tensor4D;
    const u = winogradFilters(tf.zeros([3, 3, 4, 4]) as tf.Tensor4D);
    assert.throws(() => winogradConv2d(x, u.slice(1), null, false), /winogradConv2d: expects the 16 \(F\(2×2, 3×3\)\) or 36 \(F\(4×4, 3×3\)\) transformed filters of winogradFilters, received 15/);
    const odd = tf.zeros([1, 5, 4, 4]) as tf.Tensor4D;
    assert.throws(() => winogradConv2d(odd, u, null, false), /HemnetWinogradConv2D: x must be \[B, H, W, C\] with H, W multiples of 2 \(F\(2×2, 3×3\)\)/);
    const wrongBias = tf.zeros([3]) as tf.Tensor1D;
    assert.throws(() => winogradConv2d(x, u, wrongBias, false), /HemnetWinogradConv2D: bias must be \[4\], received \[3\]/);
    assert.throws(() => winogradConv2d(x, u, null, false, 4), /HemnetWinogradConv2D: dilation must be a positive integer with H and W multiples of 2·dilation \(F\(2×2, 3×3\)\), received dilation 4 for a 4 × 4 map/);
    const u4 = winogradFilters(tf.zeros([3, 3, 4, 4]) as tf.Tensor4D, 4);
    const six = tf.zeros([1, 6, 8, 4]) as tf.Tensor4D;
    assert.throws(() => winogradConv2d(six, u4, null, false), /HemnetWinogradConv2D: x must be \[B, H, W, C\] with H, W multiples of 4 \(F\(4×4, 3×3\)\)/);
    assert.throws(() => winogradConv2d(x, u4, null, false, 2), /HemnetWinogradConv2D: dilation must be a positive integer with H and W multiples of 4·dilation \(F\(4×4, 3×3\)\), received dilation 2 for a 4 × 4 map/);
    const mixed = [...u4.slice(0, 35), tf.zeros([4, 8]) as tf.Tensor2D];
    assert.throws(() => winogradConv2d(x, mixed, null, false), /every u_ξ \[C, Co\]/);
    tf.dispose([x, odd, six, wrongBias, ...u, ...u4, mixed[35] as tf.Tensor2D]);
  });
});
