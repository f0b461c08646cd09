/**
 * `HemnetSoftmaxCrossEntropy` on wasm (the segmentation loss of
 * src/train/loss.ts; the kernel name, its custom gradient and its
 * semantics are src/backends/native/crossEntropy.ts's, shared with the
 * native kernel native/src/loss.cc): one kernel on the heap where tfjs's
 * composition runs ≈ 20 kernels forward (max, subtract, exp, sum, log,
 * one-hot, casts, products) over all B·H·W·K logits, ≈ 7.5 ms a step of
 * the default model at batch 8.
 *
 * Per pixel p with label ℓ_p, s_p = [ℓ_p ≠ ignore], n = max(Σ s_p, 1):
 *   loss = Σ_p s_p · (log Σ_k e^(x_pk − m_p) − (x_pℓ − m_p)) / n,  m_p = max_k x_pk,
 *   dloss/dx_pk = s_p · (softmax(x_p)_k − [k = ℓ_p]) / n;
 * a label outside [0, K) counts in n with loss and gradient 0 (tf.oneHot's
 * zero row). The row passes (shift by the maximum, sums in float64,
 * scaling) run in scalar WebAssembly and the exponentials in WebAssembly
 * SIMD (expSimd.ts); the loss and the per-row factors in JS.
 */
import type * as tf from '@tensorflow/tfjs';
import { SOFTMAX_CROSS_ENTROPY_KERNEL } from '../backends/native/crossEntropy.js';
import { wasmFlushBelow } from './denormals.js';
import { simdExp } from './expSimd.js';
import { memoryOf } from './wasmAssembly.js';
import { asWasmBackend, heapViews, offsetF32 } from './wasmHeap.js';

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

let useSimd = true;
/** Run the passes in WebAssembly (true: SIMD exponentials, scalar row passes) or all in JS with Math.exp (false, e.g. to compare the two); returns the previous setting. */
export function setSimdCrossEntropy(on: boolean): boolean {
  const previous = useSimd;
  useSimd = on;
  return previous;
}

/** Outputs [loss scalar, dloss/dlogits [P, K]] for logits [P, K] float32 and labels [P] int32. */
export function softmaxCrossEntropyWasm(args: KernelArgs): tf.TensorInfo[] {
  const backend = asWasmBackend(args.backend, SOFTMAX_CROSS_ENTROPY_KERNEL);
  const logits = args.inputs['logits'];
  const labels = args.inputs['labels'];
  if (logits === undefined || labels === undefined || logits.dtype !== 'float32' || labels.dtype !== 'int32' || logits.shape.length !== 2 || labels.shape.length !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(`wasm ${SOFTMAX_CROSS_ENTROPY_KERNEL}: float32 logits [P, K] and int32 labels [P] only`);
  }
  const [pixels, classes] = logits.shape as [number, number];
  const ignore = Number(args.attrs?.['ignoreLabel']);
  const lossOut = backend.makeOutput([], 'float32');
  const gradOut = backend.makeOutput([pixels, classes], 'float32');
  const simd = useSimd ? simdExp(memoryOf(backend)) : null;
  // Scratch for the SIMD path, allocated before the heap views (an allocation may grow the heap):
  // each row's float64 sum, then its float32 factor.
  const sumsOut = simd !== null ? backend.makeOutput([2 * pixels], 'float32') : null;
  const scalesOut = simd !== null ? backend.makeOutput([pixels], 'float32') : null;
  const view = heapViews(backend);
  const x = view(logits);
  const g = view(gradOut);
  const heap = backend.wasm.HEAPU8;
  const label = new Int32Array(heap.buffer, heap.byteOffset + 4 * offsetF32(backend, labels), pixels);
  let scored = 0;
  for (let p = 0; p < pixels; p++) if (label[p] !== ignore) scored++;
  const n = Math.max(scored, 1);
  const inv = Math.fround(1 / n);
  const isScored = (l: number): boolean => l !== ignore && l >= 0 && l < classes;
  // Pass 1: x − m per row (the exponent's argument; in WebAssembly where it loads), then e^(x − m),
  // whole groups of 4 in SIMD and the rest here (or all by Math.exp).
  const total = pixels * classes;
  const at = 4 * offsetF32(backend, gradOut);
  if (simd !== null) simd.shiftRows(4 * offsetF32(backend, logits), at, 4 * (offsetF32(backend, logits) + total), 4 * classes);
  else {
    for (let row = 0; row < total; row += classes) {
      let m = -Infinity;
      for (let k = 0; k < classes; k++) m = Math.max(m, x[row + k] as number);
      for (let k = 0; k < classes; k++) g[row + k] = (x[row + k] as number) - m;
    }
  }
  // x_pℓ − m of the scored rows, before the exponentials overwrite it.
  const shiftedLabel = new Float64Array(pixels);
  for (let p = 0; p < pixels; p++) {
    const l = label[p] as number;
    if (isScored(l)) shiftedLabel[p] = g[p * classes + l] as number;
  }
  const whole = simd === null ? 0 : total - (total % 4);
  if (simd !== null && whole > 0) simd.exps(at, at + 4 * whole);
  for (let i = whole; i < total; i++) g[i] = Math.exp(g[i] as number);
  // Pass 2: the loss, and (softmax − one-hot) / n; rows not scored are 0.
  const below = wasmFlushBelow();
  let loss = 0;
  if (simd !== null && sumsOut !== null && scalesOut !== null && (4 * offsetF32(backend, sumsOut)) % 8 === 0) {
    const sumsAt = 4 * offsetF32(backend, sumsOut);
    simd.rowSums(at, at + 4 * total, 4 * classes, sumsAt);
    const sums = new Float64Array(heap.buffer, heap.byteOffset + sumsAt, pixels);
    const scales = view(scalesOut);
    for (let p = 0; p < pixels; p++) {
      const l = label[p] as number;
      if (!isScored(l)) {
        scales[p] = 0;
        continue;
      }
      const sum = sums[p] as number;
      loss += Math.log(sum) - (shiftedLabel[p] as number);
      scales[p] = inv / sum;
    }
    simd.scaleRows(at, at + 4 * total, 4 * classes, 4 * offsetF32(backend, scalesOut), below);
    for (let p = 0, row = 0; p < pixels; p++, row += classes) {
      const l = label[p] as number;
      if (isScored(l)) g[row + l] = (g[row + l] as number) - inv;
      else g.fill(0, row, row + classes); // 0 even where a NaN logit made the row NaN
    }
  } else {
    for (let p = 0, row = 0; p < pixels; p++, row += classes) {
      const l = label[p] as number;
      if (!isScored(l)) {
        g.fill(0, row, row + classes);
        continue;
      }
      let sum = 0;
      for (let k = 0; k < classes; k++) sum += g[row + k] as number;
      loss += Math.log(sum) - (shiftedLabel[p] as number);
      const scale = inv / sum;
      for (let k = 0; k < classes; k++) {
        const value = Math.fround((g[row + k] as number) * scale);
        g[row + k] = Math.abs(value) < below ? 0 : value;
      }
      g[row + l] = (g[row + l] as number) - inv;
    }
  }
  for (const scratch of [sumsOut, scalesOut]) if (scratch !== null) backend.disposeData(scratch.dataId);
  view(lossOut)[0] = loss / n;
  return [lossOut, gradOut];
}
