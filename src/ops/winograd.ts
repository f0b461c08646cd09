/**
 * Winograd's F(2×2, 3×3) convolution for inference (Lavin & Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016), platform-neutral:
 * the filter transform U = G·g·Gᵀ here, the convolution itself as the
 * `HemnetWinogradConv2D` kernel where a backend registers one (wasm:
 * src/kernels/winogradConv.ts). Each 2×2 output tile costs 16 products per
 * channel pair instead of 36, so the 3×3 layers of a small net run on
 * fewer multiply-adds than the direct convolution; the transforms are
 * additions only. No gradient: use it where nothing trains.
 */
import * as tf from '@tensorflow/tfjs';
import { WINOGRAD_CONV_KERNEL, winogradTransformsAvailable } from '../kernels/winogradConv.js';

/** G, the 4 × 3 filter transform of F(2×2, 3×3). */
const G: ReadonlyArray<readonly [number, number, number]> = [
  [1, 0, 0],
  [0.5, 0.5, 0.5],
  [0.5, -0.5, 0.5],
  [0, 0, 1],
];

/**
 * The 16 transformed filters U_ξ `[C, Co]` (ξ = 4i + j) of a 3×3 filter
 * `[3, 3, C, Co]`: U[i][j] = Σ_a Σ_b G[i][a]·g[a][b]·G[j][b], in float64,
 * rounded once to float32.
 */
export function winogradFilters(filter: tf.Tensor4D): tf.Tensor2D[] {
  const [kh, kw, C, Co] = filter.shape;
  if (filter.rank !== 4 || kh !== 3 || kw !== 3) throw new Error(`winogradFilters: 'filter' must be [3, 3, C, Co], received [${filter.shape.join(', ')}]`);
  const g = filter.dataSync();
  const plane = C * Co;
  const out = Array.from({ length: 16 }, () => new Float32Array(plane));
  const t = new Float64Array(12); // G·g, 4 × 3
  for (let q = 0; q < plane; q++) {
    for (let i = 0; i < 4; i++) {
      const row = G[i] as readonly [number, number, number];
      for (let b = 0; b < 3; b++) t[3 * i + b] = row[0] * (g[b * plane + q] as number) + row[1] * (g[(3 + b) * plane + q] as number) + row[2] * (g[(6 + b) * plane + q] as number);
    }
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const col = G[j] as readonly [number, number, number];
        (out[4 * i + j] as Float32Array)[q] = (t[3 * i] as number) * col[0] + (t[3 * i + 1] as number) * col[1] + (t[3 * i + 2] as number) * col[2];
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
 * Whether a conv with these settings is one `winogradConv2d` computes: a
 * 3×3 filter, stride 1, the same dilation d on both axes, d pixels of zero
 * padding on every side ('same' or explicit), channel counts multiples of
 * 4, and a height and width of the input that are multiples of 2d.
 */
export function winogradConvApplies(
  inputShape: readonly number[],
  filterShape: readonly number[],
  strides: readonly [number, number],
  dilations: readonly [number, number],
  pad: 'same' | 'valid' | readonly [readonly [number, number], readonly [number, number]],
): boolean {
  const [, H, W, C] = inputShape as [number, number, number, number];
  const [kh, kw, fc, Co] = filterShape as [number, number, number, number];
  const d = dilations[0];
  const padded = pad === 'same' || (pad !== 'valid' && pad.every(([before, after]) => before === d && after === d));
  return (
    inputShape.length === 4 && filterShape.length === 4 && kh === 3 && kw === 3 && fc === C &&
    strides[0] === 1 && strides[1] === 1 && Number.isInteger(d) && d >= 1 && dilations[1] === d && padded &&
    H % (2 * d) === 0 && W % (2 * d) === 0 && C % 4 === 0 && Co % 4 === 0
  );
}

/**
 * The 3×3 stride-1 'same' convolution (dilation `dilation`) of `x`
 * `[B, H, W, C]` with the filter whose transform is `filters`
 * (`winogradFilters`), plus `bias`, then ReLU when `relu`: `[B, H, W, Co]`,
 * equal to `tf.fused.conv2d` up to float32 rounding. Needs
 * `winogradConvAvailable()` and `winogradConvApplies`; no gradient.
 */
export function winogradConv2d(x: tf.Tensor4D, filters: readonly tf.Tensor2D[], bias: tf.Tensor1D | null, relu: boolean, dilation = 1): tf.Tensor4D {
  if (filters.length !== 16) throw new Error(`winogradConv2d: expects the 16 transformed filters of winogradFilters, received ${filters.length}`);
  const inputs: tf.NamedTensorMap = { x };
  filters.forEach((u, i) => {
    inputs[`u${i}`] = u;
  });
  if (bias !== null) inputs['bias'] = bias;
  return tf.engine().runKernel(WINOGRAD_CONV_KERNEL, inputs, { relu, dilation }) as tf.Tensor4D;
}
