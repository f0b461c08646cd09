/**
 * The row passes of batch norm in training (fusedTraining.ts) as
 * WebAssembly SIMD loops over the wasm backend's memory, 4 channels per
 * instruction, for x `[rows, C]` with C a multiple of 4. Each pass walks the
 * data once in memory order with the channel offset wrapping at the row end.
 *
 * The arithmetic is the JavaScript loops', bit for bit: per-channel sums in
 * float64 (each float32 lane promoted exactly, added in row order, as the
 * JavaScript `sum +=`), products of two float32 values in float64 (exact),
 * everything else in float32 lanes (f32x4 add/sub/mul round as `Math.fround`
 * after each double operation). Offsets and lengths are in bytes; the
 * float64 accumulators (`acc`, C doubles) are added to, not overwritten.
 */
import {
  BLOCK, BR, BR_IF, END, F32X4_ADD, F32X4_MUL, F32X4_SUB, F64X2_ADD, F64X2_MUL, F64X2_PROMOTE_LOW, GET, HIGH_HALF_TO_LOW, I32, I32_ADD, I32_CONST, I32_EQ, I32_GE_U,
  I32_SHL, LOOP, SELECT, SET, V128, VOID, assembleModule, createModuleCache, instantiateOnMemory, load, store, type AssembledFunction,
} from './wasmAssembly.js';

/** The passes; `n`: bytes of x (4 · rows · C), `c`: bytes of a row (4 · C). */
export interface SimdBatchNorm {
  /** acc[j] += Σᵢ x[i, j]. */
  colSum(x: number, n: number, c: number, acc: number): void;
  /** acc[j] += Σᵢ (x[i, j] − mean[j])², the difference and its square in float32. */
  colSqDev(x: number, mean: number, n: number, c: number, acc: number): void;
  /** y[i, j] = x[i, j]·k[j] + b[j] (float32). */
  affine(x: number, k: number, b: number, y: number, n: number, c: number): void;
  /** accDy[j] += Σᵢ dy[i, j]; accDyDev[j] += Σᵢ dy[i, j]·(x[i, j] − mean[j]) (the difference in float32, the product in float64). */
  colDyDev(dy: number, x: number, mean: number, n: number, c: number, accDy: number, accDyDev: number): void;
  /** dx = (a·((dy − b) − d·e) + d·f) + h with d = x − mean, all per channel, in float32. */
  bnDx(dy: number, x: number, mean: number, a: number, b: number, e: number, f: number, h: number, dx: number, n: number, c: number): void;
}

/**
 * One pass: `params` i32 parameters, of which `n` and `c` are the byte
 * length and row bytes; locals K (data offset), CH (channel offset), A
 * (accumulator address scratch), then `vectors` v128 locals. `body` sees
 * the indices of K, CH, A and the first v128 local.
 */
function pass(exportName: string, params: number, n: number, c: number, vectors: number, body: (K: number, CH: number, A: number, V: number) => number[]): AssembledFunction {
  const K = params;
  const CH = params + 1;
  const A = params + 2;
  const V = params + 3;
  const code = [
    BLOCK, VOID, LOOP, VOID,
    GET, K, GET, n, I32_GE_U, BR_IF, 1,
    ...body(K, CH, A, V),
    GET, K, I32_CONST, 16, I32_ADD, SET, K,
    // CH = CH + 16, back to 0 at the end of a row.
    GET, CH, I32_CONST, 16, I32_ADD, SET, CH,
    I32_CONST, 0, GET, CH, GET, CH, GET, c, I32_EQ, SELECT, SET, CH,
    BR, 0, END, END,
  ];
  return { exportName, params: Array<number>(params).fill(I32), results: [], locals: [[3, I32], [vectors, V128]], code };
}

/** data[base + K] as a v128 on the stack. */
const at = (base: number, K: number): number[] => [GET, base, GET, K, I32_ADD, ...load()];
/** per-channel[base + CH] (4 channels) on the stack. */
const channel = (base: number, CH: number): number[] => [GET, base, GET, CH, I32_ADD, ...load()];
/** A = acc + 2·CH: the address of 4 channels' float64 accumulators. */
const accAddress = (acc: number, CH: number, A: number): number[] => [GET, acc, GET, CH, I32_CONST, 1, I32_SHL, I32_ADD, SET, A];
/** Lanes 0, 1 (`high` false) or 2, 3 of the f32x4 in local `v` as an f64x2. */
const promoted = (v: number, high: boolean): number[] => (high ? [GET, v, GET, v, ...HIGH_HALF_TO_LOW, ...F64X2_PROMOTE_LOW] : [GET, v, ...F64X2_PROMOTE_LOW]);
/** acc[A] (4 doubles) += the f64x2 pair `low`, `high` leave on the stack. */
const accumulate = (A: number, low: number[], high: number[]): number[] => [
  GET, A, GET, A, ...load(0), ...low, ...F64X2_ADD, ...store(0),
  GET, A, GET, A, ...load(16), ...high, ...F64X2_ADD, ...store(16),
];

function functions(): AssembledFunction[] {
  // colSum(x, n, c, acc)
  const colSum = pass('colSum', 4, 1, 2, 1, (K, CH, A, V) => [
    ...at(0, K), SET, V,
    ...accAddress(3, CH, A),
    ...accumulate(A, promoted(V, false), promoted(V, true)),
  ]);
  // colSqDev(x, mean, n, c, acc)
  const colSqDev = pass('colSqDev', 5, 2, 3, 1, (K, CH, A, V) => [
    ...at(0, K), ...channel(1, CH), ...F32X4_SUB, SET, V,
    GET, V, GET, V, ...F32X4_MUL, SET, V,
    ...accAddress(4, CH, A),
    ...accumulate(A, promoted(V, false), promoted(V, true)),
  ]);
  // affine(x, k, b, y, n, c)
  const affine = pass('affine', 6, 4, 5, 0, (K, CH) => [
    GET, 3, GET, K, I32_ADD,
    ...at(0, K), ...channel(1, CH), ...F32X4_MUL, ...channel(2, CH), ...F32X4_ADD,
    ...store(),
  ]);
  // colDyDev(dy, x, mean, n, c, accDy, accDyDev): V = dy, V+1 = x − mean
  const colDyDev = pass('colDyDev', 7, 3, 4, 2, (K, CH, A, V) => [
    ...at(0, K), SET, V,
    ...at(1, K), ...channel(2, CH), ...F32X4_SUB, SET, V + 1,
    ...accAddress(5, CH, A),
    ...accumulate(A, promoted(V, false), promoted(V, true)),
    ...accAddress(6, CH, A),
    ...accumulate(
      A,
      [...promoted(V, false), ...promoted(V + 1, false), ...F64X2_MUL],
      [...promoted(V, true), ...promoted(V + 1, true), ...F64X2_MUL],
    ),
  ]);
  // bnDx(dy, x, mean, a, b, e, f, h, dx, n, c): V = d
  const bnDx = pass('bnDx', 11, 9, 10, 1, (K, CH, _A, V) => [
    ...at(1, K), ...channel(2, CH), ...F32X4_SUB, SET, V,
    GET, 8, GET, K, I32_ADD,
    // a·((dy − b) − d·e)
    ...channel(3, CH),
    ...at(0, K), ...channel(4, CH), ...F32X4_SUB, GET, V, ...channel(5, CH), ...F32X4_MUL, ...F32X4_SUB,
    ...F32X4_MUL,
    // + d·f, + h
    GET, V, ...channel(6, CH), ...F32X4_MUL, ...F32X4_ADD,
    ...channel(7, CH), ...F32X4_ADD,
    ...store(),
  ]);
  return [colSum, colSqDev, affine, colDyDev, bnDx];
}

/** The module's bytes; `shared`: it imports a shared memory, else a plain one. */
export function simdBatchNormModule(shared = false): Uint8Array<ArrayBuffer> {
  return assembleModule(functions(), shared);
}

const cache = createModuleCache();

/** The passes bound to `memory`, or null where WebAssembly SIMD (or instantiation) is unavailable. */
export function simdBatchNorm(memory: WebAssembly.Memory | undefined): SimdBatchNorm | null {
  const exports = instantiateOnMemory(memory, simdBatchNormModule, cache);
  return exports === null ? null : (exports as unknown as SimdBatchNorm);
}
