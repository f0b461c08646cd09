/**
 * `HemnetWinogradConv2D` on wasm: a 3×3, stride 1, 'same' convolution of
 * NHWC x `[B, H, W, C]` with dilation d (padding d; C, Co multiples of 4)
 * as Winograd's F(m×m, 3×3) (Lavin & Gray 2016), m = 2 (H, W multiples of
 * 2d) or m = 4 (multiples of 4d), for inference: Y = Aᵀ·[(G·g·Gᵀ) ⊙
 * (Bᵀ·d·B)]·A per m×m output tile. The filter arrives transformed
 * (src/ops/winograd.ts): 16 matrices U_ξ `[C, Co]` for m = 2, 36 for m = 4,
 * and their count says which. A call is: the input padded on the heap, the
 * input transform (WebAssembly SIMD, winogradSimd.ts) into the matrices
 * V_ξ `[tiles, C]`, the products M_ξ = V_ξ·U_ξ in the SIMD block kernels of
 * batchMatMulSimd.ts (2.25× (m = 2) or 4× (m = 4) fewer multiply-adds than
 * the direct convolution; one loop instead of an XNNPACK call per product,
 * which were 1.2–1.4× slower per layer: docs/performance.md), and the
 * output transform with bias and ReLU.
 *
 * Inputs: x, bias `[Co]` (optional), u0 … u15 or u0 … u35; attrs: relu
 * (boolean), dilation (default 1).
 * No gradient: inference only (src/infer/folded.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import { gemmOnMemory, simdGemm } from './batchMatMulSimd.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend, disposeAll, heapF32, offsetF32, type WasmBackendLike } from './wasmHeap.js';
import { simdWinograd, type SimdWinograd } from './winogradSimd.js';

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
  const planes = args.inputs['u35'] !== undefined ? 36 : 16;
  const m = planes === 36 ? 4 : 2;
  const u = Array.from({ length: planes }, (_, i) => args.inputs[`u${i}`]);
  if (x === undefined || u.some((t) => t === undefined)) throw new Error(`${WINOGRAD_CONV_KERNEL}: expects inputs x and u0 … u15 (F(2×2, 3×3)) or u0 … u35 (F(4×4, 3×3))`);
  const filters = u as tf.TensorInfo[];
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const [uc, Co] = (filters[0] as tf.TensorInfo).shape as [number, number];
  if (x.shape.length !== 4 || H % m !== 0 || W % m !== 0 || C % 4 !== 0 || Co % 4 !== 0 || uc !== C || filters.some((f) => f.shape[0] !== C || f.shape[1] !== Co)) {
    throw new Error(`${WINOGRAD_CONV_KERNEL}: x must be [B, H, W, C] with H, W multiples of ${m} (F(${m}×${m}, 3×3)) and C a multiple of 4, and every u_ξ [C, Co] with Co a multiple of 4; received x [${x.shape.join(', ')}], u0 [${(filters[0] as tf.TensorInfo).shape.join(', ')}]`);
  }
  if (bias !== undefined && (bias.shape.length !== 1 || bias.shape[0] !== Co)) throw new Error(`${WINOGRAD_CONV_KERNEL}: bias must be [${Co}], received [${bias.shape.join(', ')}]`);
  const relu = args.attrs?.['relu'] === true;
  const d = (args.attrs?.['dilation'] as number | undefined) ?? 1;
  if (!Number.isInteger(d) || d < 1 || H % (m * d) !== 0 || W % (m * d) !== 0) {
    throw new Error(`${WINOGRAD_CONV_KERNEL}: dilation must be a positive integer with H and W multiples of ${m}·dilation (F(${m}×${m}, 3×3)), received dilation ${String(d)} for a ${H} × ${W} map`);
  }
  const plan = winogradTiles(B, H, W, d, m);
  const { tiles } = plan;
  const gemm = simdGemm(memoryOf(backend));
  if (gemm === null) throw new Error(`${WINOGRAD_CONV_KERNEL}: WebAssembly SIMD is unavailable on this wasm backend`);
  // The products in the SIMD block kernels: one loop, no XNNPACK call per product.
  const v = allocatePlanes(backend, planes, tiles * C);
  const products = allocatePlanes(backend, planes, tiles * Co);
  const out = backend.makeOutput([B, H, W, Co], 'float32');
  winogradInputTransform(backend, transforms, x, plan, v.at);
  filters.forEach((u, xi) => gemmOnMemory(gemm, v.at[xi] as number, 4 * C, 4, 4 * offsetF32(backend, u), products.at[xi] as number, tiles, C, Co));
  winogradOutputTransform(backend, transforms, plan, products.at, out, bias ?? null, relu);
  disposeAll(backend, [v.tensor, products.tensor]);
  return out;
}

/** The output tile's side m of F(m×m, 3×3). */
export type WinogradTile = 2 | 4;

/** Which m×m output tiles a call of the row transforms covers, in the order the matrices hold them. */
export interface WinogradTiles {
  batch: number;
  height: number;
  width: number;
  dilation: number;
  /** m: the output tile's side, 2 for F(2×2, 3×3), 4 for F(4×4, 3×3). */
  tile: WinogradTile;
  /** Tiles of all images: B·H·W / m², the rows of each V_ξ and M_ξ. */
  tiles: number;
  /** Per row call: image, the output row y0 that starts its tiles, the column residue rx < d. */
  rowStarts: ReadonlyArray<readonly [number, number, number]>;
  /** Tiles per row call: W / md, at x0 = rx + md·k. */
  perCall: number;
}

/** The tile plan of a [B, H, W, ·] map with dilation d and m×m output tiles (H, W multiples of md). */
export function winogradTiles(B: number, H: number, W: number, d: number, tile: WinogradTile = 2): WinogradTiles {
  // Per image, per output row y0 that starts a tile (the rows [md·k, md·k + d)
  // of each band of md), per column residue rx < d: the W / md tiles of that row.
  const band = tile * d;
  const rowStarts: Array<[number, number, number]> = [];
  for (let b = 0; b < B; b++) {
    for (let top = 0; top < H; top += band) {
      for (let ry = 0; ry < d; ry++) for (let rx = 0; rx < d; rx++) rowStarts.push([b, top + ry, rx]);
    }
  }
  return { batch: B, height: H, width: W, dilation: d, tile, tiles: (B * H * W) / (tile * tile), rowStarts, perCall: W / band };
}

/**
 * Floats of padding after each plane of a plane buffer (64 bytes, one cache
 * line). The transforms read or write all 16 or 36 planes at once, one
 * stream per plane; planes of a multiple of 4 KiB (e.g. [128, 128] filter
 * planes, [16, 128] tile planes) would start in the same set of an 8-way
 * L1 cache and evict each other on every vector. With the skew, plane ξ
 * starts ξ lines further on.
 */
export const PLANE_SKEW_FLOATS = 16;

/** A scratch buffer of `count` planes of `floatsPerPlane` floats, skewed (PLANE_SKEW_FLOATS), and the planes' byte addresses. */
export interface PlaneBuffer {
  tensor: tf.TensorInfo;
  at: number[];
}

/** Allocates a `PlaneBuffer` on the heap (dispose `tensor`). */
export function allocatePlanes(backend: WasmBackendLike, count: number, floatsPerPlane: number): PlaneBuffer {
  const stride = floatsPerPlane + PLANE_SKEW_FLOATS;
  const tensor = backend.makeOutput([count * stride], 'float32');
  const start = offsetF32(backend, tensor);
  return { tensor, at: Array.from({ length: count }, (_, xi) => 4 * (start + xi * stride)) };
}

/**
 * Calls `run` once per run of rows of tiles (the plan's order) whose first
 * addresses are evenly spaced, with the six leading arguments of the row
 * transforms of winogradSimd.ts (the run's first address, row and column
 * strides, pixel stride, skip, end per row) for a map
 * `[B, mapHeight, mapWidth, channels]` at byte address `base`, the
 * matrices' addresses of the run's first tile (`matrices`: each a
 * `[tiles, channels]` matrix), the run's row count and the bytes from one
 * row's first address to the next. Without dilation a run is an image's
 * rows of tiles (a whole batch where the map is not padded): one call into
 * WebAssembly where one per row of tiles cost ≈ 4 ms of JavaScript per
 * training step of the default model at batch 8 (bench/fixed-cost.ts).
 */
export function forEachTileRow(
  plan: WinogradTiles,
  base: number,
  mapHeight: number,
  mapWidth: number,
  channels: number,
  matrices: readonly number[],
  run: (leading: [number, number, number, number, number, number], matricesAt: number[], rows: number, advance: number) => void,
): void {
  const { dilation: d, perCall } = plan;
  const pixel = 4 * channels;
  const starts = plan.rowStarts.map(([b, y0, rx]) => base + ((b * mapHeight + y0) * mapWidth + rx) * pixel);
  const leading = (first: number): [number, number, number, number, number, number] => [first, d * mapWidth * pixel, d * pixel, pixel, (plan.tile * d - 1) * pixel, perCall * pixel];
  for (let call = 0; call < starts.length; ) {
    const first = starts[call] as number;
    const advance = call + 1 < starts.length ? (starts[call + 1] as number) - first : 0;
    let rows = 1;
    while (call + rows < starts.length && (starts[call + rows] as number) - (starts[call + rows - 1] as number) === advance) rows++;
    run(leading(first), matrices.map((at) => at + call * perCall * pixel), rows, advance);
    call += rows;
  }
}

/**
 * V_ξ = Bᵀ·d·B of every tile of x `[B, H, W, C]` (padded by d on the heap
 * first) into the 16 (m = 2) or 36 (m = 4) matrices `[tiles, C]` at the
 * byte addresses `vAt`.
 */
export function winogradInputTransform(backend: WasmBackendLike, transforms: SimdWinograd, x: tf.TensorInfo, plan: WinogradTiles, vAt: readonly number[]): void {
  const { batch: B, height: H, width: W, dilation: d } = plan;
  const C = x.shape[3] as number;
  const Hp = H + 2 * d;
  const Wp = W + 2 * d;
  const padded = backend.makeOutput([B, Hp, Wp, C], 'float32');
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
  const pAt = 4 * dst;
  const inputRow = plan.tile === 4 ? transforms.inputRow4 : transforms.inputRow;
  forEachTileRow(plan, pAt, Hp, Wp, C, vAt, (row, v, rows, advance) => inputRow(...row, ...v, rows, advance));
  disposeAll(backend, [padded]);
}

/**
 * Y = Aᵀ·M·A + bias (then ReLU when `relu`) of the 16 (m = 2) or 36 (m = 4)
 * products `[tiles, Co]` at the byte addresses `mAt`, written to out
 * `[B, H, W, Co]`.
 */
export function winogradOutputTransform(backend: WasmBackendLike, transforms: SimdWinograd, plan: WinogradTiles, mAt: readonly number[], out: tf.TensorInfo, bias: tf.TensorInfo | null, relu: boolean): void {
  const { height: H, width: W } = plan;
  const Co = out.shape[3] as number;
  const zeros = bias === null ? backend.makeOutput([Co], 'float32') : null;
  if (zeros !== null) {
    const at = offsetF32(backend, zeros);
    heapF32(backend).fill(0, at, at + Co);
  }
  const biasAt = 4 * offsetF32(backend, zeros ?? (bias as tf.TensorInfo));
  const outAt = 4 * offsetF32(backend, out);
  const outputRow = plan.tile === 4 ? transforms.outputRow4 : transforms.outputRow;
  forEachTileRow(plan, outAt, H, W, Co, mAt, (row, m, rows, advance) => outputRow(...row, biasAt, relu ? 1 : 0, ...m, rows, advance));
  if (zeros !== null) disposeAll(backend, [zeros]);
}
