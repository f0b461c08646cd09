import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertClose, randn, useBackend } from '../../test/helpers.js';
import { allocatePlanes, forEachTileRow, PLANE_SKEW_FLOATS, winogradTiles } from './winogradConv.js';
import { asWasmBackend } from './wasmHeap.js';
import {
  setWasmWinograd, setWasmWinogradTile, wasmWinogradEnabled, wasmWinogradTile, withWasmWinograd, withWasmWinogradTile,
  WINOGRAD_F4_MIN_CHANNELS, WINOGRAD_FILTER_GRAD_MIN_CHANNELS, WINOGRAD_MIN_CHANNELS,
} from './winogradTraining.js';

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;

/** The conv's output and its input and filter gradients under a fixed upstream gradient. */
function convAndGrads(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number, pad: Pad, dilation: number, dy: tf.Tensor4D): tf.Tensor[] {
  return tf.tidy(() => {
    const y = tf.conv2d(x, filter, stride, pad, 'NHWC', dilation);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad, 'NHWC', dilation), dy)))([x, filter]);
    return [y, dx as tf.Tensor, dw as tf.Tensor];
  });
}

const identical = (a: tf.Tensor, b: tf.Tensor): boolean => {
  const [p, q] = [a.dataSync(), b.dataSync()];
  return p.length === q.length && p.every((v, i) => v === q[i]);
};

describe('Winograd F(4×4, 3×3) and F(2×2, 3×3) in the wasm training kernels (Conv2D, FusedConv2D, Conv2DBackpropInput, Conv2DBackpropFilter)', () => {
  it('3×3 stride-1 same convs from 32 channels, 16 where F(4×4) applies (dilated too, explicit padding d too): forward, input and filter gradients equal the direct conv to float32 rounding and are not its bits; leaks nothing', async () => {
    await useBackend('wasm');
    assert.equal(wasmWinogradEnabled(), true, 'on by default');
    const before = tf.memory().numTensors;
    const cases: Array<[number, number, number, number, number, number, Pad]> = [
      // B, H, W, C, Co, dilation, padding
      [2, 8, 8, 32, 32, 1, 'same'],
      [1, 6, 10, 64, 36, 1, 'same'],
      [3, 8, 4, 40, 128, 2, 'same'],
      [1, 12, 6, 36, 32, 3, 'same'],
      [2, 4, 8, 32, 32, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]],
      // Maps multiples of 4d: F(4×4, 3×3) (the ones above that are only multiples of 2d run F(2×2, 3×3)).
      [1, 8, 16, 32, 32, 2, 'same'],
      [1, 12, 24, 36, 32, 3, 'same'],
      [2, 16, 8, 16, 20, 1, 'same'],
    ];
    for (const [B, H, W, C, Co, d, pad] of cases) {
      const label = `[${B}, ${H}, ${W}, ${C}] → ${Co}, dilation ${d}, pad ${JSON.stringify(pad)}`;
      const x = randn([B, H, W, C], H + C) as tf.Tensor4D;
      const filter = randn([3, 3, C, Co], Co, 0.2) as tf.Tensor4D;
      const dy = randn([B, H, W, Co], W + Co) as tf.Tensor4D;
      const direct = withWasmWinograd(false, () => convAndGrads(x, filter, 1, pad, d, dy));
      const winograd = convAndGrads(x, filter, 1, pad, d, dy);
      ['forward', 'input gradient', 'filter gradient'].forEach((what, i) => {
        assertClose(winograd[i] as tf.Tensor, direct[i] as tf.Tensor, 1e-4, 1e-5, `${what} ${label}`);
        assert.ok(!identical(winograd[i] as tf.Tensor, direct[i] as tf.Tensor), `${what} ${label}: ran the direct conv (bit-identical), not Winograd`);
      });
      tf.dispose([x, filter, dy, ...direct, ...winograd]);
    }
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
  });

  it('equals the cpu backend: forward, input and filter gradients, and the fused conv with bias and ReLU', async () => {
    const shapes = { x: [2, 8, 8, 32], filter: [3, 3, 32, 24], bias: [24] };
    const run = (): tf.Tensor[] => {
      const x = randn(shapes.x, 3) as tf.Tensor4D;
      const filter = randn(shapes.filter, 4, 0.2) as tf.Tensor4D;
      const bias = randn(shapes.bias, 5) as tf.Tensor1D;
      const dy = randn([2, 8, 8, 24], 6) as tf.Tensor4D;
      const [y, dx, dw] = convAndGrads(x, filter, 1, 'same', 1, dy) as [tf.Tensor, tf.Tensor, tf.Tensor];
      const fused = tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias, activation: 'relu' });
      const values = [y, dx, dw, fused].map((t) => tf.tensor(t.dataSync(), t.shape));
      tf.dispose([x, filter, bias, dy, y, dx, dw, fused]);
      return values;
    };
    await useBackend('cpu');
    const want = run();
    await useBackend('wasm');
    const got = run();
    ['forward', 'input gradient', 'filter gradient', 'fused + bias + ReLU'].forEach((what, i) => assertClose(got[i] as tf.Tensor, want[i] as tf.Tensor, 1e-4, 1e-5, what));
    assert.ok((got[3] as tf.Tensor).dataSync().some((v) => v === 0), 'ReLU clips');
    tf.dispose([...want, ...got]);
  });

  it('leaves to the direct kernels (bit for bit): too few channels (F(4×4): 16, F(2×2): 32; the input gradient counts the output channels), stride 2, valid padding, odd maps, 1×1 and 5×5 filters, leaky ReLU', async () => {
    await useBackend('wasm');
    assert.equal(WINOGRAD_MIN_CHANNELS, 32);
    assert.equal(WINOGRAD_F4_MIN_CHANNELS, 16);
    assert.equal(WINOGRAD_FILTER_GRAD_MIN_CHANNELS, 16);
    const cases: Array<[string, number[], number[], number, Pad]> = [
      ['12 channels', [2, 8, 8, 12], [3, 3, 12, 12], 1, 'same'],
      ['stride 2', [2, 8, 8, 32], [3, 3, 32, 32], 2, 'same'],
      ['valid padding', [2, 8, 8, 32], [3, 3, 32, 32], 1, 'valid'],
      ['odd map', [2, 7, 8, 32], [3, 3, 32, 32], 1, 'same'],
      ['1×1', [2, 8, 8, 32], [1, 1, 32, 32], 1, 'same'],
      ['5×5', [2, 8, 8, 32], [5, 5, 32, 32], 1, 'same'],
      ['Co not a multiple of 4', [2, 8, 8, 32], [3, 3, 32, 30], 1, 'same'],
    ];
    for (const [label, xs, fs, stride, pad] of cases) {
      const x = randn(xs, 1) as tf.Tensor4D;
      const filter = randn(fs, 2, 0.2) as tf.Tensor4D;
      const y = tf.conv2d(x, filter, stride, pad);
      const dy = randn(y.shape, 3) as tf.Tensor4D;
      const direct = withWasmWinograd(false, () => convAndGrads(x, filter, stride, pad, 1, dy));
      const ours = convAndGrads(x, filter, stride, pad, 1, dy);
      direct.forEach((t, i) => assert.ok(identical(ours[i] as tf.Tensor, t), `${label}: output ${i} not the direct kernel's`));
      tf.dispose([x, filter, y, dy, ...direct, ...ours]);
    }
    {
      // The input gradient's convolution takes the forward conv's output channels, the filter gradient the
      // input channels from 16. On 8 × 8 maps (multiples of 4) the default runs F(4×4) from 16 channels; on
      // 6 × 10 maps (multiples of 2 only), and with setWasmWinogradTile(2), F(2×2) from 32: 16 → 32 runs its
      // forward direct there, 32 → 16 its input gradient, 12 → 32 its forward and filter gradient.
      for (const [H, W, tile] of [[8, 8, 4], [6, 10, 4], [8, 8, 2]] as const) {
        const f4 = tile === 4 && H % 4 === 0 && W % 4 === 0;
        const least = f4 ? WINOGRAD_F4_MIN_CHANNELS : WINOGRAD_MIN_CHANNELS;
        for (const [C, Co] of [[16, 32], [32, 16], [12, 32]] as const) {
          const label = `${C} → ${Co} on ${H} × ${W}, tile ${tile}`;
          const x = randn([2, H, W, C], 4) as tf.Tensor4D;
          const filter = randn([3, 3, C, Co], 5, 0.2) as tf.Tensor4D;
          const dy = randn([2, H, W, Co], 6) as tf.Tensor4D;
          const direct = withWasmWinograd(false, () => convAndGrads(x, filter, 1, 'same', 1, dy));
          const ours = withWasmWinogradTile(tile, () => convAndGrads(x, filter, 1, 'same', 1, dy));
          assert.equal(identical(ours[0] as tf.Tensor, direct[0] as tf.Tensor), C < least, `${label}: forward`);
          assert.equal(identical(ours[1] as tf.Tensor, direct[1] as tf.Tensor), Co < least, `${label}: input gradient`);
          assert.equal(identical(ours[2] as tf.Tensor, direct[2] as tf.Tensor), C < WINOGRAD_FILTER_GRAD_MIN_CHANNELS, `${label}: filter gradient`);
          ['forward', 'input gradient', 'filter gradient'].forEach((what, i) => assertClose(ours[i] as tf.Tensor, direct[i] as tf.Tensor, 1e-4, 1e-5, `${label}: ${what}`));
          tf.dispose([x, filter, dy, ...direct, ...ours]);
        }
      }
    }
    const x = randn([1, 8, 8, 32], 7) as tf.Tensor4D;
    const filter = randn([3, 3, 32, 32], 8, 0.2) as tf.Tensor4D;
    const leaky = () => tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', activation: 'leakyrelu', leakyreluAlpha: 0.1 });
    const [a, b] = [withWasmWinograd(false, leaky), leaky()];
    assert.ok(identical(a, b), 'leaky ReLU stays direct');
    tf.dispose([x, filter, a, b]);
  });

  it('a few Adam steps of a small conv net train alike with Winograd on and off', async () => {
    await useBackend('wasm');
    const train = (): number[] => {
      const x = randn([4, 8, 8, 32], 11) as tf.Tensor4D;
      const target = randn([4, 8, 8, 32], 12) as tf.Tensor4D;
      const w1 = tf.variable(randn([3, 3, 32, 32], 13, 0.1));
      const w2 = tf.variable(randn([3, 3, 32, 32], 14, 0.1));
      const optimizer = tf.train.adam(1e-2);
      const losses: number[] = [];
      for (let step = 0; step < 4; step++) {
        const loss = optimizer.minimize(() => {
          const h = tf.relu(tf.conv2d(x, w1 as tf.Variable<tf.Rank.R4>, 1, 'same'));
          return tf.mean(tf.square(tf.sub(tf.conv2d(h, w2 as tf.Variable<tf.Rank.R4>, 1, 'same', 'NHWC', 2), target))) as tf.Scalar;
        }, true) as tf.Scalar;
        losses.push(loss.dataSync()[0] as number);
        loss.dispose();
      }
      tf.dispose([x, target, w1, w2]);
      optimizer.dispose();
      return losses;
    };
    const direct = withWasmWinograd(false, train);
    const winograd = train();
    assert.ok((direct[3] as number) < (direct[0] as number), `the loss falls: ${direct.join(', ')}`);
    winograd.forEach((loss, i) => assert.ok(Math.abs(loss - (direct[i] as number)) <= 1e-4 * Math.abs(direct[i] as number), `step ${i}: ${loss} against ${direct[i]}`));
  });

  it('F(4×4, 3×3) runs where the map is a multiple of 4·dilation: its results differ in the last bits from F(2×2, 3×3) there, and equal them bit for bit where only F(2×2) applies', async () => {
    await useBackend('wasm');
    for (const [H, W, d, f4] of [[8, 8, 1, true], [8, 16, 2, true], [6, 10, 1, false], [8, 4, 2, false]] as const) {
      const x = randn([2, H, W, 32], 21) as tf.Tensor4D;
      const filter = randn([3, 3, 32, 32], 22, 0.2) as tf.Tensor4D;
      const dy = randn([2, H, W, 32], 23) as tf.Tensor4D;
      const small = withWasmWinogradTile(2, () => convAndGrads(x, filter, 1, 'same', d, dy));
      const large = withWasmWinogradTile(4, () => convAndGrads(x, filter, 1, 'same', d, dy));
      ['forward', 'input gradient', 'filter gradient'].forEach((what, i) => {
        assert.equal(identical(large[i] as tf.Tensor, small[i] as tf.Tensor), !f4, `${what}, ${H} × ${W}, dilation ${d}`);
        assertClose(large[i] as tf.Tensor, small[i] as tf.Tensor, 1e-4, 1e-5, `${what}, ${H} × ${W}, dilation ${d}`);
      });
      tf.dispose([x, filter, dy, ...small, ...large]);
    }
  });

  it('setWasmWinograd and setWasmWinogradTile check their arguments; the with… helpers restore the setting after a throw', () => {
    assert.throws(() => setWasmWinograd('no' as unknown as boolean), /setWasmWinograd: expects a boolean, received no/);
    assert.throws(() => setWasmWinogradTile(3 as unknown as 2), /setWasmWinogradTile: expects 2 or 4, received 3/);
    assert.throws(() => withWasmWinograd(false, () => {
      throw new Error('inside');
    }), /inside/);
    assert.throws(() => withWasmWinogradTile(2, () => {
      throw new Error('inside');
    }), /inside/);
    assert.equal(wasmWinogradEnabled(), true);
    assert.equal(wasmWinogradTile(), 4, 'F(4×4, 3×3) by default');
  });
});

describe('allocatePlanes (the transforms\' skewed plane buffers)', () => {
  it('puts plane ξ one 64-byte line further into the 4 KiB page than plane ξ − 1, without overlap', async () => {
    await useBackend('wasm');
    const backend = asWasmBackend(tf.backend(), 'test');
    for (const floatsPerPlane of [128 * 128, 16 * 128, 100]) {
      const { tensor, at } = allocatePlanes(backend, 36, floatsPerPlane);
      assert.equal(at.length, 36);
      for (let xi = 1; xi < 36; xi++) {
        const gap = (at[xi] as number) - (at[xi - 1] as number);
        assert.equal(gap, 4 * (floatsPerPlane + PLANE_SKEW_FLOATS), `gap between planes ${xi - 1} and ${xi}`);
        assert.ok(gap >= 4 * floatsPerPlane, 'planes overlap');
      }
      // Planes of whole vectors stay aligned to each other (the skew is 64 bytes).
      if (floatsPerPlane % 4 === 0) assert.ok(at.every((a) => (a - (at[0] as number)) % 16 === 0), 'a plane is not aligned to the first');
      if ((4 * floatsPerPlane) % 4096 === 0) {
        const sets = new Set(at.map((a) => Math.floor(((a - (at[0] as number)) % 4096) / 64)));
        assert.equal(sets.size, 36, 'planes of a multiple of 4 KiB should start on 36 different cache lines of the page');
      }
      assert.equal(tensor.shape[0], 36 * (floatsPerPlane + PLANE_SKEW_FLOATS));
      backend.disposeData(tensor.dataId);
    }
  });
});

describe('forEachTileRow (runs of rows of tiles, one WebAssembly call each)', () => {
  /** Every row of tiles a set of runs covers: its first address and its matrices' first address, in order. */
  function rowsOf(plan: ReturnType<typeof winogradTiles>, mapHeight: number, mapWidth: number, channels: number): { calls: number; rows: [number, number][] } {
    const rows: [number, number][] = [];
    let calls = 0;
    forEachTileRow(plan, 1000, mapHeight, mapWidth, channels, [5000, 9000], (leading, matrices, count, advance) => {
      calls++;
      const end = leading[5];
      assert.equal(matrices.length, 2);
      assert.equal((matrices[1] as number) - (matrices[0] as number), 4000, 'every matrix shifts alike');
      for (let r = 0; r < count; r++) rows.push([leading[0] + r * advance, (matrices[0] as number) + r * end]);
    });
    return { calls, rows };
  }
  /** One entry per row of tiles, as one call per row addressed them. */
  function expected(plan: ReturnType<typeof winogradTiles>, mapHeight: number, mapWidth: number, channels: number): [number, number][] {
    const pixel = 4 * channels;
    return plan.rowStarts.map(([b, y0, rx], call) => [1000 + ((b * mapHeight + y0) * mapWidth + rx) * pixel, 5000 + call * plan.perCall * pixel]);
  }

  it('covers every row of tiles in order, as one call per row did; one run per image of a padded map, one for an unpadded batch, several with dilation', () => {
    const cases = [
      { plan: winogradTiles(3, 8, 12, 1, 4), mapHeight: 10, mapWidth: 14, calls: 3 }, // padded input: a run per image
      { plan: winogradTiles(3, 8, 12, 1, 4), mapHeight: 8, mapWidth: 12, calls: 1 }, // output: the whole batch
      { plan: winogradTiles(2, 8, 8, 1, 2), mapHeight: 10, mapWidth: 10, calls: 2 },
      { plan: winogradTiles(2, 8, 8, 2, 2), mapHeight: 12, mapWidth: 12, calls: -1 }, // dilation 2: interleaved rows
      { plan: winogradTiles(1, 4, 4, 1, 4), mapHeight: 6, mapWidth: 6, calls: 1 }, // a single row
    ];
    for (const { plan, mapHeight, mapWidth, calls } of cases) {
      const got = rowsOf(plan, mapHeight, mapWidth, 8);
      assert.deepEqual(got.rows, expected(plan, mapHeight, mapWidth, 8), `rows of a ${plan.batch}×${plan.height}×${plan.width} plan, d ${plan.dilation}, map ${mapHeight}×${mapWidth}`);
      if (calls > 0) assert.equal(got.calls, calls);
      else assert.ok(got.calls > 1 && got.calls < plan.rowStarts.length, `dilation: ${got.calls} calls for ${plan.rowStarts.length} rows`);
    }
  });
});
