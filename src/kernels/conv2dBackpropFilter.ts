/**
 * `Conv2DBackpropFilter` for the wasm backend (tfjs 4.22 has none), with
 * dilation support (attr `dilations`, default 1) for hemnet's Conv2D gradient.
 *
 * dW[kh, kw, ci, co] = Σ_{b, oh, ow} x[b, oh·sh − top + kh·dh, ow·sw − left + kw·dw, ci] · dy[b, oh, ow, co]
 *
 * Written as one rank-2 product per chunk of output pixels n = (b, oh, ow),
 * so it stays on the fast path of the wasm matMul (no transpose flags):
 *   cols[n, (kh, kw, ci)]  = the input patch of pixel n (im2col, zeros outside),
 *   dWᵀ[co, (kh, kw, ci)] += dyᵀ[co, n] · cols[n, (kh, kw, ci)].
 * The patch rows are moved with `copyWithin` on the heap (one contiguous run
 * per filter row when dw = 1); chunks bound the im2col buffer to ~16 MB.
 */
import type * as tf from '@tensorflow/tfjs';
import { convGeometry } from './convGeometry.js';
import {
  asWasmBackend,
  disposeAll,
  heapF32,
  matMul2d,
  offsetF32,
  transpose2d,
  type WasmBackendLike,
} from './wasmHeap.js';

const KERNEL = 'Conv2DBackpropFilter';
/** Upper bound on the floats of one im2col chunk. */
const CHUNK_FLOATS = 1 << 22;

/** Fills `cols` rows [rowStart, rowEnd) (relative row 0 = rowStart) with input patches. */
function fillPatches(
  heap: Float32Array,
  colsOffset: number,
  xOffset: number,
  g: ReturnType<typeof convGeometry>,
  rowStart: number,
  rowEnd: number,
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW } = g;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padTop, padLeft } = g;
  const rowLength = KH * KW * C;
  const filterRow = KW * C;
  for (let n = rowStart; n < rowEnd; n++) {
    const ow = n % Wo;
    const rest = (n - ow) / Wo;
    const oh = rest % Ho;
    const b = (rest - oh) / Ho;
    const base = colsOffset + (n - rowStart) * rowLength;
    const iw0 = ow * sw - padLeft;
    const iwLast = iw0 + (KW - 1) * dw;
    const wholeRowInside = iw0 >= 0 && iwLast < W;
    for (let kh = 0; kh < KH; kh++) {
      const ih = oh * sh - padTop + kh * dh;
      const dst = base + kh * filterRow;
      if (ih < 0 || ih >= H) {
        heap.fill(0, dst, dst + filterRow);
        continue;
      }
      const src = xOffset + ((b * H + ih) * W + iw0) * C;
      if (wholeRowInside && dw === 1) {
        heap.copyWithin(dst, src, src + filterRow);
        continue;
      }
      for (let kw = 0; kw < KW; kw++) {
        const iw = iw0 + kw * dw;
        const at = dst + kw * C;
        if (iw < 0 || iw >= W) heap.fill(0, at, at + C);
        else {
          const from = src + kw * dw * C;
          heap.copyWithin(at, from, from + C);
        }
      }
    }
  }
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
  const rowLength = g.filterHeight * g.filterWidth * g.inChannels;
  const Co = g.outChannels;
  const rows = g.batch * g.outHeight * g.outWidth;
  const chunkRows = Math.max(1, Math.floor(CHUNK_FLOATS / Math.max(rowLength, Co)));
  const sum = new Float32Array(rowLength * Co); // dW as [(kh, kw, ci), co]
  for (let start = 0; start < rows; start += chunkRows) {
    const end = Math.min(rows, start + chunkRows);
    const count = end - start;
    const cols = backend.makeOutput([count, rowLength], 'float32');
    const dyChunk = backend.makeOutput([count, Co], 'float32');
    let heap = heapF32(backend);
    fillPatches(heap, offsetF32(backend, cols), offsetF32(backend, x), g, start, end);
    const dyOffset = offsetF32(backend, dy);
    heap.copyWithin(offsetF32(backend, dyChunk), dyOffset + start * Co, dyOffset + end * Co);
    const dyT = transpose2d(backend, dyChunk);
    const product = matMul2d(backend, dyT, cols); // [co, (kh, kw, ci)]
    heap = heapF32(backend);
    const p = offsetF32(backend, product);
    for (let co = 0; co < Co; co++) {
      const rowBase = p + co * rowLength;
      for (let k = 0; k < rowLength; k++) sum[k * Co + co] = (sum[k * Co + co] as number) + (heap[rowBase + k] as number);
    }
    disposeAll(backend, [cols, dyChunk, dyT, product]);
  }
  const out = backend.makeOutput(filterShape as number[], 'float32');
  heapF32(backend).set(sum, offsetF32(backend, out));
  return out;
}
