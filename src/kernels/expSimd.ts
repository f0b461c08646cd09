/**
 * eˣ in place over a run of float32 values in WebAssembly SIMD, 4 at a
 * time, for the segmentation loss on wasm (crossEntropy.ts). The loss runs
 * one exponential per logit, 360,448 a step of the default model at batch
 * 8, where JS's Math.exp (one value at a time, in float64) costs more than
 * the rest of the loss.
 *
 * The approximation is the classic single-precision one (Cephes `expf`):
 * x is clamped to [−87.3365, 88.3763] (the float32 range of eˣ with a
 * normal result), n = round(x · log₂e), r = x − n · ln 2 with ln 2 split in
 * two parts so that r is exact, e^r by a degree-6 polynomial on
 * |r| ≤ ln 2 / 2, and 2ⁿ built in the exponent bits. Relative error
 * ≤ 2 · 2⁻²³ against the float64 value over the whole range
 * (crossEntropy.test.ts). A NaN input gives NaN.
 *
 * `shiftRows`, `rowSums` and `scaleRows` are the loss's other passes over
 * every logit, in scalar WebAssembly (the rows are 11 floats, not a SIMD
 * width): each row minus its maximum (the argument of the exponentials),
 * each row's sum in float64, and each row times its own factor with
 * subnormal results stored as 0 (in JS these passes took ≈ 4 ms of the
 * default model's step).
 */
import {
  F32X4_ADD, F32X4_MUL, F32X4_SPLAT, F32X4_SUB, GET, I32, I32_ADD, I32_CONST, SELECT, SET, V128,
  assembleModule, createModuleCache, f32Const, instantiateOnMemory, load, loadF32, store, storeF32, whileBelow, type AssembledFunction,
} from './wasmAssembly.js';

/**
 * exps(start, end): x ← eˣ for the float32 values at byte addresses [start, end), end − start a multiple of 16.
 * shiftRows(x, out, xEnd, rowBytes): for each row of `rowBytes` bytes from x to xEnd, out ← row − max(row).
 * rowSums(x, xEnd, rowBytes, sums): the float64 sum of each row, stored as float64 at sums, sums + 8, …
 * scaleRows(x, xEnd, rowBytes, scales, below): row r ← row r · scales[r] (float32 factors), |result| < below stored as 0.
 */
export interface SimdExp {
  exps: (start: number, end: number) => void;
  shiftRows: (x: number, out: number, xEnd: number, rowBytes: number) => void;
  rowSums: (x: number, xEnd: number, rowBytes: number, sums: number) => void;
  scaleRows: (x: number, xEnd: number, rowBytes: number, scales: number, below: number) => void;
}

const F32 = 0x7d;
const F64 = 0x7c;
const F32_SUB = 0x93;
const F32_MUL = 0x94;
const F32_MAX = 0x97;
const F32_ABS = 0x8b;
const F32_LT = 0x5d;
const F64_ADD = 0xa0;
const F64_PROMOTE_F32 = 0xbb;
const TEE = 0x22;
/** local ← local + bytes. */
const advance = (local: number, bytes: number): number[] => [GET, local, I32_CONST, bytes, I32_ADD, SET, local];
/** f64.const 0 and f64.store (align 8). */
const F64_ZERO = [0x44, 0, 0, 0, 0, 0, 0, 0, 0];
const storeF64 = [0x39, 0x03, 0x00];

function rowSums(): AssembledFunction {
  const X = 0, XEND = 1, ROW = 2, SUMS = 3; // params
  const ROWEND = 4, SUM = 5; // locals: i32, f64
  return {
    exportName: 'rowSums',
    params: [I32, I32, I32, I32],
    results: [],
    locals: [[1, I32], [1, F64]],
    code: whileBelow(X, XEND, [
      GET, X, GET, ROW, I32_ADD, SET, ROWEND,
      ...F64_ZERO, SET, SUM,
      ...whileBelow(X, ROWEND, [
        GET, SUM, GET, X, ...loadF32(), F64_PROMOTE_F32, F64_ADD, SET, SUM,
        ...advance(X, 4),
      ]),
      GET, SUMS, GET, SUM, ...storeF64,
      ...advance(SUMS, 8),
    ]),
  };
}

function scaleRows(): AssembledFunction {
  const X = 0, XEND = 1, ROW = 2, SCALES = 3, BELOW = 4; // params (BELOW: f32)
  const ROWEND = 5, S = 6, V = 7; // locals: i32, f32, f32
  return {
    exportName: 'scaleRows',
    params: [I32, I32, I32, I32, F32],
    results: [],
    locals: [[1, I32], [2, F32]],
    code: whileBelow(X, XEND, [
      GET, X, GET, ROW, I32_ADD, SET, ROWEND,
      GET, SCALES, ...loadF32(), SET, S,
      ...whileBelow(X, ROWEND, [
        // x ← v, or 0 where |v| < below: select(0, v, |v| < below)
        GET, X,
        ...f32Const(0), GET, X, ...loadF32(), GET, S, F32_MUL, TEE, V, GET, V, F32_ABS, GET, BELOW, F32_LT, SELECT,
        ...storeF32(),
        ...advance(X, 4),
      ]),
      ...advance(SCALES, 4),
    ]),
  };
}

function shiftRows(): AssembledFunction {
  const X = 0, OUT = 1, XEND = 2, ROW = 3; // params
  const ROWEND = 4, I = 5, M = 6; // locals: i32, i32, f32
  return {
    exportName: 'shiftRows',
    params: [I32, I32, I32, I32],
    results: [],
    locals: [[2, I32], [1, F32]],
    code: whileBelow(X, XEND, [
      GET, X, GET, ROW, I32_ADD, SET, ROWEND,
      GET, X, ...loadF32(), SET, M,
      GET, X, I32_CONST, 4, I32_ADD, SET, I,
      ...whileBelow(I, ROWEND, [GET, M, GET, I, ...loadF32(), F32_MAX, SET, M, ...advance(I, 4)]),
      GET, X, SET, I,
      ...whileBelow(I, ROWEND, [
        GET, OUT, GET, I, ...loadF32(), GET, M, F32_SUB, ...storeF32(),
        ...advance(OUT, 4),
        ...advance(I, 4),
      ]),
      GET, ROWEND, SET, X,
    ]),
  };
}

const F32X4_MIN = [0xfd, 0xe8, 0x01];
const F32X4_MAX = [0xfd, 0xe9, 0x01];
const F32X4_NEAREST = [0xfd, 0x6a];
const I32X4_SPLAT = [0xfd, 0x11];
const I32X4_TRUNC_SAT_F32X4_S = [0xfd, 0xf8, 0x01];
const I32X4_ADD = [0xfd, 0xae, 0x01];
const I32X4_SHL = [0xfd, 0xab, 0x01];
/** `i32.const 127` (signed LEB128: 127 needs two bytes) and `i32.const 23`. */
const I32_127 = [I32_CONST, 0xff, 0x00];
const I32_23 = [I32_CONST, 23];

/** The largest and smallest x whose float32 eˣ is finite and normal. */
export const EXP_INPUT_MAX = 88.3762626647949;
export const EXP_INPUT_MIN = -87.3365478515625;

/** Cephes expf: ln 2 = C1 + C2 (C1 exact in 9 bits), and the polynomial for (eʳ − 1 − r) / r², highest degree first. */
const LOG2E = 1.44269504088896341;
const C1 = 0.693359375;
const C2 = -2.12194440e-4;
const POLYNOMIAL = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

function exps(): AssembledFunction {
  const P = 0, ENDP = 1; // params
  // v128 locals: the values, n, r, the polynomial; then the splatted constants.
  const V = 2, N = 3, R = 4, Y = 5, HIGH = 6, LOW = 7, L2E = 8, K1 = 9, K2 = 10, ONE = 11, BIAS = 12, COEF = 13;
  const splat = (value: number, local: number): number[] => [...f32Const(value), ...F32X4_SPLAT, SET, local];
  const horner = POLYNOMIAL.slice(1).flatMap((_, i) => [GET, R, ...F32X4_MUL, GET, COEF + i + 1, ...F32X4_ADD]);
  return {
    exportName: 'exps',
    params: [I32, I32],
    results: [],
    locals: [[COEF + POLYNOMIAL.length - 2, V128]],
    code: [
      ...splat(EXP_INPUT_MAX, HIGH),
      ...splat(EXP_INPUT_MIN, LOW),
      ...splat(LOG2E, L2E),
      ...splat(C1, K1),
      ...splat(C2, K2),
      ...splat(1, ONE),
      ...I32_127, ...I32X4_SPLAT, SET, BIAS,
      ...POLYNOMIAL.flatMap((c, i) => splat(c, COEF + i)),
      ...whileBelow(P, ENDP, [
        // x clamped (max first: a NaN stays NaN through both)
        GET, P, ...load(), GET, LOW, ...F32X4_MAX, GET, HIGH, ...F32X4_MIN, SET, V,
        // n = round(x log₂e); r = x − n C1 − n C2
        GET, V, GET, L2E, ...F32X4_MUL, ...F32X4_NEAREST, SET, N,
        GET, V, GET, N, GET, K1, ...F32X4_MUL, ...F32X4_SUB, GET, N, GET, K2, ...F32X4_MUL, ...F32X4_SUB, SET, R,
        // eʳ ≈ 1 + r + r² · poly(r)
        GET, COEF, ...horner, GET, R, ...F32X4_MUL, GET, R, ...F32X4_MUL, GET, R, ...F32X4_ADD, GET, ONE, ...F32X4_ADD, SET, Y,
        // · 2ⁿ: (n + 127) << 23 are the bits of the float32 2ⁿ
        GET, P,
        GET, Y, GET, N, ...I32X4_TRUNC_SAT_F32X4_S, GET, BIAS, ...I32X4_ADD, ...I32_23, ...I32X4_SHL, ...F32X4_MUL,
        ...store(),
        ...advance(P, 16),
      ]),
    ],
  };
}

/** The module's bytes; `shared`: it imports a shared memory, else a plain one. */
export function simdExpModule(shared = false): Uint8Array<ArrayBuffer> {
  return assembleModule([exps(), shiftRows(), rowSums(), scaleRows()], shared);
}

const cache = createModuleCache();

/** The kernel bound to `memory`, or null where WebAssembly SIMD (or instantiation) is unavailable. */
export function simdExp(memory: WebAssembly.Memory | undefined): SimdExp | null {
  const exports = instantiateOnMemory(memory, simdExpModule, cache);
  return exports === null ? null : (exports as unknown as SimdExp);
}
