/**
 * `Conv2DBackpropInput` for the wasm backend, replacing the stock kernel
 * (~2 GFLOP/s) with a forward convolution on XNNPACK (~20-30 GFLOP/s), with
 * dilation support (attr `dilations`, default 1) for hemnet's Conv2D gradient.
 *
 * From the forward convention y[o] = Σ_k x[o·s − top + k·d] w[k] (per axis):
 *   dx[i] = Σ_{o, k : o·s − top + k·d = i} dy[o] · w[k]ᵀ
 *         = Σ_{k'} Z[i + k'·d] · wflip[k'],   k' = K − 1 − k,
 * where wflip[kh, kw, co, ci] = w[KH−1−kh, KW−1−kw, ci, co] and
 *   Z[m] = dy[(m − (K−1)·d + top) / s] when that index is an integer in range, else 0.
 * So dx is a stride-1, 'valid', dilation-d convolution of Z with wflip.
 * - 3×3, stride 1, 'same': that convolution as Winograd F(4×4, 3×3) (maps multiples of
 *   4·dilation, from 16 channels) or F(2×2, 3×3) (multiples of 2·dilation, from 32)
 *   (winogradTraining.ts), the flip folded into the filter transform;
 * - stride 1: Z is just dy padded, so the padding is passed to the conv
 *   (no copy) whenever both pads are ≥ 0;
 * - stride s > 1: the conv of Z would spend s² more multiply-adds than needed
 *   (3/4 of Z is zeros), so instead, with input channels a multiple of 4,
 *   per tap and output row an accumulating product into dx's rows
 *   (inputGradByRows), else (col2im)
 *     dcols[n, (kh, kw, ci)] = Σ_co dy[n, co] · w[kh, kw, ci, co]   (dy · wᵀ, one rank-2 product)
 *     dx[b, oh·s − top + kh·d, ow·s − left + kw·d, ci] += dcols[n, (kh, kw, ci)],
 *   the scatter-add in JS on the heap (2.5–4× faster on the model's stride-2 layers).
 */
import type * as tf from '@tensorflow/tfjs';
import { gemmOnMemory, simdGemm, type SimdGemm } from './batchMatMulSimd.js';
import { convGeometry, forEachTap, type ConvGeometry } from './convGeometry.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend, disposeAll, heapF32, matMul2d, offsetF32, runWasmKernel, transposeOnHeap, type WasmBackendLike } from './wasmHeap.js';
import { winogradInputGrad } from './winogradTraining.js';

const KERNEL = 'Conv2DBackpropInput';

let byRows = true;
/** For strides > 1, use `inputGradByRows` where it applies (default) or always col2im (false, e.g. to compare the two); returns the previous setting. */
export function setInputGradByRows(on: boolean): boolean {
  const previous = byRows;
  byRows = on;
  return previous;
}

/** wflip[kh, kw, co, ci] = w[KH−1−kh, KW−1−kw, ci, co]. */
function flippedFilter(backend: WasmBackendLike, filter: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const { filterHeight: KH, filterWidth: KW, inChannels: Ci, outChannels: Co } = g;
  const out = backend.makeOutput([KH, KW, Co, Ci], 'float32');
  const heap = heapF32(backend);
  const src = offsetF32(backend, filter);
  const dst = offsetF32(backend, out);
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      transposeOnHeap(heap, src + ((KH - 1 - kh) * KW + (KW - 1 - kw)) * Ci * Co, Ci, Co, dst + (kh * KW + kw) * Co * Ci);
    }
  }
  return out;
}

/** wᵀ[co, (kh, kw, ci)] = w[kh, kw, ci, co]. */
function transposedFilter(backend: WasmBackendLike, filter: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const K = g.filterHeight * g.filterWidth * g.inChannels;
  const Co = g.outChannels;
  const out = backend.makeOutput([Co, K], 'float32');
  const heap = heapF32(backend);
  const src = offsetF32(backend, filter);
  const dst = offsetF32(backend, out);
  transposeOnHeap(heap, src, K, Co, dst);
  return out;
}

/** dx by dcols = dy · wᵀ and a scatter-add of the patches (col2im), for strides > 1. */
function inputGradByCol2im(backend: WasmBackendLike, dy: tf.TensorInfo, filter: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: Ho, outWidth: Wo, outChannels: Co } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = g;
  const K = KH * KW * Ci;
  const wT = transposedFilter(backend, filter, g);
  const dyRows: tf.TensorInfo = { dataId: dy.dataId, shape: [B * Ho * Wo, Co], dtype: 'float32' };
  const dcols = matMul2d(backend, dyRows, wT); // [n, (kh, kw, ci)]
  const out = backend.makeOutput([B, H, W, Ci], 'float32');
  const heap = heapF32(backend);
  const o = offsetF32(backend, out);
  const d = offsetF32(backend, dcols);
  heap.fill(0, o, o + B * H * W * Ci);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0; ow < Wo; ow++) {
        const row = d + ((b * Ho + oh) * Wo + ow) * K;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - g.padTop + kh * dh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - g.padLeft + kw * dw;
            if (iw < 0 || iw >= W) continue;
            const to = o + ((b * H + ih) * W + iw) * Ci;
            const from = row + (kh * KW + kw) * Ci;
            for (let ci = 0; ci < Ci; ci++) heap[to + ci] = (heap[to + ci] as number) + (heap[from + ci] as number);
          }
        }
      }
    }
  }
  disposeAll(backend, [wT, dcols]);
  return out;
}

/**
 * dx for strides > 1 without the dcols buffer, in the SIMD block kernels
 * (input channels a multiple of 4): for each tap (kh, kw), image b and
 * output row oh whose input row ih = oh·sh − top + kh·dh lies inside,
 *   dx[b, ih, ow·sw − left + kw·dw, ·] += dy[b, oh, ow, ·] · w[kh, kw]ᵀ
 * over the output columns ow whose input column lies inside: one
 * accumulating product whose C rows are sw·Ci floats apart in dx. wᵀ per
 * tap is transposed once per call.
 */
function inputGradByRows(backend: WasmBackendLike, gemm: SimdGemm, dy: tf.TensorInfo, filter: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: Ho, outWidth: Wo, outChannels: Co, filterHeight: KH, filterWidth: KW } = g;
  const { strideHeight: sh, strideWidth: sw } = g;
  // wT[kh, kw, co, ci] = w[kh, kw, ci, co]: each tap's [Co, Ci] right operand.
  // Both outputs first: an allocation may grow the heap and detach an earlier view of it.
  const wT = backend.makeOutput([KH, KW, Co, Ci], 'float32');
  const out = backend.makeOutput([B, H, W, Ci], 'float32');
  const heap = heapF32(backend);
  const src = offsetF32(backend, filter);
  const dst = offsetF32(backend, wT);
  for (let t = 0; t < KH * KW; t++) transposeOnHeap(heap, src + t * Ci * Co, Ci, Co, dst + t * Co * Ci);
  const o = offsetF32(backend, out);
  heap.fill(0, o, o + B * H * W * Ci);
  const dyAt = 4 * offsetF32(backend, dy);
  const outAt = 4 * o;
  forEachTap(g, ({ tap, ihShift, iwShift, rows: [ohLo, ohHi], columns: [owLo, owHi] }) => {
    const wTap = 4 * (dst + tap * Co * Ci);
    for (let b = 0; b < B; b++) {
      for (let oh = ohLo; oh < ohHi; oh++) {
        const a = dyAt + 4 * (((b * Ho + oh) * Wo + owLo) * Co);
        const c = outAt + 4 * (((b * H + oh * sh + ihShift) * W + owLo * sw + iwShift) * Ci);
        gemmOnMemory(gemm, a, 4 * Co, 4, wTap, c, owHi - owLo, Co, Ci, true, 4 * sw * Ci);
      }
    }
  });
  disposeAll(backend, [wT]);
  return out;
}

/** Z of the header comment, [B, H + (KH−1)·dh, W + (KW−1)·dw, Co]. */
function spreadGradient(backend: WasmBackendLike, dy: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const { batch: B, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, outChannels: Co } = g;
  const shiftH = (g.filterHeight - 1) * g.dilationHeight - g.padTop;
  const shiftW = (g.filterWidth - 1) * g.dilationWidth - g.padLeft;
  const Hz = H + (g.filterHeight - 1) * g.dilationHeight;
  const Wz = W + (g.filterWidth - 1) * g.dilationWidth;
  const out = backend.makeOutput([B, Hz, Wz, Co], 'float32');
  const heap = heapF32(backend);
  const z = offsetF32(backend, out);
  const d = offsetF32(backend, dy);
  heap.fill(0, z, z + B * Hz * Wz * Co);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < Ho; oh++) {
      const m = oh * g.strideHeight + shiftH;
      if (m < 0 || m >= Hz) continue;
      for (let ow = 0; ow < Wo; ow++) {
        const q = ow * g.strideWidth + shiftW;
        if (q < 0 || q >= Wz) continue;
        const from = d + ((b * Ho + oh) * Wo + ow) * Co;
        heap.copyWithin(z + ((b * Hz + m) * Wz + q) * Co, from, from + Co);
      }
    }
  }
  return out;
}

/** The kernel function registered for `Conv2DBackpropInput` on wasm. */
export function conv2dBackpropInputWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: {};
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, KERNEL);
  const { dy, filter } = args.inputs;
  const attrs = args.attrs ?? {};
  if (dy === undefined || filter === undefined) throw new Error(`${KERNEL}: inputs 'dy' and 'filter' are required`);
  const inputShape = attrs['inputShape'];
  if (!Array.isArray(inputShape) || inputShape.length !== 4) {
    throw new Error(`${KERNEL}: attr 'inputShape' must be a rank-4 shape, received ${JSON.stringify(inputShape)}`);
  }
  const g = convGeometry(KERNEL, inputShape as number[], filter.shape, attrs);
  if (dy.shape[1] !== g.outHeight || dy.shape[2] !== g.outWidth || dy.shape[3] !== g.outChannels) {
    throw new Error(
      `${KERNEL}: 'dy' must have shape [${g.batch}, ${g.outHeight}, ${g.outWidth}, ${g.outChannels}], received [${dy.shape.join(', ')}]`,
    );
  }
  if (dy.shape.some((size) => size === 0) || filter.shape.some((size) => size === 0)) {
    const zeros = backend.makeOutput(inputShape as number[], 'float32');
    const start = offsetF32(backend, zeros);
    heapF32(backend).fill(0, start, start + (inputShape as number[]).reduce((a, b) => a * b, 1));
    return zeros;
  }
  if (g.strideHeight > 1 || g.strideWidth > 1) {
    const gemm = byRows && dy.dtype === 'float32' && filter.dtype === 'float32' && g.inChannels % 4 === 0 ? simdGemm(memoryOf(backend)) : null;
    return gemm !== null ? inputGradByRows(backend, gemm, dy, filter, g) : inputGradByCol2im(backend, dy, filter, g);
  }
  const byWinograd = winogradInputGrad(backend, dy, filter, g);
  if (byWinograd !== null) return byWinograd;
  const wflip = flippedFilter(backend, filter, g);
  const dilations = [g.dilationHeight, g.dilationWidth];
  const top = (g.filterHeight - 1) * g.dilationHeight - g.padTop;
  const left = (g.filterWidth - 1) * g.dilationWidth - g.padLeft;
  const bottom = g.inHeight + g.padTop - g.outHeight;
  const right = g.inWidth + g.padLeft - g.outWidth;
  // Stride 1 from here on (strides > 1 took the col2im path above).
  let result: tf.TensorInfo;
  if (top >= 0 && left >= 0 && bottom >= 0 && right >= 0) {
    const pad = [[0, 0], [top, bottom], [left, right], [0, 0]];
    result = runWasmKernel(backend, 'Conv2D', { x: dy, filter: wflip }, {
      strides: [1, 1], pad, dilations, dataFormat: 'NHWC',
    });
    disposeAll(backend, [wflip]);
  } else {
    const z = spreadGradient(backend, dy, g);
    result = runWasmKernel(backend, 'Conv2D', { x: z, filter: wflip }, {
      strides: [1, 1], pad: 'valid', dilations, dataFormat: 'NHWC',
    });
    disposeAll(backend, [wflip, z]);
  }
  const expected = inputShape as number[];
  if (result.shape.some((size, axis) => size !== expected[axis])) {
    disposeAll(backend, [result]);
    throw new Error(`${KERNEL}: internal shape mismatch [${result.shape.join(', ')}] vs [${expected.join(', ')}]`);
  }
  return result;
}
