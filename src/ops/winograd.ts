/**
 * Winograd's F(2×2, 3×3) and F(4×4, 3×3) convolutions for inference (Lavin
 * & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016),
 * platform-neutral: the filter transform U = G·g·Gᵀ here, the convolution
 * itself as the `HemnetWinogradConv2D` kernel where a backend registers one
 * (wasm: src/kernels/winogradConv.ts). Each 2×2 output tile costs 16
 * products per channel pair instead of 36 (2.25× fewer), each 4×4 tile 36
 * instead of 144 (4× fewer), so the 3×3 layers of a small net run on fewer
 * multiply-adds than the direct convolution; the input and output
 * transforms are additions and multiplications by small integers. F(4×4,
 * 3×3) rounds a little more (its filter transform has ⅙ and 1/24: ≈ 1e-5
 * relative here against ≈ 1e-6). No gradient: use it where nothing trains.
 */
import * as tf from '@tensorflow/tfjs';
import { WINOGRAD_CONV_KERNEL, winogradTransformsAvailable, type WinogradTile } from '../kernels/winogradConv.js';

export type { WinogradTile };

type Row3 = readonly [number, number, number];

/** G, the (m + 2) × 3 filter transform of F(m×m, 3×3): F(2×2, 3×3)'s and F(4×4, 3×3)'s (points 0, ±1, ±2, ∞). */
const FILTER_TRANSFORMS: Record<WinogradTile, readonly Row3[]> = {
  2: [
    [1, 0, 0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0, 0, 1],
  ],
  4: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
};

/**
 * The (m + 2)² transformed filters U_ξ `[C, Co]` (ξ = (m + 2)·i + j; 16 for
 * m = 2, 36 for m = 4) of a 3×3 filter `[3, 3, C, Co]`:
 * U[i][j] = Σ_a Σ_b G[i][a]·g[a][b]·G[j][b], in float64, rounded once to
 * float32.
 */
export function winogradFilters(filter: tf.Tensor4D, tile: WinogradTile = 2): tf.Tensor2D[] {
  const [kh, kw, C, Co] = filter.shape;
  if (filter.rank !== 4 || kh !== 3 || kw !== 3) throw new Error(`winogradFilters: 'filter' must be [3, 3, C, Co], received [${filter.shape.join(', ')}]`);
  if (tile !== 2 && tile !== 4) throw new Error(`winogradFilters: 'tile' must be 2 or 4, received ${String(tile)}`);
  const G = FILTER_TRANSFORMS[tile];
  const n = G.length;
  const g = filter.dataSync();
  const plane = C * Co;
  const out = Array.from({ length: n * n }, () => new Float32Array(plane));
  const t = new Float64Array(3 * n); // G·g, n × 3
  for (let q = 0; q < plane; q++) {
    for (let i = 0; i < n; i++) {
      const row = G[i] as Row3;
      for (let b = 0; b < 3; b++) t[3 * i + b] = row[0] * (g[b * plane + q] as number) + row[1] * (g[(3 + b) * plane + q] as number) + row[2] * (g[(6 + b) * plane + q] as number);
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const col = G[j] as Row3;
        (out[n * i + j] as Float32Array)[q] = (t[3 * i] as number) * col[0] + (t[3 * i + 1] as number) * col[1] + (t[3 * i + 2] as number) * col[2];
      }
    }
  }
  return out.map((values) => tf.tensor2d(values, [C, Co]));
}

/** True when the active backend runs `HemnetWinogradConv2D` (wasm with WebAssembly SIMD). */
export function winogradConvAvailable(): boolean {
  const name = tf.getBackend();
  return tf.getKernel(WINOGRAD_CONV_KERNEL, name) !== undefined && winogradTransformsAvailable(tf.backend());
}

/**
 * Whether a conv with these settings is one `winogradConv2d` computes with
 * m×m output tiles (`tile`, default 2): a 3×3 filter, stride 1, the same
 * dilation d on both axes, d pixels of zero padding on every side ('same'
 * or explicit), channel counts multiples of 4, and a height and width of
 * the input that are multiples of m·d.
 */
export function winogradConvApplies(
  inputShape: readonly number[],
  filterShape: readonly number[],
  strides: readonly [number, number],
  dilations: readonly [number, number],
  pad: 'same' | 'valid' | readonly [readonly [number, number], readonly [number, number]],
  tile: WinogradTile = 2,
): boolean {
  const [, H, W, C] = inputShape as [number, number, number, number];
  const [kh, kw, fc, Co] = filterShape as [number, number, number, number];
  const d = dilations[0];
  const padded = pad === 'same' || (pad !== 'valid' && pad.every(([before, after]) => before === d && after === d));
  return (
    inputShape.length === 4 && filterShape.length === 4 && kh === 3 && kw === 3 && fc === C &&
    strides[0] === 1 && strides[1] === 1 && Number.isInteger(d) && d >= 1 && dilations[1] === d && padded &&
    H % (tile * d) === 0 && W % (tile * d) === 0 && C % 4 === 0 && Co % 4 === 0
  );
}

/**
 * The 3×3 stride-1 'same' convolution (dilation `dilation`) of `x`
 * `[B, H, W, C]` with the filter whose transform is `filters`
 * (`winogradFilters`: 16 matrices run it as F(2×2, 3×3), 36 as F(4×4,
 * 3×3)), plus `bias`, then ReLU when `relu`: `[B, H, W, Co]`, equal to
 * `tf.fused.conv2d` up to float32 rounding. Needs `winogradConvAvailable()`
 * and `winogradConvApplies` for that tile; no gradient.
 */
export function winogradConv2d(x: tf.Tensor4D, filters: readonly tf.Tensor2D[], bias: tf.Tensor1D | null, relu: boolean, dilation = 1): tf.Tensor4D {
  if (filters.length !== 16 && filters.length !== 36) throw new Error(`winogradConv2d: expects the 16 (F(2×2, 3×3)) or 36 (F(4×4, 3×3)) transformed filters of winogradFilters, received ${filters.length}`);
  const inputs: tf.NamedTensorMap = { x };
  filters.forEach((u, i) => {
    inputs[`u${i}`] = u;
  });
  if (bias !== null) inputs['bias'] = bias;
  return tf.engine().runKernel(WINOGRAD_CONV_KERNEL, inputs, { relu, dilation }) as tf.Tensor4D;
}
