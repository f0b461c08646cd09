/**
 * `HemnetWinogradConv2D` on wasm: a 3×3, stride 1, 'same' convolution of
 * NHWC x `[B, H, W, C]` with dilation d (padding d; H, W multiples of 2d;
 * C, Co multiples of 4) as Winograd's
 * F(2×2, 3×3) (Lavin & Gray 2016), for inference: Y = Aᵀ·[(G·g·Gᵀ) ⊙
 * (Bᵀ·d·B)]·A per 2×2 output tile. The filter arrives transformed (16
 * matrices U_ξ `[C, Co]`, src/ops/winograd.ts), so a call is: the input
 * padded on the heap, the input transform (WebAssembly SIMD,
 * winogradSimd.ts) into 16 matrices V_ξ `[tiles, C]`, 16 rank-2 XNNPACK
 * products M_ξ = V_ξ·U_ξ (2.25× fewer multiply-adds than the direct
 * convolution; the U_ξ are kept tensors, so XNNPACK keeps their packed
 * form between calls), and the output transform with bias and ReLU.
 *
 * Inputs: x, bias `[Co]` (optional), u0 … u15; attrs: relu (boolean),
 * dilation (default 1).
 * No gradient: inference only (src/infer/folded.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend, disposeAll, heapF32, matMul2d, offsetF32 } from './wasmHeap.js';
import { simdWinograd } from './winogradSimd.js';

export const WINOGRAD_CONV_KERNEL = 'HemnetWinogradConv2D';

/** True when the transforms' SIMD module instantiates on this wasm backend's memory. */
export function winogradTransformsAvailable(backend: unknown): boolean {
  try {
    return simdWinograd(memoryOf(asWasmBackend(backend, WINOGRAD_CONV_KERNEL))) !== null;
  } catch {
    return false;
  }
}

export function winogradConvWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, WINOGRAD_CONV_KERNEL);
  const transforms = simdWinograd(memoryOf(backend));
  if (transforms === null) throw new Error(`${WINOGRAD_CONV_KERNEL}: WebAssembly SIMD is unavailable on this wasm backend`);
  const x = args.inputs['x'];
  const bias = args.inputs['bias'];
  const u = Array.from({ length: 16 }, (_, i) => args.inputs[`u${i}`]);
  if (x === undefined || u.some((t) => t === undefined)) throw new Error(`${WINOGRAD_CONV_KERNEL}: expects inputs x and u0 … u15`);
  const filters = u as tf.TensorInfo[];
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const [uc, Co] = (filters[0] as tf.TensorInfo).shape as [number, number];
  if (x.shape.length !== 4 || H % 2 !== 0 || W % 2 !== 0 || C % 4 !== 0 || Co % 4 !== 0 || uc !== C) {
    throw new Error(`${WINOGRAD_CONV_KERNEL}: x must be [B, H, W, C] with H, W even and C a multiple of 4, and u_ξ [C, Co] with Co a multiple of 4; received x [${x.shape.join(', ')}], u0 [${(filters[0] as tf.TensorInfo).shape.join(', ')}]`);
  }
  if (bias !== undefined && (bias.shape.length !== 1 || bias.shape[0] !== Co)) throw new Error(`${WINOGRAD_CONV_KERNEL}: bias must be [${Co}], received [${bias.shape.join(', ')}]`);
  const relu = args.attrs?.['relu'] === true;
  const d = (args.attrs?.['dilation'] as number | undefined) ?? 1;
  if (!Number.isInteger(d) || d < 1 || H % (2 * d) !== 0 || W % (2 * d) !== 0) {
    throw new Error(`${WINOGRAD_CONV_KERNEL}: dilation must be a positive integer with H and W multiples of 2·dilation, received dilation ${String(d)} for a ${H} × ${W} map`);
  }
  const Hp = H + 2 * d;
  const Wp = W + 2 * d;
  const tiles = (B * H * W) / 4;
  // Tiles in call order: per image, per output row y0 that starts a tile (the
  // rows [2d·k, 2d·k + d) of each band of 2d), per column residue rx < d,
  // the W / 2d tiles x0 = rx + 2d·k of that row.
  const rowStarts: Array<[number, number, number]> = [];
  for (let b = 0; b < B; b++) {
    for (let band = 0; band < H; band += 2 * d) {
      for (let ry = 0; ry < d; ry++) for (let rx = 0; rx < d; rx++) rowStarts.push([b, band + ry, rx]);
    }
  }
  const perCall = W / (2 * d);

  // The input with a zero border of d pixels.
  const padded = backend.makeOutput([B, Hp, Wp, C], 'float32');
  {
    const heap = heapF32(backend);
    const src = offsetF32(backend, x);
    const dst = offsetF32(backend, padded);
    heap.fill(0, dst, dst + B * Hp * Wp * C);
    for (let b = 0; b < B; b++) {
      for (let y = 0; y < H; y++) {
        const from = src + (b * H + y) * W * C;
        heap.copyWithin(dst + ((b * Hp + y + d) * Wp + d) * C, from, from + W * C);
      }
    }
  }
  const v = Array.from({ length: 16 }, () => backend.makeOutput([tiles, C], 'float32'));
  const pAt = 4 * offsetF32(backend, padded);
  const vAt = v.map((t) => 4 * offsetF32(backend, t));
  rowStarts.forEach(([b, y0, rx], call) => {
    const first = call * perCall;
    transforms.inputRow(pAt + 4 * ((b * Hp + y0) * Wp + rx) * C, 4 * d * Wp * C, 4 * d * C, 4 * C, 4 * (2 * d - 1) * C, 4 * perCall * C, ...vAt.map((at) => at + 4 * first * C));
  });
  disposeAll(backend, [padded]);
  const m = v.map((vi, i) => {
    const product = matMul2d(backend, vi, filters[i] as tf.TensorInfo);
    disposeAll(backend, [vi]);
    return product;
  });

  const out = backend.makeOutput([B, H, W, Co], 'float32');
  const zeros = bias === undefined ? backend.makeOutput([Co], 'float32') : null;
  if (zeros !== null) {
    const heap = heapF32(backend);
    const at = offsetF32(backend, zeros);
    heap.fill(0, at, at + Co);
  }
  const biasAt = 4 * offsetF32(backend, zeros ?? (bias as tf.TensorInfo));
  const outAt = 4 * offsetF32(backend, out);
  const mAt = m.map((t) => 4 * offsetF32(backend, t));
  rowStarts.forEach(([b, y0, rx], call) => {
    const first = call * perCall;
    transforms.outputRow(outAt + 4 * ((b * H + y0) * W + rx) * Co, 4 * d * W * Co, 4 * d * Co, 4 * Co, 4 * (2 * d - 1) * Co, 4 * perCall * Co, biasAt, relu ? 1 : 0, ...mAt.map((at) => at + 4 * first * Co));
  });
  disposeAll(backend, zeros === null ? m : [...m, zeros]);
  return out;
}
