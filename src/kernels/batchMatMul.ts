/**
 * `BatchMatMul` on wasm with transpose flags and a single matrix per
 * operand: the stock kernel leaves XNNPACK's fast path for any transpose
 * flag (a [64, 8]ᵀ · [64, 5632] product of the default model's training step
 * takes ~20× longer than the same product unflagged), so the flagged operand
 * is transposed on the heap (blocked JS loops) and the stock kernel runs
 * without flags. Batched products (batch > 1) go to the stock kernel as they are.
 */
import type * as tf from '@tensorflow/tfjs';
import { asWasmBackend, disposeAll, heapF32, offsetF32, transposeOnHeap, type WasmBackendLike } from './wasmHeap.js';

const KERNEL = 'BatchMatMul';

/** A copy of `x` (leading dims all 1) with its last two axes swapped. */
function transposedMatrix(backend: WasmBackendLike, x: tf.TensorInfo): tf.TensorInfo {
  const rank = x.shape.length;
  const rows = x.shape[rank - 2] as number;
  const cols = x.shape[rank - 1] as number;
  const out = backend.makeOutput([...x.shape.slice(0, rank - 2), cols, rows], 'float32');
  transposeOnHeap(heapF32(backend), offsetF32(backend, x), rows, cols, offsetF32(backend, out));
  return out;
}

const singleMatrix = (t: tf.TensorInfo): boolean => t.shape.length >= 2 && t.shape.slice(0, -2).every((size) => size === 1);

/** Wraps the stock wasm `BatchMatMul` kernel function. */
export function batchMatMulWasm(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a?: tf.TensorInfo; b?: tf.TensorInfo };
    const attrs = args.attrs ?? {};
    const transposeA = attrs['transposeA'] === true;
    const transposeB = attrs['transposeB'] === true;
    if (a === undefined || b === undefined || (!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32' || !singleMatrix(a) || !singleMatrix(b)) {
      return stock(args);
    }
    const backend = asWasmBackend(args.backend, KERNEL);
    const temporaries: tf.TensorInfo[] = [];
    const aPlain = transposeA ? transposedMatrix(backend, a) : a;
    if (transposeA) temporaries.push(aPlain);
    const bPlain = transposeB ? transposedMatrix(backend, b) : b;
    if (transposeB) temporaries.push(bPlain);
    const out = stock({ inputs: { a: aPlain, b: bPlain }, backend: args.backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
    disposeAll(backend, temporaries);
    return out;
  };
}
