import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { conv2dFilterGradByConv, conv2dInputGradByConv, kernelsInstalled } from './index.js';
import { assertClose, assertNoLeak } from '../../test/helpers.js';
import { setFilterGradByRows } from './conv2dBackpropFilter.js';
import { setInputGradByRows } from './conv2dBackpropInput.js';

type Pad = 'same' | 'valid';

interface Case {
  batch: number;
  size: [number, number];
  channels: [number, number];
  kernel: [number, number];
  stride: number;
  pad: Pad;
  dilation: number;
}

/** Deterministic values in [−1, 1) from a small LCG, independent of any backend. */
function values(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/** Output size and leading pad, written out from the TensorFlow padding rules. */
function axis(size: number, kernel: number, stride: number, dilation: number, pad: Pad): { out: number; before: number } {
  const span = (kernel - 1) * dilation + 1;
  if (pad === 'valid') return { out: Math.ceil((size - span + 1) / stride), before: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + span - size, 0);
  return { out, before: Math.floor(total / 2) };
}

/**
 * Direct loops over the definition
 *   y[b, oh, ow, co] = Σ x[b, oh·s − top + kh·d, ow·s − left + kw·d, ci] · w[kh, kw, ci, co],
 * returning y and, for an upstream gradient g, dx and dw.
 */
function reference(c: Case, x: Float32Array, w: Float32Array, g: Float32Array | null) {
  const [H, W] = c.size;
  const [Ci, Co] = c.channels;
  const [KH, KW] = c.kernel;
  const ah = axis(H, KH, c.stride, c.dilation, c.pad);
  const aw = axis(W, KW, c.stride, c.dilation, c.pad);
  const y = new Float32Array(c.batch * ah.out * aw.out * Co);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let b = 0; b < c.batch; b++)
    for (let oh = 0; oh < ah.out; oh++)
      for (let ow = 0; ow < aw.out; ow++)
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * c.stride - ah.before + kh * c.dilation;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * c.stride - aw.before + kw * c.dilation;
            if (iw < 0 || iw >= W) continue;
            for (let ci = 0; ci < Ci; ci++) {
              const xi = ((b * H + ih) * W + iw) * Ci + ci;
              for (let co = 0; co < Co; co++) {
                const wi = ((kh * KW + kw) * Ci + ci) * Co + co;
                const yi = ((b * ah.out + oh) * aw.out + ow) * Co + co;
                y[yi] = (y[yi] as number) + (x[xi] as number) * (w[wi] as number);
                if (g !== null) {
                  dx[xi] = (dx[xi] as number) + (g[yi] as number) * (w[wi] as number);
                  dw[wi] = (dw[wi] as number) + (g[yi] as number) * (x[xi] as number);
                }
              }
            }
          }
        }
  return { y, dx: Array.from(dx), dw: Array.from(dw), outShape: [c.batch, ah.out, aw.out, Co] };
}

const CASES: Case[] = [];
for (const stride of [1, 2]) {
  for (const pad of ['same', 'valid'] as const) {
    CASES.push({ batch: 2, size: [9, 8], channels: [3, 4], kernel: [3, 3], stride, pad, dilation: 1 });
  }
}
for (const dilation of [2, 4]) {
  for (const pad of ['same', 'valid'] as const) {
    CASES.push({ batch: 2, size: [11, 10], channels: [5, 2], kernel: [3, 3], stride: 1, pad, dilation });
  }
}
CASES.push({ batch: 3, size: [7, 6], channels: [1, 6], kernel: [2, 3], stride: 2, pad: 'same', dilation: 1 });
CASES.push({ batch: 2, size: [8, 9], channels: [4, 3], kernel: [3, 2], stride: 1, pad: 'same', dilation: 2 });
CASES.push({ batch: 2, size: [6, 6], channels: [2, 2], kernel: [1, 1], stride: 2, pad: 'valid', dilation: 1 });
// Output channels a multiple of 4: the wasm filter gradient by per-row products (filterGradByRows), rows joined or not.
for (const stride of [1, 2]) {
  for (const pad of ['same', 'valid'] as const) {
    CASES.push({ batch: 2, size: [9, 8], channels: [3, 8], kernel: [3, 3], stride, pad, dilation: 1 });
    CASES.push({ batch: 2, size: [7, 10], channels: [5, 12], kernel: [1, 1], stride, pad, dilation: 1 });
  }
}
// Input channels a multiple of 4 at stride 2: the wasm input gradient by per-row products (inputGradByRows).
for (const pad of ['same', 'valid'] as const) {
  CASES.push({ batch: 2, size: [9, 8], channels: [4, 8], kernel: [3, 3], stride: 2, pad, dilation: 1 });
  CASES.push({ batch: 2, size: [7, 10], channels: [8, 4], kernel: [1, 1], stride: 2, pad, dilation: 1 });
}
CASES.push({ batch: 2, size: [10, 9], channels: [4, 6], kernel: [2, 3], stride: 2, pad: 'same', dilation: 1 });
CASES.push({ batch: 2, size: [11, 10], channels: [6, 4], kernel: [3, 3], stride: 1, pad: 'same', dilation: 3 });
CASES.push({ batch: 3, size: [7, 6], channels: [2, 8], kernel: [2, 3], stride: 2, pad: 'same', dilation: 1 });

function caseLabel(c: Case): string {
  return `B=${c.batch} ${c.size.join('x')} ${c.channels.join('->')} k=${c.kernel.join('x')} s=${c.stride} ${c.pad} d=${c.dilation}`;
}

/** Gradients of Σ conv2d(x, w) ⊙ g through the registered Conv2D gradient. */
function tfGradients(c: Case, xv: Float32Array, wv: Float32Array, gv: Float32Array, outShape: number[]) {
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, [c.batch, c.size[0], c.size[1], c.channels[0]]);
    const w = tf.tensor4d(wv, [c.kernel[0], c.kernel[1], c.channels[0], c.channels[1]]);
    const g = tf.tensor(gv, outShape);
    const loss = (input: tf.Tensor, filter: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(input as tf.Tensor4D, filter as tf.Tensor4D, c.stride, c.pad, 'NHWC', c.dilation), g));
    const [dx, dw] = tf.grads(loss)([x, w]);
    const y = tf.conv2d(x, w, c.stride, c.pad, 'NHWC', c.dilation);
    return { y: Array.from(y.dataSync()), dx: Array.from(dx!.dataSync()), dw: Array.from(dw!.dataSync()) };
  });
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`conv2d gradients on ${backend} (hemnet kernels and Conv2D gradient)`, () => {
    it('match direct loops for strides 1/2, same/valid, dilation 1/2/4', async () => {
      await setBackend(backend);
      if (backend === 'wasm') assert.equal(kernelsInstalled('wasm'), true);
      for (const [index, c] of CASES.entries()) {
        const [H, W] = c.size;
        const xv = values(c.batch * H * W * c.channels[0], 10 + index);
        const wv = values(c.kernel[0] * c.kernel[1] * c.channels[0] * c.channels[1], 100 + index);
        const probe = reference(c, xv, wv, null);
        const gv = values(probe.y.length, 1000 + index);
        const expected = reference(c, xv, wv, gv);
        const actual = tfGradients(c, xv, wv, gv, expected.outShape);
        const label = `${backend} ${caseLabel(c)}`;
        assertClose(actual.y, Array.from(expected.y), 1e-6, 1e-4, `${label} y`);
        assertClose(actual.dx, expected.dx, 1e-6, 1e-4, `${label} dx`);
        assertClose(actual.dw, expected.dw, 1e-6, 1e-4, `${label} dw`);
      }
    });

    it('leaks no tensors through forward and backward', async () => {
      await setBackend(backend);
      for (const dilation of [1, 2]) {
        const x = tf.tensor4d(values(2 * 6 * 6 * 3, 7), [2, 6, 6, 3]);
        const w = tf.tensor4d(values(3 * 3 * 3 * 4, 8), [3, 3, 3, 4]);
        const loss = (input: tf.Tensor, filter: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(input as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same', 'NHWC', dilation)));
        assertNoLeak(() => tf.grads(loss)([x, w]), `${backend} d=${dilation}`);
        tf.dispose([x, w]);
      }
    });
  });
}

describe('portable dilated formulation (conv2dInputGradByConv / conv2dFilterGradByConv)', () => {
  it('matches direct loops on cpu and rejects strides > 1 by name', async () => {
    await setBackend('cpu');
    const c: Case = { batch: 2, size: [7, 8], channels: [3, 2], kernel: [3, 3], stride: 1, pad: 'same', dilation: 3 };
    const xv = values(2 * 7 * 8 * 3, 5);
    const wv = values(3 * 3 * 3 * 2, 6);
    const gv = values(reference(c, xv, wv, null).y.length, 9);
    const expected = reference(c, xv, wv, gv);
    tf.tidy(() => {
      const x = tf.tensor4d(xv, [2, 7, 8, 3]);
      const w = tf.tensor4d(wv, [3, 3, 3, 2]);
      const g = tf.tensor4d(gv, expected.outShape as [number, number, number, number]);
      const attrs = { strides: [1, 1], pad: 'same', dilations: [3, 3], dataFormat: 'NHWC' };
      assertClose(conv2dInputGradByConv(x.shape, g, w, attrs), expected.dx, 1e-6, 1e-4, 'dx');
      assertClose(conv2dFilterGradByConv(x, g, w.shape, attrs), expected.dw, 1e-6, 1e-4, 'dw');
      assert.throws(
        () => conv2dInputGradByConv(x.shape, g, w, { ...attrs, strides: [2, 2], dilations: [1, 1] }),
        /conv2dInputGradByConv: strides must be 1, received \[2, 2\]/,
      );
    });
  });
});

describe('hemnet wasm conv kernels: boundaries', () => {
  it('name the kernel and the unsupported dataFormat', async () => {
    await setBackend('wasm');
    const x = tf.zeros([1, 4, 4, 2]);
    const dy = tf.zeros([1, 4, 4, 3]);
    assert.throws(
      () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
          strides: [1, 1], pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3],
        }),
      /Conv2DBackpropFilter: hemnet wasm kernel supports dataFormat 'NHWC' only, received 'NCHW'/,
    );
    tf.dispose([x, dy]);
  });
});

describe('the wasm conv gradients by rows when the heap grows inside the kernel', () => {
  it('stride-2 input and filter gradients of a map large enough to grow the wasm memory equal the col2im / im2col paths', async () => {
    await setBackend('wasm');
    const memory = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8;
    const heapBefore = memory.byteLength;
    // dx is [1, 1024, 1024, 16]: 64 MiB, more than a fresh heap holds, so its allocation grows the memory.
    const dy = tf.randomNormal([1, 512, 512, 16], 0, 1, 'float32', 7) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 16, 16], 0, 1, 'float32', 8) as tf.Tensor4D;
    const attrs = { strides: [2, 2], pad: 'same', dataFormat: 'NHWC', inputShape: [1, 1024, 1024, 16] };
    const byRows = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, attrs) as tf.Tensor;
    const heapAfter = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.byteLength;
    const previous = setInputGradByRows(false);
    const byCol2im = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, attrs) as tf.Tensor;
    setInputGradByRows(previous);
    assertClose(byRows, byCol2im, 1e-4, 1e-4, 'dx by rows against col2im');
    // The filter gradient of the same layer (x the size of dx), after the growth: by rows against im2col.
    const x = tf.randomNormal([1, 1024, 1024, 16], 0, 1, 'float32', 9) as tf.Tensor4D;
    const fattrs = { strides: [2, 2], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 16, 16] };
    const dwRows = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, fattrs) as tf.Tensor;
    const before = setFilterGradByRows(false);
    const dwIm2col = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, fattrs) as tf.Tensor;
    setFilterGradByRows(before);
    const scale = dwIm2col.abs().max().dataSync()[0] as number;
    // Both are float32 sums of 262,144 terms per weight, in different orders.
    assertClose(dwRows, dwIm2col, 1e-4 * scale, 0, 'dW by rows against im2col');
    assert.ok(heapAfter > heapBefore, `the test did not grow the heap (${heapBefore} → ${heapAfter} bytes); make dx larger`);
    tf.dispose([dy, w, byRows, byCol2im, x, dwRows, dwIm2col]);
  });
});
