/**
 * Winograd's F(2×2, 3×3) (Lavin & Gray 2016) for the convolutions a
 * training step runs on wasm: `Conv2D` and `FusedConv2D` (bias and ReLU or
 * no activation) forward, `Conv2DBackpropInput`, whose stride-1 case is
 * the forward convolution of dy with the flipped filter, and
 * `Conv2DBackpropFilter` (`winogradFilterGrad`). Folded inference
 * keeps its own kernel (winogradConv.ts), whose filter is transformed once
 * per fold; here the filter changes every step (Adam writes a new tensor),
 * so each call transforms it:
 *
 *   U_ξ = (G·g·Gᵀ)_ξ  per input/output channel pair (winogradSimd.ts, SIMD);
 *   V_ξ = (Bᵀ·d·B)_ξ  per 2×2 output tile (winogradSimd.ts, SIMD);
 *   M_ξ = V_ξ·U_ξ     16 products [tiles, C]·[C, Co] in the SIMD block
 *                     kernels of batchMatMulSimd.ts (no XNNPACK operator
 *                     to create and no weights to pack per call);
 *   Y = Aᵀ·M·A (+ bias, ReLU) per tile (winogradSimd.ts).
 *
 * For the input gradient dx = conv(dy, wflip) with wflip[a, b, co, ci] =
 * w[2 − a, 2 − b, ci, co] (conv2dBackpropInput.ts). Reversing the taps of
 * a 3-tap filter reverses the columns of G, which gives G's rows in the
 * order σ = (3, 1, 2, 0), so U(wflip)_{4i+j} = U(w)_{4σ(i)+σ(j)}ᵀ: the same
 * transform, written to permuted planes, transposed.
 *
 * Applies to 3×3 filters, stride 1, one dilation d on both axes with d
 * pixels of padding on every side ('same'), maps whose height and width
 * are multiples of 2d, channel counts multiples of 4, and at least
 * `WINOGRAD_MIN_CHANNELS` input channels of the convolution computed
 * (below that the direct conv is as fast: bench/winograd.ts; the filter
 * gradient from `WINOGRAD_FILTER_GRAD_MIN_CHANNELS`). Everything else runs
 * the stock kernel.
 * `setWasmWinograd(false)` turns it off (e.g. to compare against the
 * direct convolution).
 */
import type * as tf from '@tensorflow/tfjs';
import { gemmOnMemory, simdGemm, type SimdGemm } from './batchMatMulSimd.js';
import { convGeometry, type ConvGeometry } from './convGeometry.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend, disposeAll, offsetF32, type WasmBackendLike } from './wasmHeap.js';
import { forEachTileRow, planeAddresses, winogradInputTransform, winogradOutputTransform, winogradTiles } from './winogradConv.js';
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

let enabled = true;

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

/**
 * The dilation d when the geometry is one F(2×2, 3×3) with dilation d
 * computes (see the header), else 0.
 */
function winogradDilation(g: ConvGeometry, inChannels: number, outChannels: number, minChannels = WINOGRAD_MIN_CHANNELS): number {
  const d = g.dilationHeight;
  const ok =
    g.filterHeight === 3 && g.filterWidth === 3 && g.strideHeight === 1 && g.strideWidth === 1 && g.dilationWidth === d &&
    g.padTop === d && g.padLeft === d && g.outHeight === g.inHeight && g.outWidth === g.inWidth &&
    g.inHeight % (2 * d) === 0 && g.inWidth % (2 * d) === 0 && inChannels % 4 === 0 && outChannels % 4 === 0 &&
    inChannels >= minChannels && g.batch > 0;
  return ok ? d : 0;
}

/**
 * The 'same' 3×3 stride-1 convolution with dilation d of x `[B, H, W, C]`
 * by `filter` `[3, 3, C, Co]` (or, with `flip`, by the flipped filter of a
 * `[3, 3, Co', C]` filter: the input gradient), plus bias, then ReLU.
 */
function winogradConvOnHeap(backend: WasmBackendLike, { transforms, gemm }: { transforms: SimdWinograd; gemm: SimdGemm }, x: tf.TensorInfo, filter: tf.TensorInfo, flip: boolean, bias: tf.TensorInfo | null, relu: boolean, d: number): tf.TensorInfo {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const [, , fi, fo] = filter.shape as [number, number, number, number];
  const Co = flip ? fi : fo;
  const plan = winogradTiles(B, H, W, d);
  const { tiles } = plan;
  const u = backend.makeOutput([16, C, Co], 'float32');
  const v = backend.makeOutput([16, tiles, C], 'float32');
  const m = backend.makeOutput([16, tiles, Co], 'float32');
  const out = backend.makeOutput([B, H, W, Co], 'float32');
  const uAt = 4 * offsetF32(backend, u);
  // Plane of U_{4i+j}: 4i + j, or 4σ(i) + σ(j) with σ = (3, 1, 2, 0) and the plane transposed when flipped (the header).
  const planeAt = (i: number, j: number) => uAt + 4 * (4 * i + j) * C * Co;
  const gAt = 4 * offsetF32(backend, filter);
  if (flip) {
    // U(w) as [fi, fo] planes, in the permuted order, then each plane transposed into u.
    const planes = backend.makeOutput([16, fi, fo], 'float32');
    const tAt = 4 * offsetF32(backend, planes);
    const tmpAt = (i: number, j: number) => tAt + 4 * (4 * i + j) * C * Co;
    transforms.filterPlain(gAt, 4 * fi * fo, 4 * fi * fo, ...FLIP.flatMap((i) => FLIP.map((j) => tmpAt(i, j))));
    for (let xi = 0; xi < 16; xi++) transforms.transposePlane(tAt + 4 * xi * C * Co, uAt + 4 * xi * C * Co, 4 * fo, fi, 4 * fi);
    disposeAll(backend, [planes]);
  } else {
    transforms.filterPlain(gAt, 4 * fi * fo, 4 * fi * fo, ...ROWS.flatMap((i) => ROWS.map((j) => planeAt(i, j))));
  }
  const vAt = planeAddresses(backend, v, tiles * C);
  const mAt = planeAddresses(backend, m, tiles * Co);
  winogradInputTransform(backend, transforms, x, plan, vAt);
  for (let xi = 0; xi < 16; xi++) gemmOnMemory(gemm, vAt[xi] as number, 4 * C, 4, uAt + 4 * xi * C * Co, mAt[xi] as number, tiles, C, Co);
  winogradOutputTransform(backend, transforms, plan, mAt, out, bias, relu);
  disposeAll(backend, [u, v, m]);
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
    const d = winogradDilation(g, g.inChannels, Co);
    if (d === 0) return stock(args);
    const backend = asWasmBackend(args.backend, kernelName);
    const kernels = simdKernels(backend);
    if (kernels === null) return stock(args);
    return winogradConvOnHeap(backend, kernels, x, filter, false, bias ?? null, activation === 'relu', d);
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
  const d = winogradDilation(g, g.inChannels, g.outChannels, WINOGRAD_FILTER_GRAD_MIN_CHANNELS);
  const kernels = d === 0 ? null : simdKernels(backend);
  if (kernels === null) return null;
  const { transforms, gemm } = kernels;
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outChannels: Co } = g;
  const plan = winogradTiles(B, H, W, d);
  const { tiles } = plan;
  const v = backend.makeOutput([16, tiles, C], 'float32');
  const dm = backend.makeOutput([16, tiles, Co], 'float32');
  const du = backend.makeOutput([16, C, Co], 'float32');
  const out = backend.makeOutput([3, 3, C, Co], 'float32');
  const vAt = planeAddresses(backend, v, tiles * C);
  const mAt = planeAddresses(backend, dm, tiles * Co);
  const uAt = planeAddresses(backend, du, C * Co);
  winogradInputTransform(backend, transforms, x, plan, vAt);
  forEachTileRow(plan, 4 * offsetF32(backend, dy), H, W, Co, mAt, (row, m) => transforms.gradOutputRow(...row, ...m));
  // dU_ξ = V_ξᵀ·dM_ξ: V_ξ read transposed through its strides (next c: 4 bytes, next tile: 4·C).
  for (let xi = 0; xi < 16; xi++) gemmOnMemory(gemm, vAt[xi] as number, 4, 4 * C, mAt[xi] as number, uAt[xi] as number, C, tiles, Co);
  transforms.filterGrad(4 * offsetF32(backend, out), 4 * C * Co, 4 * C * Co, ...uAt);
  disposeAll(backend, [v, dm, du]);
  return out;
}

/**
 * dx of a stride-1 3×3 conv by Winograd when it applies (the header; the
 * input channels of that convolution are the forward conv's output
 * channels), else null.
 */
export function winogradInputGrad(backend: WasmBackendLike, dy: tf.TensorInfo, filter: tf.TensorInfo, g: ConvGeometry): tf.TensorInfo | null {
  if (!enabled || dy.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  const d = winogradDilation(g, g.outChannels, g.inChannels);
  const kernels = d === 0 ? null : simdKernels(backend);
  return kernels === null ? null : winogradConvOnHeap(backend, kernels, dy, filter, true, null, false, d);
}
