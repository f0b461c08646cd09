/**
 * Winograd's F(4×4, 3×3) and F(2×2, 3×3) (Lavin & Gray 2016) for the
 * convolutions a training step runs on wasm: `Conv2D` and `FusedConv2D` (bias and ReLU or
 * no activation) forward, `Conv2DBackpropInput`, whose stride-1 case is
 * the forward convolution of dy with the flipped filter, and
 * `Conv2DBackpropFilter` (`winogradFilterGrad`). Folded inference
 * keeps its own kernel (winogradConv.ts), whose filter is transformed once
 * per fold; here the filter changes every step (Adam writes a new tensor),
 * so each call transforms it:
 *
 *   U_ξ = (G·g·Gᵀ)_ξ  per input/output channel pair (winogradSimd.ts, SIMD);
 *   V_ξ = (Bᵀ·d·B)_ξ  per m×m output tile (winogradSimd.ts, SIMD);
 *   M_ξ = V_ξ·U_ξ     (m + 2)² products [tiles, C]·[C, Co] in the SIMD
 *                     block kernels of batchMatMulSimd.ts (no XNNPACK
 *                     operator to create and no weights to pack per call);
 *   Y = Aᵀ·M·A (+ bias, ReLU) per tile (winogradSimd.ts).
 *
 * For the input gradient dx = conv(dy, wflip) with wflip[a, b, co, ci] =
 * w[2 − a, 2 − b, ci, co] (conv2dBackpropInput.ts). For F(2×2, 3×3),
 * reversing the taps of a 3-tap filter reverses the columns of G, which
 * gives G's rows in the order σ = (3, 1, 2, 0), so U(wflip)_{4i+j} =
 * U(w)_{4σ(i)+σ(j)}ᵀ: the same transform, written to permuted planes,
 * transposed. F(4×4, 3×3)'s G has no such symmetry (its first row is ¼,
 * its last 1), so there the transform reads the taps from the last one
 * (a negative tap stride), transposed. The transposes are done first, on
 * the filter's 9 taps (the transform is the same linear map for every
 * channel pair, so it commutes with them), not on the 16 or 36 planes it
 * writes (the 128 → 128 layer's input gradient at batch 1: 0.74 → 0.44
 * ms, bench/wasm-step-profile.ts; a cost every data-parallel shard pays).
 *
 * Applies to 3×3 filters, stride 1, one dilation d on both axes with d
 * pixels of padding on every side ('same'), channel counts multiples of 4,
 * and maps whose height and width are multiples of 4d (F(4×4, 3×3), from
 * `WINOGRAD_F4_MIN_CHANNELS` input channels of the convolution
 * computed) or else of 2d (F(2×2, 3×3), from `WINOGRAD_MIN_CHANNELS`;
 * below those the direct conv is as fast: bench/winograd.ts; the filter
 * gradient from `WINOGRAD_FILTER_GRAD_MIN_CHANNELS` with either tile).
 * Everything else runs the stock kernel. `setWasmWinograd(false)` turns it
 * off (e.g. to compare against the direct convolution);
 * `setWasmWinogradTile(2)` keeps every conv at F(2×2, 3×3).
 */
import type * as tf from '@tensorflow/tfjs';
import { gemmOnMemory, simdGemm, type SimdGemm } from './batchMatMulSimd.js';
import { convGeometry, type ConvGeometry } from './convGeometry.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend, disposeAll, offsetF32, type WasmBackendLike } from './wasmHeap.js';
import { allocatePlanes, forEachTileRow, winogradInputTransform, winogradOutputTransform, winogradTiles, type WinogradTile } from './winogradConv.js';
import { simdWinograd, type SimdWinograd } from './winogradSimd.js';

/**
 * Fewest input channels for which a 3×3 stride-1 conv runs as Winograd on
 * wasm (bench/winograd.ts --grid: at 16 channels the direct conv is as fast,
 * from 32 Winograd is 1.1–1.7× faster).
 */
export const WINOGRAD_MIN_CHANNELS = 32;

/**
 * Fewest input channels for which the filter gradient runs as Winograd:
 * its im2col patches cost the direct route most at few channels (16 → 16
 * and 16 → 32 on 32 × 32 maps: 1.5–2.7× faster as Winograd, measured with
 * bench/winograd.ts --training's shapes in a scratch A/B; docs/performance.md).
 */
export const WINOGRAD_FILTER_GRAD_MIN_CHANNELS = 16;

/**
 * Fewest input channels for which a 3×3 unit runs as F(4×4, 3×3) (maps
 * multiples of 4·dilation), in folded inference and in the training step's
 * forward conv and input gradient: from 16, 1.05–1.31× faster than the
 * direct conv in inference and 1.26–1.58× faster than F(2×2, 3×3)
 * (`npx tsx bench/winograd.ts --grid`; training: `--training`;
 * docs/performance.md).
 */
export const WINOGRAD_F4_MIN_CHANNELS = 16;

let enabled = true;
let largestTile: WinogradTile = 4;

const ROWS = [0, 1, 2, 3];
/** σ: the rows of G in the order of the reversed taps (the header). */
const FLIP = [3, 1, 2, 0];

/**
 * Turns Winograd on or off for the wasm kernels `Conv2D`, `FusedConv2D`,
 * `Conv2DBackpropInput` and `Conv2DBackpropFilter` (default on). Folded inference's own Winograd
 * units follow `foldInference(model, { winograd })` and this switch both.
 */
export function setWasmWinograd(on: boolean): void {
  if (typeof on !== 'boolean') throw new Error(`setWasmWinograd: expects a boolean, received ${String(on)}`);
  enabled = on;
}

/**
 * The largest Winograd tile the wasm training kernels use: 4 (default:
 * F(4×4, 3×3) where the map allows it, F(2×2, 3×3) elsewhere) or 2 (F(2×2,
 * 3×3) only: its rounding, ≈ 1e-6 relative against ≈ 1e-5). Environment:
 * `HEMNET_WINOGRAD_TILE=2` (src/backend.ts, workers too).
 */
export function setWasmWinogradTile(tile: WinogradTile): void {
  if (tile !== 2 && tile !== 4) throw new Error(`setWasmWinogradTile: expects 2 or 4, received ${String(tile)}`);
  largestTile = tile;
}

/** The tile of `setWasmWinogradTile`. */
export function wasmWinogradTile(): WinogradTile {
  return largestTile;
}

/** Runs `fn` with `setWasmWinogradTile(tile)`, then restores the tile before. */
export function withWasmWinogradTile<T>(tile: WinogradTile, fn: () => T): T {
  const before = largestTile;
  setWasmWinogradTile(tile);
  try {
    return fn();
  } finally {
    largestTile = before;
  }
}

/** Whether `setWasmWinograd` has Winograd on. */
export function wasmWinogradEnabled(): boolean {
  return enabled;
}

/** Runs `fn` with the switch of `setWasmWinograd` at `on`, then restores it. */
export function withWasmWinograd<T>(on: boolean, fn: () => T): T {
  const before = enabled;
  setWasmWinograd(on);
  try {
    return fn();
  } finally {
    enabled = before;
  }
}

/** A Winograd convolution's dilation and output tile. */
interface WinogradPlan {
  dilation: number;
  tile: WinogradTile;
}

/** The channel rules of the forward conv and the input gradient (and of folded inference). */
const CONV_MIN_CHANNELS: Record<WinogradTile, number> = { 2: WINOGRAD_MIN_CHANNELS, 4: WINOGRAD_F4_MIN_CHANNELS };
/** The filter gradient's. */
const FILTER_GRAD_MIN_CHANNELS: Record<WinogradTile, number> = { 2: WINOGRAD_FILTER_GRAD_MIN_CHANNELS, 4: WINOGRAD_FILTER_GRAD_MIN_CHANNELS };

/**
 * The tile a 3×3 stride-1 unit with `inChannels` input channels runs with,
 * where `fits(m)` says whether its map takes m×m tiles: 4 when `largest`
 * allows it, from `minChannels[4]`; else 2 from `minChannels[2]`; null for
 * the direct conv. The rule of these kernels and of folded inference
 * (src/infer/folded.ts).
 */
export function winogradTileRule(inChannels: number, fits: (m: WinogradTile) => boolean, largest: WinogradTile, minChannels: Record<WinogradTile, number> = CONV_MIN_CHANNELS): WinogradTile | null {
  if (largest === 4 && inChannels >= minChannels[4] && fits(4)) return 4;
  return inChannels >= minChannels[2] && fits(2) ? 2 : null;
}

/**
 * The dilation d and tile m when the geometry is one F(m×m, 3×3) with
 * dilation d computes (see the header; the larger tile first, as
 * `setWasmWinogradTile` allows), else null. `minChannels`: per tile, the
 * fewest input channels.
 */
function winogradPlan(g: ConvGeometry, inChannels: number, outChannels: number, minChannels: Record<WinogradTile, number>): WinogradPlan | null {
  const d = g.dilationHeight;
  const ok =
    g.filterHeight === 3 && g.filterWidth === 3 && g.strideHeight === 1 && g.strideWidth === 1 && g.dilationWidth === d &&
    g.padTop === d && g.padLeft === d && g.outHeight === g.inHeight && g.outWidth === g.inWidth &&
    inChannels % 4 === 0 && outChannels % 4 === 0 && g.batch > 0;
  if (!ok) return null;
  const tile = winogradTileRule(inChannels, (m) => g.inHeight % (m * d) === 0 && g.inWidth % (m * d) === 0, largestTile, minChannels);
  return tile === null ? null : { dilation: d, tile };
}

/**
 * The 'same' 3×3 stride-1 convolution with dilation d of x `[B, H, W, C]`
 * by `filter` `[3, 3, C, Co]` (or, with `flip`, by the flipped filter of a
 * `[3, 3, Co', C]` filter: the input gradient), plus bias, then ReLU.
 */
function winogradConvOnHeap(backend: WasmBackendLike, { transforms, gemm }: { transforms: SimdWinograd; gemm: SimdGemm }, x: tf.TensorInfo, filter: tf.TensorInfo, flip: boolean, bias: tf.TensorInfo | null, relu: boolean, { dilation: d, tile }: WinogradPlan): tf.TensorInfo {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const [, , fi, fo] = filter.shape as [number, number, number, number];
  const Co = flip ? fi : fo;
  const plan = winogradTiles(B, H, W, d, tile);
  const { tiles } = plan;
  const count = (tile + 2) ** 2;
  const u = allocatePlanes(backend, count, C * Co);
  const v = allocatePlanes(backend, count, tiles * C);
  const m = allocatePlanes(backend, count, tiles * Co);
  const out = backend.makeOutput([B, H, W, Co], 'float32');
  const tap = 4 * fi * fo; // bytes of one tap of the filter
  // For the input gradient the transforms read a copy of the filter with each tap's [fi, fo] plane
  // transposed to [fo, fi] (9 planes, where transposing the transformed planes would be 16 or 36),
  // so U(wflip) comes out as the [fo, fi] planes u needs (the header).
  const taps = flip ? backend.makeOutput([9 * fi * fo], 'float32') : null;
  const filterAt = 4 * offsetF32(backend, filter);
  const gAt = taps === null ? filterAt : 4 * offsetF32(backend, taps);
  if (taps !== null) for (let t = 0; t < 9; t++) transforms.transposePlane(filterAt + t * tap, gAt + t * tap, 4 * fo, fi, 4 * fi);
  const at = (xi: number): number => u.at[xi] as number;
  if (tile === 4) {
    // U(wflip): the taps read last to first (a negative tap stride).
    if (flip) transforms.filterPlain4(gAt + 8 * tap, -tap, tap, ...Array.from({ length: count }, (_, xi) => at(xi)));
    else transforms.filterPlain4(gAt, tap, tap, ...Array.from({ length: count }, (_, xi) => at(xi)));
  } else {
    // Plane of U_{4i+j}: 4i + j, or 4σ(i) + σ(j) with σ = (3, 1, 2, 0) when flipped (the header).
    const order = flip ? FLIP : ROWS;
    transforms.filterPlain(gAt, tap, tap, ...order.flatMap((i) => order.map((j) => at(4 * i + j))));
  }
  if (taps !== null) disposeAll(backend, [taps]);
  winogradInputTransform(backend, transforms, x, plan, v.at);
  for (let xi = 0; xi < count; xi++) gemmOnMemory(gemm, v.at[xi] as number, 4 * C, 4, u.at[xi] as number, m.at[xi] as number, tiles, C, Co);
  winogradOutputTransform(backend, transforms, plan, m.at, out, bias, relu);
  disposeAll(backend, [u.tensor, v.tensor, m.tensor]);
  return out;
}

/** The transforms and block products bound to this backend's memory, or null where WebAssembly SIMD is unavailable. */
function simdKernels(backend: WasmBackendLike): { transforms: SimdWinograd; gemm: SimdGemm } | null {
  const memory = memoryOf(backend);
  const transforms = simdWinograd(memory);
  const gemm = simdGemm(memory);
  return transforms === null || gemm === null ? null : { transforms, gemm };
}

/**
 * Wraps the stock wasm `Conv2D` or `FusedConv2D` kernel: Winograd where it
 * applies (the header), the stock kernel otherwise.
 */
export function winogradForwardWasm(kernelName: 'Conv2D' | 'FusedConv2D', stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    if (!enabled) return stock(args);
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const attrs = args.attrs ?? {};
    const activation = attrs['activation'] ?? 'linear';
    if (x === undefined || filter === undefined || x.dtype !== 'float32' || filter.dtype !== 'float32') return stock(args);
    if (preluActivationWeights !== undefined || (activation !== 'linear' && activation !== 'relu')) return stock(args);
    if ((attrs['dataFormat'] ?? 'NHWC') !== 'NHWC' || x.shape.length !== 4 || filter.shape.length !== 4 || filter.shape[0] !== 3 || filter.shape[1] !== 3) return stock(args);
    const Co = filter.shape[3] as number;
    if (bias !== undefined && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== Co)) return stock(args);
    const g = convGeometry(kernelName, x.shape, filter.shape, attrs);
    const plan = winogradPlan(g, g.inChannels, Co, CONV_MIN_CHANNELS);
    if (plan === null) return stock(args);
    const backend = asWasmBackend(args.backend, kernelName);
    const kernels = simdKernels(backend);
    if (kernels === null) return stock(args);
    return winogradConvOnHeap(backend, kernels, x, filter, false, bias ?? null, activation === 'relu', plan);
  };
}

/**
 * The filter gradient dW `[3, 3, C, Co]` of a stride-1 3×3 conv by
 * Winograd when it applies (the header; C the input channels), else null:
 * the gradient of Y = Aᵀ·[Σ_c U ⊙ V]·A with respect to U is
 * dU_ξ = V_ξᵀ·dM_ξ with dM = A·dY·Aᵀ per tile, and dW = Gᵀ·dU·G.
 */
export function winogradFilterGrad(backend: WasmBackendLike, x: tf.TensorInfo, dy: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo | null {
  if (!enabled || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const wino = winogradPlan(g, g.inChannels, g.outChannels, FILTER_GRAD_MIN_CHANNELS);
  const kernels = wino === null ? null : simdKernels(backend);
  if (kernels === null || wino === null) return null;
  const { transforms, gemm } = kernels;
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outChannels: Co } = g;
  const plan = winogradTiles(B, H, W, wino.dilation, wino.tile);
  const { tiles } = plan;
  const count = (wino.tile + 2) ** 2;
  const v = allocatePlanes(backend, count, tiles * C);
  const dm = allocatePlanes(backend, count, tiles * Co);
  const du = allocatePlanes(backend, count, C * Co);
  const out = backend.makeOutput([3, 3, C, Co], 'float32');
  winogradInputTransform(backend, transforms, x, plan, v.at);
  const gradOutputRow = wino.tile === 4 ? transforms.gradOutputRow4 : transforms.gradOutputRow;
  forEachTileRow(plan, 4 * offsetF32(backend, dy), H, W, Co, dm.at, (row, m, rows, advance) => gradOutputRow(...row, ...m, rows, advance));
  // dU_ξ = V_ξᵀ·dM_ξ: V_ξ read transposed through its strides (next c: 4 bytes, next tile: 4·C).
  for (let xi = 0; xi < count; xi++) gemmOnMemory(gemm, v.at[xi] as number, 4, 4 * C, dm.at[xi] as number, du.at[xi] as number, C, tiles, Co);
  (wino.tile === 4 ? transforms.filterGrad4 : transforms.filterGrad)(4 * offsetF32(backend, out), 4 * C * Co, 4 * C * Co, ...du.at);
  disposeAll(backend, [v.tensor, dm.tensor, du.tensor]);
  return out;
}

/**
 * dx of a stride-1 3×3 conv by Winograd when it applies (the header; the
 * input channels of that convolution are the forward conv's output
 * channels), else null.
 */
export function winogradInputGrad(backend: WasmBackendLike, dy: tf.TensorInfo, filter: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo | null {
  if (!enabled || dy.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  const plan = winogradPlan(g, g.outChannels, g.inChannels, CONV_MIN_CHANNELS);
  const kernels = plan === null ? null : simdKernels(backend);
  return kernels === null || plan === null ? null : winogradConvOnHeap(backend, kernels, dy, filter, true, null, false, plan);
}
