import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertClose, randn, useBackend } from '../../test/helpers.js';
import { setWasmWinograd, wasmWinogradEnabled, withWasmWinograd, WINOGRAD_FILTER_GRAD_MIN_CHANNELS, WINOGRAD_MIN_CHANNELS } from './winogradTraining.js';

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

describe('Winograd F(2×2, 3×3) in the wasm training kernels (Conv2D, FusedConv2D, Conv2DBackpropInput)', () => {
  it('3×3 stride-1 same convs from 32 channels (dilated too, explicit padding d too): forward, input and filter gradients equal the direct conv to float32 rounding and are not its bits; leaks nothing', async () => {
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

  it('leaves to the direct kernels (bit for bit): fewer than 32 channels (16 for the filter gradient; the input gradient counts the output channels), stride 2, valid padding, odd maps, 1×1 and 5×5 filters, leaky ReLU', async () => {
    await useBackend('wasm');
    assert.equal(WINOGRAD_MIN_CHANNELS, 32);
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
      // input channels from 16: 16 → 32 runs the forward direct, both gradients as Winograd; 32 → 16 the
      // input gradient direct; 12 → 32 the forward and the filter gradient direct.
      for (const [C, Co] of [[16, 32], [32, 16], [12, 32]] as const) {
        const x = randn([2, 8, 8, C], 4) as tf.Tensor4D;
        const filter = randn([3, 3, C, Co], 5, 0.2) as tf.Tensor4D;
        const dy = randn([2, 8, 8, Co], 6) as tf.Tensor4D;
        const direct = withWasmWinograd(false, () => convAndGrads(x, filter, 1, 'same', 1, dy));
        const ours = convAndGrads(x, filter, 1, 'same', 1, dy);
        assert.equal(identical(ours[0] as tf.Tensor, direct[0] as tf.Tensor), C < WINOGRAD_MIN_CHANNELS, `${C} → ${Co}: forward`);
        assert.equal(identical(ours[1] as tf.Tensor, direct[1] as tf.Tensor), Co < WINOGRAD_MIN_CHANNELS, `${C} → ${Co}: input gradient`);
        assert.equal(identical(ours[2] as tf.Tensor, direct[2] as tf.Tensor), C < WINOGRAD_FILTER_GRAD_MIN_CHANNELS, `${C} → ${Co}: filter gradient`);
        assertClose(ours[2] as tf.Tensor, direct[2] as tf.Tensor, 1e-4, 1e-5, `${C} → ${Co}: filter gradient`);
        assertClose(ours[1] as tf.Tensor, direct[1] as tf.Tensor, 1e-4, 1e-5, `${C} → ${Co}: input gradient`);
        tf.dispose([x, filter, dy, ...direct, ...ours]);
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

  it('setWasmWinograd checks its argument; withWasmWinograd restores the switch after a throw', () => {
    assert.throws(() => setWasmWinograd('no' as unknown as boolean), /setWasmWinograd: expects a boolean, received no/);
    assert.throws(() => withWasmWinograd(false, () => {
      throw new Error('inside');
    }), /inside/);
    assert.equal(wasmWinogradEnabled(), true);
  });
});
