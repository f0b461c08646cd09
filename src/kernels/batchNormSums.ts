/**
 * `HemnetBatchNormSums` (wasm): the two per-channel sums of the batch-norm
 * gradient (batchNormGrad.ts) in one pass over dy and x, instead of a
 * `Sub`, a `Mul`, two ones-vector products `1ᵀ · t` and their reshapes:
 *   S[dy][c] = Σ_n dy[n, c],   S[dy ⊙ (x − μ)][c] = Σ_n dy[n, c] · (x[n, c] − μ[c]),
 * with n over every axis but the last. Accumulated in float64 per channel
 * (the products are the float32 ones: (x − μ) and · are rounded to float32
 * first, as the stock ops compute them), written out as float32.
 */
import type * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapF32, offsetF32 } from './wasmHeap.js';

export const BATCH_NORM_SUMS = 'HemnetBatchNormSums';

/** The kernel function registered for `HemnetBatchNormSums` on wasm: inputs dy, x `[..., C]`, mean `[C]`; outputs two `[C]`. */
export function batchNormSumsWasm(args: { inputs: tf.NamedTensorInfoMap; backend: {}; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, BATCH_NORM_SUMS);
  const { dy, x, mean } = args.inputs;
  if (dy === undefined || x === undefined || mean === undefined) throw new Error(`${BATCH_NORM_SUMS}: inputs 'dy', 'x' and 'mean' are required`);
  const C = mean.shape[0] ?? 0;
  const size = x.shape.reduce((a, b) => a * b, 1);
  if (mean.shape.length !== 1 || x.shape[x.shape.length - 1] !== C || dy.shape.reduce((a, b) => a * b, 1) !== size) {
    throw new Error(`${BATCH_NORM_SUMS}: expected dy and x of the same size [..., C] and mean [C], received [${dy.shape.join(', ')}], [${x.shape.join(', ')}], [${mean.shape.join(', ')}]`);
  }
  if ([dy, x, mean].some((t) => t.dtype !== 'float32')) throw new Error(`${BATCH_NORM_SUMS}: float32 inputs only`);
  const sumDy = backend.makeOutput([C], 'float32');
  const sumDyCentered = backend.makeOutput([C], 'float32');
  const heap = heapF32(backend);
  const d = offsetF32(backend, dy);
  const xo = offsetF32(backend, x);
  const mo = offsetF32(backend, mean);
  const s1 = new Float64Array(C);
  const s2 = new Float64Array(C);
  const f = Math.fround;
  // Channel by channel with the sums in locals (registers): ~25% faster in V8 than
  // one pass with per-channel arrays, although the reads stride by C.
  for (let c = 0; c < C; c++) {
    const mu = heap[mo + c] as number;
    let sumG = 0;
    let sumGx = 0;
    for (let i = c; i < size; i += C) {
      const g = heap[d + i] as number;
      sumG += g;
      sumGx += f(g * f((heap[xo + i] as number) - mu));
    }
    s1[c] = sumG;
    s2[c] = sumGx;
  }
  heap.set(s1, offsetF32(backend, sumDy));
  heap.set(s2, offsetF32(backend, sumDyCentered));
  return [sumDy, sumDyCentered];
}
