/**
 * Loads hemnet's optional native addon (`native/`, built from source by
 * `npm run build:native`). Node-only; never throws: a missing or broken
 * addon is reported as a reason string.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The functions the addon exports (see native/src/*.cc). All buffers are used in place. */
export interface NativeAddon {
  /** kind 0: y = conv(x, w); 1: dx = conv_bwd_data(dy, w); 2: dw = conv_bwd_weights(x, dy). geometry: 17 ints. */
  conv2d(kind: 0 | 1 | 2, a: Float32Array, b: Float32Array, out: Float32Array, geometry: Int32Array): void;
  /** params: batchA, batchB, M, K, N, transposeA, transposeB. */
  matMul(a: Float32Array, b: Float32Array, out: Float32Array, params: Int32Array): void;
  binary(op: number, a: Float32Array, aShape: Int32Array, b: Float32Array, bShape: Int32Array, out: Float32Array, outShape: Int32Array): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  /** tfjs's Prelu gradient for a single α. part 0: out = x > 0 ? dy : dy·α (dx); 1: out = x > 0 ? 0 : dy·x (summed: dα). */
  preluGrad(dy: Float32Array, x: Float32Array, alpha: number, out: Float32Array, part: 0 | 1): void;
  reduce(op: number, x: Float32Array, out: Float32Array, outer: number, reduced: number, inner: number): void;
  /** Σ x² accumulated in double, in order. */
  sumSquares(x: Float32Array): number;
  /**
   * Pooling of NHWC images (native/src/pool.cc). mode 0: max pool of a = x; 1: its gradient (a = x, dy,
   * out = dx); 2: average pool of a = x; 3: its gradient (a = dy, out = dx). params: B, H, W, C, outH,
   * outW, strideH, strideW, filterH, filterW, padTop, padLeft.
   */
  pool(mode: number, a: Float32Array, dy: Float32Array | null, out: Float32Array, params: Int32Array): void;
  batchNorm(x: Float32Array, mean: Float32Array, variance: Float32Array, offset: Float32Array | null, scale: Float32Array | null, out: Float32Array, epsilon: number): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** params: B, H, W, C, newH, newW, flags (1 alignCorners, 2 halfPixelCenters). */
  resizeBilinear(x: Float32Array, out: Float32Array, params: Int32Array): void;
  /** params: B, xH, xW, C, yH, yW, flags. */
  resizeBilinearGrad(dy: Float32Array, dx: Float32Array, params: Int32Array): void;
  /** out = x with axes permuted (out axis j is x axis perm[j]). */
  transpose(x: Float32Array, shape: Int32Array, perm: Int32Array, out: Float32Array): void;
  /**
   * One Adam step, tfjs's arithmetic: outputs wOut, mOut, vOut may be the inputs (in place).
   * params: β₁, 1−β₁, β₂, 1−β₂, 1−β₁ᵗ, 1−β₂ᵗ, ε, −learningRate.
   */
  adam(w: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, wOut: Float32Array, mOut: Float32Array, vOut: Float32Array, params: Float32Array): void;
  /** Batch-norm training over [rows, channels]: batch mean and (biased) variance of x, and y normalised with them. */
  batchNormTrain(x: Float32Array, scale: Float32Array | null, offset: Float32Array | null, y: Float32Array, mean: Float32Array, variance: Float32Array, channels: number, epsilon: number): void;
  /** Its gradient, including gradients reaching the mean and variance outputs (null: none). */
  batchNormTrainGrad(
    dy: Float32Array, x: Float32Array, mean: Float32Array, variance: Float32Array, scale: Float32Array | null,
    dMean: Float32Array | null, dVariance: Float32Array | null, dx: Float32Array, dScale: Float32Array, dOffset: Float32Array,
    channels: number, epsilon: number,
  ): void;
  /** out = current − (current − value)·decay (float32, tfjs-layers' moving-average update). */
  movingAverage(current: Float32Array, value: Float32Array, out: Float32Array, decay: number): void;
  /**
   * Unrolled highway EM (native/src/hem.cc): x [B, N, C], mu0 [K, C] or [B, K, C] → mu [B, K, C],
   * gamma [B, N, K], reconstruction [B, N, C] and the workspace the gradient reads.
   * params: η, σ²; ints: B, N, C, K, T, kernel (0 dot, 1 rbf), normalizeBases, mu0 batched.
   */
  hemUnroll(x: Float32Array, mu0: Float32Array, mu: Float32Array, gamma: Float32Array, reconstruction: Float32Array, workspace: Float32Array, params: Float32Array, ints: Int32Array): void;
  /** Its gradient: dx [B, N, C] and dMu0 (mu0's shape) from the gradients reaching mu, gamma, reconstruction (null: none). */
  hemUnrollGrad(
    dMu: Float32Array | null, dGamma: Float32Array | null, dReconstruction: Float32Array | null, x: Float32Array, workspace: Float32Array,
    dx: Float32Array, dMu0: Float32Array, params: Float32Array, ints: Int32Array,
  ): void;
  /** Softmax cross-entropy with an ignore label over logits [P, K], labels [P]: loss [1] (mean over scored pixels) and its gradient [P, K]. */
  softmaxCrossEntropy(logits: Float32Array, labels: Int32Array, loss: Float32Array, gradient: Float32Array, ignoreLabel: number): void;
  /** Library versions and thread count. */
  info(): string;
  /**
   * Threads of the parallel kernels (oneDNN, OpenBLAS, hemnet's OpenMP loops): n ≥ 1 sets the count,
   * parallelWork > 0 the work (multiply-adds) below which a convolution or product runs on one thread;
   * 0 leaves either unchanged. Returns [threads, parallelWork] in effect.
   */
  threads(n: number, parallelWork: number): [number, number];
  /**
   * mode 1: the addon's kernels flush subnormal floats to zero (x86 FTZ + DAZ, the default;
   * `HEMNET_FLUSH_DENORMALS=0` starts with 0); 0: IEEE subnormals kept; −1: only ask.
   * Returns whether the flush is in effect. JavaScript's own arithmetic is never affected.
   */
  flushDenormals(mode: 1 | 0 | -1): boolean;
}

/** Every function of `NativeAddon`: an addon built from older sources lacks some and is refused. */
const ADDON_FUNCTIONS: readonly (keyof NativeAddon)[] = [
  'conv2d', 'matMul', 'binary', 'unary', 'preluGrad', 'reduce', 'batchNorm', 'softmax', 'resizeBilinear', 'resizeBilinearGrad',
  'transpose', 'adam', 'batchNormTrain', 'batchNormTrainGrad', 'movingAverage', 'hemUnroll', 'hemUnrollGrad', 'softmaxCrossEntropy', 'info', 'threads', 'sumSquares', 'pool', 'flushDenormals',
];

export type AddonLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

/** How to get the addon, for error messages. */
export const NATIVE_BUILD_HINT =
  'build it with: apt-get install -y libdnnl-dev libopenblas-dev build-essential && npm run build:native';

const ADDON_FILE = join('native', 'build', 'Release', 'hemnet_native.node');

/** The package root: this file is `src/backends/native/addon.ts` or `dist/backends/native/addon.js`. */
function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

let cached: AddonLoad | undefined;

/**
 * Loads the addon once. `HEMNET_NATIVE_ADDON` may name another `.node` file;
 * `HEMNET_NATIVE=0` disables it (for comparisons).
 */
export function loadNativeAddon(): AddonLoad {
  if (cached !== undefined) return cached;
  if (process.env['HEMNET_NATIVE'] === '0') {
    cached = { ok: false, reason: 'disabled by HEMNET_NATIVE=0' };
    return cached;
  }
  const path = process.env['HEMNET_NATIVE_ADDON'] || join(packageRoot(), ADDON_FILE);
  if (!existsSync(path)) {
    cached = { ok: false, reason: `the native addon is not built (${path} does not exist)` };
    return cached;
  }
  // OpenMP threads that finish a parallel region sleep instead of spinning,
  // so that they do not compete with OpenBLAS's threads (libgomp reads this
  // when the addon loads).
  if (process.env['OMP_WAIT_POLICY'] === undefined) process.env['OMP_WAIT_POLICY'] = 'PASSIVE';
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    const missing = ADDON_FUNCTIONS.filter((name) => typeof (addon as unknown as Record<string, unknown>)[name] !== 'function');
    if (missing.length > 0) {
      cached = { ok: false, reason: `${path} is not hemnet's native addon or is out of date (no ${missing.join(', ')}; rebuild it: npm run build:native)` };
    } else {
      cached = { ok: true, addon, path };
    }
  } catch (error) {
    cached = { ok: false, reason: `the native addon at ${path} failed to load: ${(error as Error).message}` };
  }
  return cached;
}
