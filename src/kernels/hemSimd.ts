/**
 * The row passes of the fused HEM unroll on wasm (hemUnroll.ts) in
 * WebAssembly SIMD, 4 floats at a time: the N-step normalisation of the
 * responsibilities, the highway mix, the scaling by 1/σ² and the gradient
 * through γ̄ and the softmax. In JS on the heap they took about two thirds
 * of the fused kernels' time at the default head's size (N·K = 1024
 * values per pass, several passes per iteration), more than the products.
 *
 * Rows are `rowBytes` long (4K, K a multiple of 4) and laid end to end;
 * per-column vectors (sums, denominators) are one row long. All arithmetic
 * is float32, each operation rounded (f32x4 add, sub, mul, div), sums over
 * rows and within a row in float32: the native kernel sums in float64,
 * tfjs's composition in float32 (the results agree to rounding either way).
 *
 * divide(x, end, d): x ← x / d.
 * scaleInto(x, out, end, f): out ← x · f.
 * mix(a, b, out, end, α, β): out ← a·α + b·β.
 * columnSums(x, end, rowBytes, sums): sums[j] = Σ_rows x[row, j].
 * columnDots(a, b, end, rowBytes, sums): sums[j] = Σ_rows a[row, j]·b[row, j] (`end` is a's).
 * divideColumns(x, out, end, rowBytes, d): out[row, j] = x[row, j] / d[j].
 * responsibilityRows(dγ, dγ̄, γ, end, rowBytes, s, D, σ²): per row,
 *   dγ ← dγ + (dγ̄ − s)/D, then dγ ← γ·(dγ − Σ_j dγ_j·γ_j)/σ²  (`end` is dγ's).
 * Byte addresses; each range a multiple of 16 bytes.
 */
import {
  F32, F32X4_ADD, F32X4_DIV, F32X4_MUL, F32X4_SPLAT, F32X4_SUB, GET, I32, I32_ADD, I32_CONST, SET, V128, V128_ZERO,
  assembleModule, createModuleCache, f32x4ExtractLane, instantiateOnMemory, load, store, whileBelow, type AssembledFunction,
} from './wasmAssembly.js';

export interface SimdHemRows {
  divide: (x: number, end: number, divisor: number) => void;
  scaleInto: (x: number, out: number, end: number, factor: number) => void;
  mix: (a: number, b: number, out: number, end: number, alpha: number, beta: number) => void;
  columnSums: (x: number, end: number, rowBytes: number, sums: number) => void;
  columnDots: (a: number, b: number, end: number, rowBytes: number, sums: number) => void;
  divideColumns: (x: number, out: number, end: number, rowBytes: number, divisors: number) => void;
  responsibilityRows: (dGamma: number, dGbar: number, gamma: number, end: number, rowBytes: number, sums: number, denominators: number, temperature: number) => void;
}

const F32_ADD = 0x92;
/** local ← local + bytes. */
const advance = (local: number, bytes: number): number[] => [GET, local, I32_CONST, bytes, I32_ADD, SET, local];
/** local ← local + (local `by`). */
const advanceBy = (local: number, by: number): number[] => [GET, local, GET, by, I32_ADD, SET, local];
/** The vector at (local base) + (local offset). */
const loadAt = (base: number, offset: number): number[] => [GET, base, GET, offset, I32_ADD, ...load()];
/** The address (local base) + (local offset), for a store. */
const addressAt = (base: number, offset: number): number[] => [GET, base, GET, offset, I32_ADD];

function divide(): AssembledFunction {
  const X = 0, END_ = 1, D = 2; // params
  const DV = 3; // v128
  return {
    exportName: 'divide',
    params: [I32, I32, F32],
    results: [],
    locals: [[1, V128]],
    code: [
      GET, D, ...F32X4_SPLAT, SET, DV,
      ...whileBelow(X, END_, [GET, X, GET, X, ...load(), GET, DV, ...F32X4_DIV, ...store(), ...advance(X, 16)]),
    ],
  };
}

function scaleInto(): AssembledFunction {
  const X = 0, OUT = 1, END_ = 2, F = 3; // params
  const FV = 4; // v128
  return {
    exportName: 'scaleInto',
    params: [I32, I32, I32, F32],
    results: [],
    locals: [[1, V128]],
    code: [
      GET, F, ...F32X4_SPLAT, SET, FV,
      ...whileBelow(X, END_, [GET, OUT, GET, X, ...load(), GET, FV, ...F32X4_MUL, ...store(), ...advance(X, 16), ...advance(OUT, 16)]),
    ],
  };
}

function mix(): AssembledFunction {
  const A = 0, B = 1, OUT = 2, END_ = 3, ALPHA = 4, BETA = 5; // params
  const AV = 6, BV = 7; // v128
  return {
    exportName: 'mix',
    params: [I32, I32, I32, I32, F32, F32],
    results: [],
    locals: [[2, V128]],
    code: [
      GET, ALPHA, ...F32X4_SPLAT, SET, AV,
      GET, BETA, ...F32X4_SPLAT, SET, BV,
      ...whileBelow(A, END_, [
        GET, OUT,
        GET, A, ...load(), GET, AV, ...F32X4_MUL,
        GET, B, ...load(), GET, BV, ...F32X4_MUL,
        ...F32X4_ADD, ...store(),
        ...advance(A, 16), ...advance(B, 16), ...advance(OUT, 16),
      ]),
    ],
  };
}

/** columnSums (withProduct false: params x, end, rowBytes, sums) or columnDots (true: a, b, end, rowBytes, sums). */
function columnAccumulate(withProduct: boolean): AssembledFunction {
  const X = 0;
  const Y = withProduct ? 1 : -1;
  const END_ = withProduct ? 2 : 1, ROW = END_ + 1, SUMS = END_ + 2; // params
  const J = SUMS + 1; // i32
  const term = withProduct ? [...loadAt(X, J), ...loadAt(Y, J), ...F32X4_MUL] : loadAt(X, J);
  return {
    exportName: withProduct ? 'columnDots' : 'columnSums',
    params: withProduct ? [I32, I32, I32, I32, I32] : [I32, I32, I32, I32],
    results: [],
    locals: [[1, I32]],
    code: [
      I32_CONST, 0, SET, J,
      ...whileBelow(J, ROW, [...addressAt(SUMS, J), ...V128_ZERO, ...store(), ...advance(J, 16)]),
      ...whileBelow(X, END_, [
        I32_CONST, 0, SET, J,
        ...whileBelow(J, ROW, [...addressAt(SUMS, J), ...loadAt(SUMS, J), ...term, ...F32X4_ADD, ...store(), ...advance(J, 16)]),
        ...advanceBy(X, ROW),
        ...(withProduct ? advanceBy(Y, ROW) : []),
      ]),
    ],
  };
}

function divideColumns(): AssembledFunction {
  const X = 0, OUT = 1, END_ = 2, ROW = 3, D = 4; // params
  const J = 5; // i32
  return {
    exportName: 'divideColumns',
    params: [I32, I32, I32, I32, I32],
    results: [],
    locals: [[1, I32]],
    code: whileBelow(X, END_, [
      I32_CONST, 0, SET, J,
      ...whileBelow(J, ROW, [...addressAt(OUT, J), ...loadAt(X, J), ...loadAt(D, J), ...F32X4_DIV, ...store(), ...advance(J, 16)]),
      ...advanceBy(X, ROW),
      ...advanceBy(OUT, ROW),
    ]),
  };
}

function responsibilityRows(): AssembledFunction {
  const DG = 0, DGB = 1, G = 2, END_ = 3, ROW = 4, S = 5, D = 6, TEMP = 7; // params
  const J = 8; // i32
  const ACC = 9, V = 10, W = 11, TV = 12; // v128
  return {
    exportName: 'responsibilityRows',
    params: [I32, I32, I32, I32, I32, I32, I32, F32],
    results: [],
    locals: [[1, I32], [4, V128]],
    code: [
      GET, TEMP, ...F32X4_SPLAT, SET, TV,
      ...whileBelow(DG, END_, [
        ...V128_ZERO, SET, ACC,
        I32_CONST, 0, SET, J,
        // dγ ← dγ + (dγ̄ − s)/D; acc += dγ·γ
        ...whileBelow(J, ROW, [
          ...loadAt(DG, J), ...loadAt(DGB, J), ...loadAt(S, J), ...F32X4_SUB, ...loadAt(D, J), ...F32X4_DIV, ...F32X4_ADD, SET, V,
          ...addressAt(DG, J), GET, V, ...store(),
          GET, ACC, GET, V, ...loadAt(G, J), ...F32X4_MUL, ...F32X4_ADD, SET, ACC,
          ...advance(J, 16),
        ]),
        // w = Σ of the accumulator's lanes, (l0 + l1) + (l2 + l3)
        GET, ACC, ...f32x4ExtractLane(0), GET, ACC, ...f32x4ExtractLane(1), F32_ADD,
        GET, ACC, ...f32x4ExtractLane(2), GET, ACC, ...f32x4ExtractLane(3), F32_ADD,
        F32_ADD, ...F32X4_SPLAT, SET, W,
        I32_CONST, 0, SET, J,
        // dγ ← γ·(dγ − w)/σ²
        ...whileBelow(J, ROW, [
          ...addressAt(DG, J), ...loadAt(G, J), ...loadAt(DG, J), GET, W, ...F32X4_SUB, ...F32X4_MUL, GET, TV, ...F32X4_DIV, ...store(),
          ...advance(J, 16),
        ]),
        ...advanceBy(DG, ROW),
        ...advanceBy(DGB, ROW),
        ...advanceBy(G, ROW),
      ]),
    ],
  };
}

/** The module's bytes; `shared`: it imports a shared memory, else a plain one. */
export function simdHemRowsModule(shared = false): Uint8Array<ArrayBuffer> {
  return assembleModule([divide(), scaleInto(), mix(), columnAccumulate(false), columnAccumulate(true), divideColumns(), responsibilityRows()], shared);
}

const cache = createModuleCache();

/** The passes bound to `memory`, or null where WebAssembly SIMD (or instantiation) is unavailable. */
export function simdHemRows(memory: WebAssembly.Memory | undefined): SimdHemRows | null {
  const exports = instantiateOnMemory(memory, simdHemRowsModule, cache);
  return exports === null ? null : (exports as unknown as SimdHemRows);
}
