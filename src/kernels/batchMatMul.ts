/**
 * `BatchMatMul` on wasm. The stock kernel leaves XNNPACK's fast path for any
 * transpose flag (a [64, 8]ᵀ · [64, 5632] product of the default model's
 * training step takes ~20× longer than the same product unflagged) and runs
 * batched products (the HEM head's [8, 64, 64] · [8, 64, 16]) in a scalar
 * loop (~0.3–2 GFLOP/s), so:
 * - one matrix per operand: the flagged operand is transposed on the heap
 *   (blocked JS loops) and the stock kernel runs without flags;
 * - batched, same leading dims, under 2²² multiply-adds per matrix and a
 *   column count divisible by 4: the WebAssembly SIMD block kernels of
 *   batchMatMulSimd.ts (5–14× the stock kernel, about a rank-2 XNNPACK
 *   product of the whole batch: bench/batched-matmul.ts);
 * - batched, larger matrices: one XNNPACK product per matrix; also small
 *   batches (≤ 16) of small matrices the SIMD kernels cannot take;
 * - one matrix with few rows (m ≤ `SIMD_MAX_ROWS`), or of any size (a transposed A
 *   only up to 2¹⁶ floats) where the kernels use fused multiply-adds (`simdAtAnySize`), and a column count
 *   divisible by 4: the SIMD block kernels too (also batched products
 *   above the split bound, with FMA). XNNPACK packs B (its
 *   "weights") in every call whose B is a new tensor, which costs about as
 *   much as the product at a few rows: the bilinear upsampling's gradient,
 *   [64, 8]ᵀ · [64, 5632] per training step, took 1.6 ms that way.
 */
import type * as tf from '@tensorflow/tfjs';
import { gemmOnMemory, simdGemm, type SimdGemm } from './batchMatMulSimd.js';
import { wasmFusedMultiplyAdd } from './fusedMultiplyAdd.js';
import { memoryOf } from './wasmAssembly.js';
import { SPLIT_MIN_WORK } from '../ops/batchMatMul.js';
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

/** Matrix p of `x` (leading dims flattened) as a fresh `[rows, cols]` tensor, transposed when asked. */
function matrixAt(backend: WasmBackendLike, x: tf.TensorInfo, p: number, transpose: boolean): tf.TensorInfo {
  const rank = x.shape.length;
  const rows = x.shape[rank - 2] as number;
  const cols = x.shape[rank - 1] as number;
  const out = backend.makeOutput(transpose ? [cols, rows] : [rows, cols], 'float32');
  const heap = heapF32(backend);
  const from = offsetF32(backend, x) + p * rows * cols;
  if (transpose) transposeOnHeap(heap, from, rows, cols, offsetF32(backend, out));
  else heap.copyWithin(offsetF32(backend, out), from, from + rows * cols);
  return out;
}

/**
 * With fused multiply-adds the SIMD block kernels beat XNNPACK's rank-2
 * product at every size measured (1.27–2.59× from [512, 64]·[64, 64] to the
 * paper's [16900, 512]·[512, 64], AMD EPYC, 2026-12-07, bench/matmul-simd.ts;
 * without FMA 1.07–1.96× there), as long as a transposed A is small: Aᵀ is read down its columns,
 * one cache line per step of k, re-read for every column block of C, which
 * at the paper's M-step ([4, 64, 4225]ᵀ…) made them 3.8× slower than a
 * rank-2 product (bench/batched-matmul.ts, 2026-12-06). So with FMA every
 * float32 product with a column count divisible by 4 and A untransposed or
 * at most `TRANSPOSED_A_MAX_FLOATS` runs in them; otherwise the size rules
 * below stand.
 */
function simdAtAnySize(transposeA: boolean, aFloats: number): boolean {
  return wasmFusedMultiplyAdd() && (!transposeA || aFloats <= TRANSPOSED_A_MAX_FLOATS);
}

/**
 * Largest A (floats per matrix) read transposed by the block kernels at any
 * size: down to 2¹⁶ (256 KiB, within L2) the columns stay cached across C's
 * column blocks ([2048, 32]ᵀ·[2048, 64] 3.5× the transposed-copy + XNNPACK
 * path, [512, 64]ᵀ·[512, 64] 1.7×); at 2¹⁷ even, beyond it slower
 * ([4225, 64]ᵀ·[4225, 512]: 0.72×; scratch timings, 2026-12-07).
 */
const TRANSPOSED_A_MAX_FLOATS = 1 << 16;

/** Largest matrices split into rank-2 products (larger ones are near the stock kernel's speed already). */
const MAX_SPLIT_FLOATS = 1 << 16;
/**
 * Largest batch split: each rank-2 product creates an XNNPACK operator, so
 * many tiny matrices are better left batched (measured at batch 8 only).
 */
const MAX_SPLIT_BATCH = 16;



/** Most rows of a single product sent to the SIMD block kernels instead of XNNPACK (see the header). */
export const SIMD_MAX_ROWS = 16;

const singleMatrix = (t: tf.TensorInfo): boolean => t.shape.length >= 2 && t.shape.slice(0, -2).every((size) => size === 1);

/** Wraps the stock wasm `BatchMatMul` kernel function. */
export function batchMatMulWasm(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a?: tf.TensorInfo; b?: tf.TensorInfo };
    const attrs = args.attrs ?? {};
    const transposeA = attrs['transposeA'] === true;
    const transposeB = attrs['transposeB'] === true;
    if (a === undefined || b === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args);
    const single = singleMatrix(a) && singleMatrix(b);
    if (!single) {
      const lead = a.shape.slice(0, -2);
      const sameLead = b.shape.length === a.shape.length && lead.every((size, i) => size === b.shape[i]);
      const ra = a.shape.length;
      const matrixFloats = Math.max((a.shape[ra - 2] as number) * (a.shape[ra - 1] as number), (b.shape[ra - 2] as number) * (b.shape[ra - 1] as number));
      const batch = lead.reduce((x, y) => x * y, 1);
      if (sameLead && ra >= 3) {
        const backend = asWasmBackend(args.backend, KERNEL);
        const kernels = simdGemm(memoryOf(backend));
        const n = (transposeB ? b.shape[ra - 2] : b.shape[ra - 1]) as number;
        const k = (transposeA ? a.shape[ra - 2] : a.shape[ra - 1]) as number;
        const m = (transposeA ? a.shape[ra - 1] : a.shape[ra - 2]) as number;
        // Large matrices (from the HEM ops' own split bound): one XNNPACK product per matrix, its operator
        // creation amortised there and its packed kernels faster than ours (bench/batched-matmul.ts: at the
        // paper's head size, 4225·512·64, XNNPACK wins; at attention-bench's, 256·128·32, the SIMD kernels
        // match a rank-2 XNNPACK product of the whole batch).
        if (m * k * n >= SPLIT_MIN_WORK && !simdAtAnySize(transposeA, m * k)) return splitBatch(backend, stock, a, b, transposeA, transposeB, attrs, args.backend);
        if (kernels !== null && n % 4 === 0 && n > 0 && k > 0) return simdBatch(backend, kernels, a, b, transposeA, transposeB);
      }
      if (!sameLead || ra < 3 || matrixFloats > MAX_SPLIT_FLOATS || batch > MAX_SPLIT_BATCH) return stock(args);
      return splitBatch(asWasmBackend(args.backend, KERNEL), stock, a, b, transposeA, transposeB, attrs, args.backend);
    }
    const rank = a.shape.length;
    const m = (transposeA ? a.shape[rank - 1] : a.shape[rank - 2]) as number;
    const k = (transposeA ? a.shape[rank - 2] : a.shape[rank - 1]) as number;
    const n = (transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1]) as number;
    if (b.shape.length === rank && (m <= SIMD_MAX_ROWS || simdAtAnySize(transposeA, m * k)) && m > 0 && k > 0 && n > 0 && n % 4 === 0) {
      const backend = asWasmBackend(args.backend, KERNEL);
      const kernels = simdGemm(memoryOf(backend));
      if (kernels !== null) return simdBatch(backend, kernels, a, b, transposeA, transposeB);
    }
    if (!transposeA && !transposeB) return stock(args);
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

/**
 * out[p] = A[p] · B[p] (through the flags) in the SIMD block kernels
 * (batchMatMulSimd.ts): A is read through strides whatever its flag, a
 * flagged B is transposed on the heap first (the kernels need its rows).
 */
function simdBatch(backend: WasmBackendLike, kernels: SimdGemm, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): tf.TensorInfo {
  const rank = a.shape.length;
  const lead = a.shape.slice(0, -2);
  const batch = lead.reduce((x, y) => x * y, 1);
  const [ar, ac] = [a.shape[rank - 2] as number, a.shape[rank - 1] as number];
  const [br, bc] = [b.shape[rank - 2] as number, b.shape[rank - 1] as number];
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const n = transposeB ? br : bc;
  const out = backend.makeOutput([...lead, m, n], 'float32');
  let bRows: tf.TensorInfo = b;
  if (transposeB) {
    bRows = backend.makeOutput([...lead, k, n], 'float32');
    const heap = heapF32(backend);
    const from = offsetF32(backend, b);
    const to = offsetF32(backend, bRows);
    for (let p = 0; p < batch; p++) transposeOnHeap(heap, from + p * br * bc, br, bc, to + p * k * n);
  }
  // Byte addresses, read after every allocation (an allocation may grow the heap; offsets stay valid).
  const aAt = 4 * offsetF32(backend, a);
  const bAt = 4 * offsetF32(backend, bRows);
  const cAt = 4 * offsetF32(backend, out);
  const [aRow, aK] = transposeA ? [4, 4 * m] : [4 * k, 4];
  for (let p = 0; p < batch; p++) gemmOnMemory(kernels, aAt + 4 * p * ar * ac, aRow, aK, bAt + 4 * p * k * n, cAt + 4 * p * m * n, m, k, n);
  if (transposeB) disposeAll(backend, [bRows]);
  return out;
}

/** out[p] = A[p] · B[p] (through the flags), one rank-2 stock product per matrix. */
function splitBatch(
  backend: WasmBackendLike,
  stock: tf.KernelFunc,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  attrs: tf.NamedAttrMap,
  rawBackend: {},
): tf.TensorInfo {
  const rank = a.shape.length;
  const lead = a.shape.slice(0, -2);
  const batch = lead.reduce((x, y) => x * y, 1);
  const m = (transposeA ? a.shape[rank - 1] : a.shape[rank - 2]) as number;
  const n = (transposeB ? b.shape[rank - 2] : b.shape[rank - 1]) as number;
  const out = backend.makeOutput([...lead, m, n], 'float32');
  for (let p = 0; p < batch; p++) {
    const ap = matrixAt(backend, a, p, transposeA);
    const bp = matrixAt(backend, b, p, transposeB);
    const product = stock({ inputs: { a: ap, b: bp }, backend: rawBackend, attrs: { ...attrs, transposeA: false, transposeB: false } });
    if (Array.isArray(product)) throw new Error(`${KERNEL}: the stock kernel returned several outputs`);
    const heap = heapF32(backend);
    const from = offsetF32(backend, product);
    heap.copyWithin(offsetF32(backend, out) + p * m * n, from, from + m * n);
    disposeAll(backend, [ap, bp, product]);
  }
  return out;
}
