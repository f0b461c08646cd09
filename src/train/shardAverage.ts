/**
 * The weighted mean of data-parallel shard gradients (see `shardedStep` in
 * loop.ts), in one pass over each variable: this thread's gradient tensors
 * are read where they are (on wasm: on the heap) and the sum is written
 * straight into new tensors, without a flat copy of this thread's gradients
 * first. On wasm the sums run in WebAssembly SIMD (hemSimd.ts's `mix`)
 * after a memcpy of each worker's gradients onto the heap: 0.30 ms for the
 * default model's 430,331 values against 1.12 ms for the JS loop, on the
 * calling thread while the workers wait (a scratch timing, 2026-12-07).
 * Platform-neutral (no Node APIs).
 */
import * as tf from '@tensorflow/tfjs';
import { simdHemRows } from '../kernels/hemSimd.js';
import { memoryOf } from '../kernels/wasmAssembly.js';
import { copyTensorInto, disposeAll, heapF32, heapViews, isWasmBackend, offsetF32, type WasmBackendLike } from '../kernels/wasmHeap.js';

/** `out[j] = w0 · own[j] + Σᵢ wᵢ₊₁ · others[i][j]` (views indexed from 0: V8 hoists their bounds checks). */
function combine(out: Float32Array, own: Float32Array, others: readonly Float32Array[], weights: readonly number[]): void {
  const w0 = weights[0] as number;
  const size = out.length;
  if (others.length === 1) {
    const other = others[0] as Float32Array;
    const w1 = weights[1] as number;
    for (let j = 0; j < size; j++) out[j] = w0 * (own[j] as number) + w1 * (other[j] as number);
    return;
  }
  for (let j = 0; j < size; j++) out[j] = w0 * (own[j] as number);
  others.forEach((other, i) => {
    const w = weights[i + 1] as number;
    for (let j = 0; j < size; j++) out[j] = (out[j] as number) + w * (other[j] as number);
  });
}

/** Each worker's gradients of the variable at `offset` with `size` values. */
function slices(others: readonly Float32Array[], offset: number, size: number): Float32Array[] {
  return others.map((other) => other.subarray(offset, offset + size));
}

/**
 * Σᵢ wᵢ gᵢ per variable: `own[k]` is this thread's gradient of variable k
 * (weight `weights[0]`); `others[i]` holds worker i's gradients of all
 * variables, concatenated in the same order (weight `weights[i + 1]`).
 * Returns new float32 tensors of `own`'s shapes (the caller disposes them).
 */
export function weightedGradientSum(own: readonly tf.Tensor[], others: readonly Float32Array[], weights: readonly number[]): tf.Tensor[] {
  if (weights.length !== others.length + 1) throw new Error(`weightedGradientSum: ${others.length + 1} shards need as many weights, received ${weights.length}`);
  const total = own.reduce((n, t) => n + t.size, 0);
  for (const [i, other] of others.entries()) {
    if (other.length < total) throw new Error(`weightedGradientSum: worker ${i + 1}'s gradients hold ${other.length} values, the variables ${total}`);
  }
  const backend = tf.backend();
  if (tf.getBackend() === 'wasm' && isWasmBackend(backend) && own.every((t) => t.dtype === 'float32' && backend.dataIdMap.get(t.dataId)?.memoryOffset != null)) {
    return onHeap(backend, own, others, weights);
  }
  let offset = 0;
  return own.map((t) => {
    const values = new Float32Array(t.size);
    copyTensorInto(t, values, 0);
    combine(values, values, slices(others, offset, t.size), weights);
    offset += t.size;
    return tf.tensor(values, t.shape, 'float32');
  });
}

function onHeap(backend: WasmBackendLike, own: readonly tf.Tensor[], others: readonly Float32Array[], weights: readonly number[]): tf.Tensor[] {
  // Every output first (and the scratch for a third shard on): an allocation may grow the heap and stale its views.
  const outputs = own.map((t) => backend.makeOutput(t.shape, 'float32'));
  const rows = simdHemRows(memoryOf(backend));
  const largest = own.reduce((n, t) => Math.max(n, t.size), 0);
  const scratch = rows !== null && others.length > 1 ? backend.makeOutput([largest], 'float32') : null;
  const heap = heapF32(backend);
  const view = heapViews(backend);
  const scratchAt = scratch === null ? 0 : 4 * offsetF32(backend, scratch);
  let offset = 0;
  own.forEach((t, k) => {
    const output = outputs[k] as tf.TensorInfo;
    const out = view(output);
    const theirs = slices(others, offset, t.size);
    offset += t.size;
    if (rows === null) {
      combine(out, view(t), theirs, weights);
      return;
    }
    // In WebAssembly SIMD (f32 products and sums, each rounded): the workers' gradients are copied onto
    // the heap (a memcpy each), then out ← own·w₀ + g₁·w₁, out ← out + gᵢ·wᵢ; the last size mod 4 values in JS.
    const bulk = 4 * (t.size - (t.size % 4));
    const outAt = 4 * offsetF32(backend, output);
    const ownAt = 4 * offsetF32(backend, t);
    out.set(theirs[0] as Float32Array);
    rows.mix(ownAt, outAt, outAt, ownAt + bulk, weights[0] as number, weights[1] as number);
    for (let i = 1; i < theirs.length; i++) {
      heap.set(theirs[i] as Float32Array, scratchAt / 4);
      rows.mix(outAt, scratchAt, outAt, outAt + bulk, 1, weights[i + 1] as number);
    }
    const tail = bulk / 4;
    if (tail < t.size) {
      combine(out.subarray(tail), view(t).subarray(tail), theirs.map((g) => g.subarray(tail)), weights);
    }
  });
  if (scratch !== null) disposeAll(backend, [scratch]);
  return outputs.map((info) => tf.engine().makeTensorFromTensorInfo(info));
}
