/**
 * The training-step fusions of the native backend, on `wasm`: each one a
 * kernel in JS on the wasm heap where tfjs dispatches several (the kernel
 * names, the gradients that call them and the tfjs compositions they replace
 * live in src/backends/native/, shared by both backends):
 * - `HemnetBatchNormTraining` / `…Grad` / `…MovingAverage`: batch norm in
 *   training (batchNormTraining.ts), 1 + 1 + 1 kernels per layer and step
 *   where tfjs runs the moments, the normalisation, ≈ 25 gradient kernels and
 *   the two moving-average updates;
 * - `HemnetSumOfSquares`: Σᵢ ‖wᵢ‖², the weight decay (sumOfSquares.ts), one
 *   kernel for a Square, a Sum and their gradients per decayed weight.
 * The arithmetic follows the native kernels (native/src/train.cc,
 * reduce.cc): per-channel sums in float64, everything else in float32.
 * They cut a training step of the default model from 1745 to 426 kernels
 * (with the shared saves); the step time changed by less than the noise of
 * `npx tsx bench/native-step.ts --backend wasm` (docs/performance.md). JS on
 * the heap is several times slower per element than the wasm backend's SIMD
 * kernels, so batch norm's row passes run as WebAssembly SIMD loops
 * (batchNormSimd.ts, where C is a multiple of 4; the same values bit for
 * bit), 5–10× the JS loops, ≈ 15 % of a wasm training step of the default
 * model. The native ReLU gradient, three elementwise kernels in one, is not
 * here (≈ 0.34 ms in JS against 0.12 ms for tfjs's Step, Cast and Multiply
 * on [8, 32, 32, 16]).
 */
import type * as tf from '@tensorflow/tfjs';
import { BN_MOVING_AVERAGE_KERNEL, BN_TRAINING_GRAD_KERNEL, BN_TRAINING_KERNEL } from '../backends/native/batchNormTraining.js';
import { SUM_OF_SQUARES_KERNEL } from '../backends/native/sumOfSquares.js';
import { wasmFlushBelow } from './denormals.js';
import { simdBatchNorm, type SimdBatchNorm } from './batchNormSimd.js';
import { simdSumOfSquares } from './sumOfSquaresSimd.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend, heapF32, heapViews, offsetF32, type WasmBackendLike } from './wasmHeap.js';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

const f32 = Math.fround;

function required(inputs: tf.NamedTensorInfoMap, name: string, kernel: string): tf.TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw new Error(`${kernel}: input '${name}' is required`);
  if (t.dtype !== 'float32') throw new Error(`${kernel}: float32 inputs only ('${name}' is ${t.dtype})`);
  return t;
}

function sizeOf(t: tf.TensorInfo): number {
  return t.shape.reduce((a, b) => a * b, 1);
}

/** Rows × channels of x `[..., C]`, with `[C]` inputs checked against C. */
function rowsAndChannels(x: tf.TensorInfo, perChannel: readonly (tf.TensorInfo | undefined)[], kernel: string): { rows: number; C: number } {
  const C = x.shape[x.shape.length - 1] ?? 0;
  const size = sizeOf(x);
  if (x.shape.length < 2 || C === 0 || size === 0) throw new Error(`${kernel}: x must be a non-empty [..., C], received [${x.shape.join(', ')}]`);
  for (const t of perChannel) {
    if (t !== undefined && (t.shape.length !== 1 || t.shape[0] !== C)) throw new Error(`${kernel}: per-channel inputs must be [${C}], received [${t.shape.join(', ')}]`);
  }
  return { rows: size / C, C };
}

/**
 * Batch norm in training: y = x·k + (β − μ·k), k = γ/√(σ² + ε), with the
 * batch mean μ = Σx/N and biased variance σ² = Σ(x − μ)²/N per channel
 * (as tf.moments), accumulated in float64. Outputs [y, μ, σ²].
 */
export function batchNormTrainingWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, BN_TRAINING_KERNEL);
  const x = required(args.inputs, 'x', BN_TRAINING_KERNEL);
  const scale = required(args.inputs, 'scale', BN_TRAINING_KERNEL);
  const offset = required(args.inputs, 'offset', BN_TRAINING_KERNEL);
  const { rows, C } = rowsAndChannels(x, [scale, offset], BN_TRAINING_KERNEL);
  const epsilon = Number(args.attrs?.['epsilon']);
  const y = backend.makeOutput([...x.shape], 'float32');
  const mean = backend.makeOutput([C], 'float32');
  const variance = backend.makeOutput([C], 'float32');
  const size = rows * C;
  const simd = simdPasses && C % 4 === 0 ? simdBatchNorm(memoryOf(backend)) : null;
  if (simd !== null && batchNormTrainingSimd(backend, simd, { x, scale, offset, y, mean, variance }, rows, C, epsilon)) return [y, mean, variance];
  const view = heapViews(backend);
  const [X, S, O, Y, M, V] = [x, scale, offset, y, mean, variance].map(view) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const k = new Float32Array(C);
  const c = new Float32Array(C);
  // Channel by channel, the sums in locals (as batchNormSums.ts: faster in V8 than per-channel arrays).
  for (let j = 0; j < C; j++) {
    let sum = 0;
    for (let i = j; i < size; i += C) sum += X[i] as number;
    const mu = f32(sum / rows);
    let squares = 0;
    for (let i = j; i < size; i += C) {
      const d = f32((X[i] as number) - mu);
      squares += f32(d * d);
    }
    const sigma2 = f32(squares / rows);
    M[j] = mu;
    V[j] = sigma2;
    const kj = f32((S[j] as number) / f32(Math.sqrt(f32(sigma2 + epsilon))));
    k[j] = kj;
    c[j] = f32((O[j] as number) - f32(mu * kj));
  }
  for (let base = 0; base < size; base += C) {
    for (let j = 0; j < C; j++) Y[base + j] = f32((X[base + j] as number) * (k[j] as number)) + (c[j] as number);
  }
  return [y, mean, variance];
}

/**
 * Its gradient, with the gradients reaching the mean and variance outputs
 * (r = (σ² + ε)^−½, N rows):
 *   dβ = Σdy, dγ = r·Σdy(x − μ),
 *   dx = γr·(dy − Σdy/N − (x − μ)·r·dγ/N) + dμ/N + dσ²·2(x − μ)/N.
 * Outputs [dx, dγ, dβ].
 */
export function batchNormTrainingGradWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, BN_TRAINING_GRAD_KERNEL);
  const { inputs } = args;
  const [dy, x, mean, variance, scale] = ['dy', 'x', 'mean', 'variance', 'scale'].map((name) => required(inputs, name, BN_TRAINING_GRAD_KERNEL)) as [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo, tf.TensorInfo, tf.TensorInfo];
  const dMean = inputs['dMean'] !== undefined ? required(inputs, 'dMean', BN_TRAINING_GRAD_KERNEL) : undefined;
  const dVariance = inputs['dVariance'] !== undefined ? required(inputs, 'dVariance', BN_TRAINING_GRAD_KERNEL) : undefined;
  const { rows, C } = rowsAndChannels(x, [mean, variance, scale, dMean, dVariance], BN_TRAINING_GRAD_KERNEL);
  if (sizeOf(dy) !== rows * C) throw new Error(`${BN_TRAINING_GRAD_KERNEL}: dy [${dy.shape.join(', ')}] and x [${x.shape.join(', ')}] differ in size`);
  const epsilon = Number(args.attrs?.['epsilon']);
  const dx = backend.makeOutput([...x.shape], 'float32');
  const dScale = backend.makeOutput([C], 'float32');
  const dOffset = backend.makeOutput([C], 'float32');
  const size = rows * C;
  const simd = simdPasses && C % 4 === 0 ? simdBatchNorm(memoryOf(backend)) : null;
  if (simd !== null && batchNormTrainingGradSimd(backend, simd, { dy, x, mean, variance, scale, dMean, dVariance, dx, dScale, dOffset }, rows, C, epsilon)) return [dx, dScale, dOffset];
  const view = heapViews(backend);
  const [DY, X, M, V, S, DX, DS, DO] = [dy, x, mean, variance, scale, dx, dScale, dOffset].map(view) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const DM = dMean !== undefined ? view(dMean) : null;
  const DV = dVariance !== undefined ? view(dVariance) : null;
  const a = new Float32Array(C);
  const b = new Float32Array(C);
  const e = new Float32Array(C);
  const f = new Float32Array(C);
  const h = new Float32Array(C);
  for (let j = 0; j < C; j++) {
    const mu = M[j] as number;
    let sumDy = 0;
    let sumDyCentered = 0;
    for (let i = j; i < size; i += C) {
      const g = DY[i] as number;
      sumDy += g;
      sumDyCentered += g * f32((X[i] as number) - mu);
    }
    const r = 1 / Math.sqrt((V[j] as number) + f32(epsilon));
    const dGamma = r * sumDyCentered;
    DO[j] = sumDy;
    DS[j] = dGamma;
    a[j] = (S[j] as number) * r;
    b[j] = sumDy / rows;
    e[j] = (r * dGamma) / rows;
    f[j] = DV !== null ? (2 * (DV[j] as number)) / rows : 0;
    h[j] = DM !== null ? (DM[j] as number) / rows : 0;
  }
  for (let base = 0; base < size; base += C) {
    for (let j = 0; j < C; j++) {
      const d = f32((X[base + j] as number) - (M[j] as number));
      const inner = f32(f32((DY[base + j] as number) - (b[j] as number)) - f32(d * (e[j] as number)));
      DX[base + j] = f32(f32((a[j] as number) * inner) + f32(d * (f[j] as number))) + (h[j] as number);
    }
  }
  return [dx, dScale, dOffset];
}

let simdPasses = true;
/**
 * Runs batch norm's row passes in WebAssembly SIMD where C is a multiple of 4
 * (the default) or in the JavaScript loops; the values are the same bit for
 * bit (tested), so this is for comparing the two in one process.
 */
export function setSimdBatchNormPasses(enabled: boolean): void {
  simdPasses = enabled;
}

/**
 * A heap scratch of `floats` float32 (float64 accumulators first), or null
 * when its start is not 8-byte aligned (the caller then runs its JavaScript
 * loop). Dispose with `backend.disposeData`.
 */
function scratch(backend: WasmBackendLike, floats: number): { info: tf.TensorInfo; byte: number } | null {
  const info = backend.makeOutput([floats], 'float32');
  const byte = 4 * offsetF32(backend, info);
  if (byte % 8 !== 0) {
    backend.disposeData(info.dataId);
    return null;
  }
  return { info, byte };
}

/** The byte offset of a tensor on the heap. */
const byteOf = (backend: WasmBackendLike, t: tf.TensorInfo): number => 4 * offsetF32(backend, t);

/** `batchNormTrainingWasm` with its row passes in SIMD (batchNormSimd.ts), the same values bit for bit; false: not run (the JS loop runs). */
function batchNormTrainingSimd(
  backend: WasmBackendLike,
  simd: SimdBatchNorm,
  t: { x: tf.TensorInfo; scale: tf.TensorInfo; offset: tf.TensorInfo; y: tf.TensorInfo; mean: tf.TensorInfo; variance: tf.TensorInfo },
  rows: number,
  C: number,
  epsilon: number,
): boolean {
  // [C doubles of sums | k (C) | c (C)]
  const space = scratch(backend, 4 * C);
  if (space === null) return false;
  const n = 4 * rows * C;
  const heap = heapF32(backend);
  const acc = new Float64Array(heap.buffer, heap.byteOffset + space.byte, C);
  const kc = heap.subarray(space.byte / 4 + 2 * C, space.byte / 4 + 4 * C);
  const view = heapViews(backend);
  const [S, O, M, V] = [t.scale, t.offset, t.mean, t.variance].map(view) as [Float32Array, Float32Array, Float32Array, Float32Array];
  acc.fill(0);
  simd.colSum(byteOf(backend, t.x), n, 4 * C, space.byte);
  for (let j = 0; j < C; j++) M[j] = f32((acc[j] as number) / rows);
  acc.fill(0);
  simd.colSqDev(byteOf(backend, t.x), byteOf(backend, t.mean), n, 4 * C, space.byte);
  for (let j = 0; j < C; j++) {
    const sigma2 = f32((acc[j] as number) / rows);
    V[j] = sigma2;
    const kj = f32((S[j] as number) / f32(Math.sqrt(f32(sigma2 + epsilon))));
    kc[j] = kj;
    kc[C + j] = f32((O[j] as number) - f32((M[j] as number) * kj));
  }
  const kByte = space.byte + 8 * C;
  simd.affine(byteOf(backend, t.x), kByte, kByte + 4 * C, byteOf(backend, t.y), n, 4 * C);
  backend.disposeData(space.info.dataId);
  return true;
}

/** `batchNormTrainingGradWasm` with its row passes in SIMD (batchNormSimd.ts), the same values bit for bit; false: not run (the JS loop runs). */
function batchNormTrainingGradSimd(
  backend: WasmBackendLike,
  simd: SimdBatchNorm,
  t: {
    dy: tf.TensorInfo; x: tf.TensorInfo; mean: tf.TensorInfo; variance: tf.TensorInfo; scale: tf.TensorInfo;
    dMean: tf.TensorInfo | undefined; dVariance: tf.TensorInfo | undefined; dx: tf.TensorInfo; dScale: tf.TensorInfo; dOffset: tf.TensorInfo;
  },
  rows: number,
  C: number,
  epsilon: number,
): boolean {
  // [C doubles Σdy | C doubles Σdy(x − μ) | a | b | e | f | h (C each)]
  const space = scratch(backend, 9 * C);
  if (space === null) return false;
  const n = 4 * rows * C;
  const heap = heapF32(backend);
  const sums = new Float64Array(heap.buffer, heap.byteOffset + space.byte, 2 * C);
  const perChannel = heap.subarray(space.byte / 4 + 4 * C, space.byte / 4 + 9 * C);
  const view = heapViews(backend);
  const [V, S, DS, DO] = [t.variance, t.scale, t.dScale, t.dOffset].map(view) as [Float32Array, Float32Array, Float32Array, Float32Array];
  const DM = t.dMean !== undefined ? view(t.dMean) : null;
  const DV = t.dVariance !== undefined ? view(t.dVariance) : null;
  sums.fill(0);
  simd.colDyDev(byteOf(backend, t.dy), byteOf(backend, t.x), byteOf(backend, t.mean), n, 4 * C, space.byte, space.byte + 8 * C);
  for (let j = 0; j < C; j++) {
    const sumDy = sums[j] as number;
    const r = 1 / Math.sqrt((V[j] as number) + f32(epsilon));
    const dGamma = r * (sums[C + j] as number);
    DO[j] = sumDy;
    DS[j] = dGamma;
    perChannel[j] = (S[j] as number) * r;
    perChannel[C + j] = sumDy / rows;
    perChannel[2 * C + j] = (r * dGamma) / rows;
    perChannel[3 * C + j] = DV !== null ? (2 * (DV[j] as number)) / rows : 0;
    perChannel[4 * C + j] = DM !== null ? (DM[j] as number) / rows : 0;
  }
  const first = space.byte + 16 * C;
  const [a, b, e, f, h] = [0, 1, 2, 3, 4].map((i) => first + 4 * C * i) as [number, number, number, number, number];
  simd.bnDx(byteOf(backend, t.dy), byteOf(backend, t.x), byteOf(backend, t.mean), a, b, e, f, h, byteOf(backend, t.dx), n, 4 * C);
  backend.disposeData(space.info.dataId);
  return true;
}

/**
 * Both moving statistics, current − (current − batch)·decay, in tfjs-layers' float32 order; a subnormal result
 * is stored as +0 unless `setFlushDenormals(false)` (denormals.ts: the statistics of a channel that stopped
 * varying decay geometrically into that range). Outputs [movingMean', movingVariance'].
 */
export function batchNormMovingAverageWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, BN_MOVING_AVERAGE_KERNEL);
  const decay = f32(Number(args.attrs?.['decay']));
  const pairs = [['movingMean', 'mean'], ['movingVariance', 'variance']] as const;
  const operands = pairs.map(([current, batch]) => {
    const c = required(args.inputs, current, BN_MOVING_AVERAGE_KERNEL);
    const v = required(args.inputs, batch, BN_MOVING_AVERAGE_KERNEL);
    if (sizeOf(c) !== sizeOf(v)) throw new Error(`${BN_MOVING_AVERAGE_KERNEL}: '${current}' and '${batch}' differ in size`);
    return { c, v, out: backend.makeOutput([...c.shape], 'float32') };
  });
  const view = heapViews(backend);
  const below = wasmFlushBelow();
  for (const { c, v, out } of operands) {
    const [current, batch, next] = [c, v, out].map(view) as [Float32Array, Float32Array, Float32Array];
    for (let i = 0; i < current.length; i++) {
      const value = f32((current[i] as number) - f32(f32((current[i] as number) - (batch[i] as number)) * decay));
      next[i] = Math.abs(value) < below ? 0 : value;
    }
  }
  return operands.map((o) => o.out);
}

/** Σᵢ Σ wᵢ², accumulated in float64 in input order; a float32 scalar. */
export function sumOfSquaresWasm(args: KernelArgs): tf.TensorInfo {
  const backend: WasmBackendLike = asWasmBackend(args.backend, SUM_OF_SQUARES_KERNEL);
  const tensors = Object.keys(args.inputs)
    .sort((p, q) => Number(p) - Number(q))
    .map((key) => required(args.inputs, key, SUM_OF_SQUARES_KERNEL));
  const out = backend.makeOutput([], 'float32');
  const view = heapViews(backend);
  const simd = simdSumOfSquares(memoryOf(backend));
  let total = 0;
  for (const t of tensors) {
    const values = view(t);
    // Whole groups of 4 in SIMD (sumOfSquaresSimd.ts), the rest here; both in float64.
    const start = simd === null ? 0 : values.length - (values.length % 4);
    if (simd !== null && start > 0) {
      const at = 4 * offsetF32(backend, t);
      total += simd.sumSquares(at, at + 4 * start);
    }
    for (let i = start; i < values.length; i++) {
      const w = values[i] as number;
      total += w * w;
    }
  }
  view(out)[0] = total;
  return out;
}
