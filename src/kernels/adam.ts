/**
 * One Adam step of a float32 variable as one pass over the wasm heap (in
 * WebAssembly SIMD where available, adamSimd.ts), for
 * `ScheduledAdam` (src/train/optimizer.ts): tfjs's update is 14 kernels per
 * variable (≈ 630 of the ≈ 2,550 kernel calls of a training step of the
 * default model). Same contract as the native backend's `fusedAdam`
 * (native/src/train.cc): tfjs's order of operations, each rounded to float32
 * (`Math.fround` after every +, −, ×, ÷, √ gives exactly the float32 result),
 * so the values equal the stock update; the state stays tfjs's own.
 *
 *   m' = m·β₁ + g·(1−β₁);  v' = v·β₂ + g²·(1−β₂);
 *   w' = ((m'/(1−β₁ᵗ)) / (√(v'/(1−β₂ᵗ)) + ε))·(−lr) + w
 *
 * One deliberate difference: a new w, m or v whose magnitude is below the
 * smallest normal float32 (a subnormal) is stored as +0, unless
 * `setFlushDenormals(false)` (denormals.ts). In a trained model subnormals
 * start in weights whose only gradient is the weight decay (an EMA head's
 * input convolution decays into that range by step ≈ 1500 on
 * attention-bench and then slows every kernel that reads it:
 * docs/performance.md, "Denormals").
 *
 * m and v are overwritten in place when no other tensor refers to their data
 * (reference count 1). w always goes to a fresh buffer: the wasm backend
 * caches XNNPACK operators with their packed weights per data id (conv
 * filters, matMul operands), so writing a weight in place would leave those
 * operators computing with the old values; `assign`ing a new tensor disposes
 * the old data and its cached operators.
 */
import type * as tf from '@tensorflow/tfjs';
import { simdAdam } from './adamSimd.js';
import { memoryOf } from './wasmAssembly.js';
import { wasmFlushBelow } from './denormals.js';
import { heapF32, isWasmBackend, offsetF32, type RefCounting, type WasmBackendLike } from './wasmHeap.js';

/** The replacements for w, m, v (null: updated in place). */
export interface WasmAdamResult {
  w: tf.TensorInfo | null;
  m: tf.TensorInfo | null;
  v: tf.TensorInfo | null;
}

/** Runs the fused Adam step on the wasm heap; null when an input is not a float32 tensor of w's size on the heap. */
export function wasmFusedAdam(
  backend: WasmBackendLike & RefCounting,
  w: tf.TensorInfo,
  m: tf.TensorInfo,
  v: tf.TensorInfo,
  g: tf.TensorInfo,
  params: Float32Array,
): WasmAdamResult | null {
  const infos = [w, m, v, g];
  if (infos.some((t) => t.dtype !== 'float32' || backend.dataIdMap.get(t.dataId)?.memoryOffset == null)) return null;
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (infos.some((t) => t.shape.reduce((a, b) => a * b, 1) !== n)) return null;
  const fresh = (t: tf.TensorInfo, inPlace: boolean): tf.TensorInfo | null => (inPlace ? null : backend.makeOutput(t.shape.slice(), 'float32'));
  const wOut = fresh(w, false);
  const mOut = fresh(m, backend.refCount(m.dataId) === 1);
  const vOut = fresh(v, backend.refCount(v.dataId) === 1);
  const heap = heapF32(backend); // after the allocations
  const wi = offsetF32(backend, w);
  const mi = offsetF32(backend, m);
  const vi = offsetF32(backend, v);
  const gi = offsetF32(backend, g);
  const wo = offsetF32(backend, wOut ?? w);
  const mo = offsetF32(backend, mOut ?? m);
  const vo = offsetF32(backend, vOut ?? v);
  const [b1, ob1, b2, ob2, c1, c2, eps, nlr] = Array.from(params) as [number, number, number, number, number, number, number, number];
  // The first multiple of 4 in WebAssembly SIMD (adamSimd.ts, the same float32 values), the rest here.
  const simd = simdAdam(memoryOf(backend));
  const n4 = simd === null ? 0 : n - (n % 4);
  const below = wasmFlushBelow();
  if (simd !== null && n4 > 0) simd(n4, 4 * wi, 4 * mi, 4 * vi, 4 * gi, 4 * wo, 4 * mo, 4 * vo, b1, ob1, b2, ob2, c1, c2, eps, nlr, below);
  const f = Math.fround;
  const flush = (x: number): number => (Math.abs(x) < below ? 0 : x);
  for (let i = n4; i < n; i++) {
    const gv = heap[gi + i] as number;
    const m1 = f(f((heap[mi + i] as number) * b1) + f(gv * ob1));
    const v1 = f(f((heap[vi + i] as number) * b2) + f(f(gv * gv) * ob2));
    const denom = f(f(Math.sqrt(f(v1 / c2))) + eps);
    const w1 = f(f(f(f(m1 / c1) / denom) * nlr) + (heap[wi + i] as number));
    heap[mo + i] = flush(m1);
    heap[vo + i] = flush(v1);
    heap[wo + i] = flush(w1);
  }
  return { w: wOut, m: mOut, v: vOut };
}

/**
 * The current backend as `ScheduledAdam` drives a fused update (`fusedAdam`,
 * `f32`), when it is the wasm backend; else null.
 */
export function wasmAdamBackend(backend: unknown): {
  fusedAdam(w: tf.TensorInfo, m: tf.TensorInfo, v: tf.TensorInfo, g: tf.TensorInfo, params: Float32Array): WasmAdamResult | null;
  f32(t: tf.TensorInfo): Float32Array | null;
} | null {
  if (!isWasmBackend(backend) || typeof (backend as Partial<RefCounting>).refCount !== 'function') return null;
  const wasm = backend as WasmBackendLike & RefCounting;
  return {
    fusedAdam: (w, m, v, g, params) => wasmFusedAdam(wasm, w, m, v, g, params),
    f32: (t) => {
      const entry = wasm.dataIdMap.get(t.dataId);
      if (t.dtype !== 'float32' || entry === undefined || entry.memoryOffset === null) return null;
      const start = entry.memoryOffset >>> 2;
      return heapF32(wasm).subarray(start, start + t.shape.reduce((a, b) => a * b, 1));
    },
  };
}
