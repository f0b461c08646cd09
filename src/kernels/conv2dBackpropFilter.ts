/**
 * `Conv2DBackpropFilter` for the wasm backend (tfjs 4.22 has none), with
 * dilation support (attr `dilations`, default 1) for hemnet's Conv2D gradient.
 *
 * dW[kh, kw, ci, co] = Σ_{b, oh, ow} x[b, oh·sh − top + kh·dh, ow·sw − left + kw·dw, ci] · dy[b, oh, ow, co]
 *
 * Written as one rank-2 product per chunk of output pixels n = (b, oh, ow),
 * so it stays on the fast path of the wasm matMul (no transpose flags):
 *   cols[n, (kh, kw, ci)]  = the input patch of pixel n (im2col, zeros outside),
 *   dW[(kh, kw, ci), co]  += colsᵀ[(kh, kw, ci), n] · dy[n, co].
 * colsᵀ is written row by row in JS from a channels-first copy of x (the
 * wasm Transpose kernel is ~20× slower than a blocked JS transpose here);
 * chunks of whole images bound the buffer to ~16 MB. The product's right operand is
 * dy (small: XNNPACK packs the right operand of every new product), not the
 * patches: 1.4–2.8× faster than dyᵀ · cols on the model's layers, and its
 * output is already in the filter's layout.
 * 3×3, stride 1, 'same', from 16 input channels: Winograd F(4×4, 3×3)
 * (maps multiples of 4·dilation) or F(2×2, 3×3) instead (winogradTraining.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import { gemmOnMemory, simdGemm, type SimdGemm } from './batchMatMulSimd.js';
import { convGeometry, forEachTap, tapRange, type ConvGeometry } from './convGeometry.js';
import { memoryOf } from './wasmAssembly.js';
import {
  asWasmBackend,
  disposeAll,
  heapF32,
  matMul2d,
  offsetF32,
  transposeOnHeap,
  type WasmBackendLike,
} from './wasmHeap.js';
import { winogradFilterGrad } from './winogradTraining.js';

const KERNEL = 'Conv2DBackpropFilter';

let byRows = true;
/** Use `filterGradByRows` where it applies (default) or always im2col (false, e.g. to compare the two); returns the previous setting. */
export function setFilterGradByRows(on: boolean): boolean {
  const previous = byRows;
  byRows = on;
  return previous;
}
/** Upper bound on the floats of one im2col chunk. */
const CHUNK_FLOATS = 1 << 22;

/** Shortest run copied with `copyWithin` rather than element by element. */
const COPY_MIN = 16;

/**
 * Fills colsᵀ[(kh, kw, ci), n] for the pixels n of images [b0, b1), reading
 * xᵀ[ci, b, ih, iw] (channels first), so every row is written in order.
 */
function fillPatchesT(
  heap: Float32Array,
  colsOffset: number,
  xtOffset: number,
  g: ReturnType<typeof convGeometry>,
  b0: number,
  b1: number,
): void {
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW } = g;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padTop, padLeft } = g;
  const count = (b1 - b0) * Ho * Wo;
  // Stride 1 with rows as long as the input's ('same' padding): the rows of one image's patch
  // plane are the input plane shifted by a constant, so a plane is one memmove plus zeroed edges.
  const planes = sh === 1 && sw === 1 && W === Wo;
  for (let kh = 0; kh < KH; kh++) {
    const ihShift = kh * dh - padTop;
    // Output rows whose input row ih = oh + ihShift lies in [0, H) (plane path: stride 1).
    const [ohLo, ohHi] = tapRange(ihShift, 1, H, Ho);
    for (let kw = 0; kw < KW; kw++) {
      const iwShift = kw * dw - padLeft;
      // Output columns whose input column iw = ow·sw + iwShift lies in [0, W).
      const [owLo, owHi] = tapRange(iwShift, sw, W, Wo);
      for (let ci = 0; ci < C; ci++) {
        let at = colsOffset + ((kh * KW + kw) * C + ci) * count;
        for (let b = b0; b < b1; b++) {
          if (planes) {
            const src = xtOffset + ((ci * B + b) * H + ohLo + ihShift) * W + iwShift;
            const length = (ohHi - ohLo) * W;
            if (src >= 0 && src + length <= heap.length) {
              heap.fill(0, at, at + ohLo * Wo);
              // Reads |iwShift| values past a row's end or before its start: exactly the columns outside [owLo, owHi), zeroed next.
              heap.copyWithin(at + ohLo * Wo, src, src + length);
              for (let oh = ohLo; oh < ohHi; oh++) {
                const row = at + oh * Wo;
                for (let ow = 0; ow < owLo; ow++) heap[row + ow] = 0;
                for (let ow = owHi; ow < Wo; ow++) heap[row + ow] = 0;
              }
              heap.fill(0, at + ohHi * Wo, at + Ho * Wo);
              at += Ho * Wo;
              continue;
            }
          }
          for (let oh = 0; oh < Ho; oh++) {
            const ih = oh * sh - padTop + kh * dh;
            if (ih < 0 || ih >= H) {
              heap.fill(0, at, at + Wo);
              at += Wo;
              continue;
            }
            const row = xtOffset + ((ci * B + b) * H + ih) * W + iwShift;
            let ow = 0;
            for (; ow < owLo; ow++) heap[at++] = 0;
            if (sw === 1 && owHi - owLo >= COPY_MIN) {
              // A contiguous run of the input row: one memmove (≈ 2× faster than the element loop here).
              heap.copyWithin(at, row + owLo, row + owHi);
              at += owHi - owLo;
              ow = owHi;
            }
            for (; ow < owHi; ow++) heap[at++] = heap[row + ow * sw] as number;
            for (; ow < Wo; ow++) heap[at++] = 0;
          }
        }
      }
    }
  }
}

/**
 * dW without im2col, in the SIMD block kernels (output channels a multiple
 * of 4): for each tap (kh, kw), image b and output row oh whose input row
 * ih = oh·sh − top + kh·dh lies inside the image,
 *   dW[kh, kw] += X_rowᵀ · dY_row,
 * X_row the k × Ci matrix x[b, ih, ow·sw − left + kw·dw, ·] over the k
 * output columns ow whose input column lies inside, read where it is
 * (next ci 4 bytes, next ow 4·sw·Ci bytes), and dY_row the rows dy[b, oh, ow, ·]
 * (contiguous). Consecutive full-width rows whose inputs are contiguous too
 * (stride 1 with W = Wo: a 1×1 or the centre column of a 'same' conv) are
 * one product. No transpose of x, no patch buffer, no packing of dy.
 */
function filterGradByRows(backend: WasmBackendLike, gemm: SimdGemm, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outHeight: Ho, outWidth: Wo, outChannels: Co, filterHeight: KH, filterWidth: KW } = g;
  const { strideHeight: sh, strideWidth: sw } = g;
  const out = backend.makeOutput([KH, KW, Ci, Co], 'float32');
  const o = offsetF32(backend, out);
  heapF32(backend).fill(0, o, o + KH * KW * Ci * Co);
  const xAt = 4 * offsetF32(backend, x);
  const dyAt = 4 * offsetF32(backend, dy);
  const aRow = 4; // next input channel
  const aK = 4 * sw * Ci; // next output column
  forEachTap(g, ({ tap: t, ihShift, iwShift, rows: [ohLo, ohHi], columns: [owLo, owHi] }) => {
    const tap = 4 * (o + t * Ci * Co);
    const xAddress = (b: number, oh: number): number => xAt + 4 * (((b * H + oh * sh + ihShift) * W + owLo * sw + iwShift) * Ci);
    const dyAddress = (b: number, oh: number): number => dyAt + 4 * (((b * Ho + oh) * Wo + owLo) * Co);
    // Rows oh and oh + 1 continue each other in x and in dy.
    const rowsJoin = owLo === 0 && owHi === Wo && sh * W === sw * Wo;
    for (let b = 0; b < B; b++) {
      if (rowsJoin) {
        gemmOnMemory(gemm, xAddress(b, ohLo), aRow, aK, dyAddress(b, ohLo), tap, Ci, (ohHi - ohLo) * Wo, Co, true);
        continue;
      }
      for (let oh = ohLo; oh < ohHi; oh++) gemmOnMemory(gemm, xAddress(b, oh), aRow, aK, dyAddress(b, oh), tap, Ci, owHi - owLo, Co, true);
    }
  });
  return out;
}

/** The kernel function registered for `Conv2DBackpropFilter` on wasm. */
export function conv2dBackpropFilterWasm(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: {};
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend: WasmBackendLike = asWasmBackend(args.backend, KERNEL);
  const { x, dy } = args.inputs;
  const attrs = args.attrs ?? {};
  if (x === undefined || dy === undefined) throw new Error(`${KERNEL}: inputs 'x' and 'dy' are required`);
  const filterShape = attrs['filterShape'];
  if (!Array.isArray(filterShape) || filterShape.length !== 4) {
    throw new Error(`${KERNEL}: attr 'filterShape' must be a rank-4 shape, received ${JSON.stringify(filterShape)}`);
  }
  const g = convGeometry(KERNEL, x.shape, filterShape as number[], attrs);
  if (dy.shape[1] !== g.outHeight || dy.shape[2] !== g.outWidth || dy.shape[3] !== g.outChannels) {
    throw new Error(
      `${KERNEL}: 'dy' must have shape [${g.batch}, ${g.outHeight}, ${g.outWidth}, ${g.outChannels}], received [${dy.shape.join(', ')}]`,
    );
  }
  const byWinograd = winogradFilterGrad(backend, x, dy, g);
  if (byWinograd !== null) return byWinograd;
  const gemm = byRows && x.dtype === 'float32' && dy.dtype === 'float32' && g.outChannels % 4 === 0 ? simdGemm(memoryOf(backend)) : null;
  if (gemm !== null && g.outHeight * g.outWidth > 0) return filterGradByRows(backend, gemm, x, dy, g);
  const rowLength = g.filterHeight * g.filterWidth * g.inChannels;
  const Co = g.outChannels;
  const pixels = g.outHeight * g.outWidth;
  const imagesPerChunk = Math.max(1, Math.floor(CHUNK_FLOATS / (Math.max(rowLength, Co) * Math.max(pixels, 1))));
  const inPixels = g.batch * g.inHeight * g.inWidth;
  const xT = backend.makeOutput([g.inChannels, inPixels], 'float32');
  transposeOnHeap(heapF32(backend), offsetF32(backend, x), inPixels, g.inChannels, offsetF32(backend, xT));
  let out: tf.TensorInfo | null = null; // dW as [(kh, kw, ci), co]
  for (let b0 = 0; b0 < g.batch && pixels > 0; b0 += imagesPerChunk) {
    const b1 = Math.min(g.batch, b0 + imagesPerChunk);
    const count = (b1 - b0) * pixels;
    const colsT = backend.makeOutput([rowLength, count], 'float32');
    let heap = heapF32(backend);
    fillPatchesT(heap, offsetF32(backend, colsT), offsetF32(backend, xT), g, b0, b1);
    const temporaries: tf.TensorInfo[] = [colsT];
    let dyChunk: tf.TensorInfo;
    if (b0 === 0 && b1 === g.batch) {
      // The whole of dy, viewed as [rows, Co] (same data id, as the wasm Reshape does).
      dyChunk = { dataId: dy.dataId, shape: [count, Co], dtype: 'float32' };
    } else {
      dyChunk = backend.makeOutput([count, Co], 'float32');
      temporaries.push(dyChunk);
      heap = heapF32(backend);
      const dyOffset = offsetF32(backend, dy) + b0 * pixels * Co;
      heap.copyWithin(offsetF32(backend, dyChunk), dyOffset, dyOffset + count * Co);
    }
    const product = matMul2d(backend, colsT, dyChunk); // [(kh, kw, ci), co]
    if (out === null) out = product;
    else {
      heap = heapF32(backend);
      const p = offsetF32(backend, product);
      const o = offsetF32(backend, out);
      for (let i = 0; i < rowLength * Co; i++) heap[o + i] = (heap[o + i] as number) + (heap[p + i] as number);
      temporaries.push(product);
    }
    disposeAll(backend, temporaries);
  }
  disposeAll(backend, [xT]);
  if (out === null) {
    // No output pixels: the gradient is zero.
    out = backend.makeOutput(filterShape as number[], 'float32');
    const o = offsetF32(backend, out);
    heapF32(backend).fill(0, o, o + rowLength * Co);
    return out;
  }
  return { dataId: out.dataId, shape: [...(filterShape as number[])], dtype: 'float32' };
}
