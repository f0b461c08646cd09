/**
 * The input and output transforms of Winograd's F(2×2, 3×3) and F(4×4, 3×3)
 * convolutions (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016) in WebAssembly SIMD over the wasm backend's memory, 4
 * channels per lane, for NHWC data. One call handles a run of rows of
 * output tiles whose first addresses are evenly spaced (`rows`, `advance`). F(2×2, 3×3) below; F(4×4, 3×3) (inputRow4, outputRow4) further down. With
 * dilation d a tile's outputs and its patch's inputs are d pixels apart
 * (the dilated convolution is the undilated one on each of the d × d
 * interleaved sub-maps).
 *
 * Input transform, per 4×4 input patch d (rows i, columns j, from a padded
 * input): V = Bᵀ·d·B with
 *   Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]],
 * written to 16 matrices V_ξ (ξ = 4i + j), each [tiles, C].
 * Output transform, per tile of the 16 products M_ξ = V_ξ·U_ξ ([tiles, Co]):
 * Y = Aᵀ·M·A + bias (then max(·, 0) when `relu` ≠ 0) with
 *   Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]],
 * the 2×2 outputs written to NHWC at their pixels.
 * Only additions and subtractions: the transforms are exact up to float32
 * rounding of each sum.
 */
import {
  BLOCK, BR, BR_IF, END, F32X4_ADD, F32X4_MUL, F32X4_SPLAT, F32X4_SUB, GET, I32, I32_ADD, I32_CONST, I32_EQ, I32_EQZ, I32_GE_U, I32_MUL, I32_SUB, LOOP, SET, V128, V128_ZERO, VOID,
  assembleModule, createModuleCache, f32Const, instantiateOnMemory, load, store, whileBelow, type AssembledFunction,
} from './wasmAssembly.js';

/** f32x4.pmax(a, b) = a < b ? b : a; with a = 0: max(y, 0), 0 for NaN. */
const F32X4_PMAX = [0xfd, 0xeb, 0x01];
const IF = 0x04;

/**
 * inputRow(src, rowStride, colStride, pixelStride, skip, end, v0 … v15,
 * rows, advance): for one row of tiles (2·dilation pixels apart), src is
 * the padded input's address of the first tile's patch (its top-left pixel,
 * channel 0); rowStride / colStride the bytes between the patch's rows /
 * columns (dilation · bytes per padded row / per pixel); pixelStride = 4·C;
 * skip = (2·dilation − 1)·pixelStride; end = tiles per row·4·C; v0 … v15
 * the byte addresses of the row's first tile in each V_ξ. Then `rows − 1`
 * more rows: row r's src is src + r·advance and its tiles follow row
 * r − 1's in each V_ξ (at v_ξ + r·end).
 */
export type WinogradInputRow = (src: number, rowStride: number, colStride: number, pixelStride: number, skip: number, end: number, ...vRowsAdvance: number[]) => void;
/**
 * outputRow(dst, rowStride, colStride, pixelStride, skip, end, bias, relu,
 * m0 … m15): dst is the output's address of the first tile's top-left
 * pixel; rowStride / colStride the bytes between a tile's two output rows /
 * columns (dilation · bytes per output row / per pixel); pixelStride =
 * 4·Co; skip as for inputRow; end = tiles·4·Co; bias the address of Co
 * floats; m0 … m15 the byte addresses of the row's first tile in each M_ξ;
 * rows, advance as for inputRow (row r's dst at dst + r·advance).
 */
export type WinogradOutputRow = (dst: number, rowStride: number, colStride: number, pixelStride: number, skip: number, end: number, bias: number, relu: number, ...mRowsAdvance: number[]) => void;

/**
 * filterPlain(src, plane, end, u0 … u15): the filter transform
 * U = G·g·Gᵀ of a 3×3 filter `[3, 3, Ci, Co]` at src (plane = 4·Ci·Co
 * bytes between taps), 4 channel pairs per step over the `end` = 4·Ci·Co
 * bytes of a tap, into the 16 planes `[Ci, Co]` at u0 … u15, with
 *   G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
 * transposePlane(src, dst, rowBytes, rows, dstRowBytes): dst = srcᵀ for a
 * row-major `[rows, cols]` matrix (rowBytes = 4·cols, dstRowBytes =
 * 4·rows; rows and cols multiples of 4), in 4 × 4 blocks of shuffles (the
 * input gradient's filter planes: winogradTraining.ts).
 */
export type WinogradFilterPlain = (src: number, plane: number, end: number, ...u: number[]) => void;
export type WinogradTransposePlane = (src: number, dst: number, rowBytes: number, rows: number, dstRowBytes: number) => void;

/**
 * For the filter gradient (dg = Gᵀ·[Σ_tiles V_ξᵀ·(A·dY·Aᵀ)_ξ]·G):
 * gradOutputRow(src, rowStride, colStride, pixelStride, skip, end, m0 …
 * m15, rows, advance) reads each tile's 2×2 output gradient dY (addresses
 * as outputRow writes Y) and writes dM = A·dY·Aᵀ into the 16 matrices
 * `[tiles, Co]` (as inputRow writes V); filterGrad(dst, plane, end, u0 … u15) writes the 9
 * taps dg = Gᵀ·dU·G of the 16 planes dU_ξ `[Ci, Co]` to the filter gradient
 * `[3, 3, Ci, Co]` at dst (plane = 4·Ci·Co bytes between taps, end the same).
 */
export type WinogradGradOutputRow = (src: number, rowStride: number, colStride: number, pixelStride: number, skip: number, end: number, ...mRowsAdvance: number[]) => void;
export type WinogradFilterGrad = (dst: number, plane: number, end: number, ...u: number[]) => void;

export interface SimdWinograd {
  inputRow: WinogradInputRow;
  outputRow: WinogradOutputRow;
  /** inputRow for F(4×4, 3×3): 36 matrices (below). */
  inputRow4: WinogradInputRow;
  /** outputRow for F(4×4, 3×3): 36 matrices (below). */
  outputRow4: WinogradOutputRow;
  /** filterPlain for F(4×4, 3×3): 36 planes (below). */
  filterPlain4: WinogradFilterPlain;
  /** gradOutputRow for F(4×4, 3×3): 36 matrices (below). */
  gradOutputRow4: WinogradGradOutputRow;
  /** filterGrad for F(4×4, 3×3): 36 planes (below). */
  filterGrad4: WinogradFilterGrad;
  filterPlain: WinogradFilterPlain;
  transposePlane: WinogradTransposePlane;
  gradOutputRow: WinogradGradOutputRow;
  filterGrad: WinogradFilterGrad;
}

/** The locals of `tileLoop`'s loop over rows: the row count and advance (params), the base address it advances, a scratch i32. */
interface RowLoop {
  ROWS: number;
  ADV: number;
  BASE: number;
  ROWEND: number;
}

/**
 * For each of `rows` rows of tiles: a loop over o (the V/M offset, 16 bytes
 * per step, running on from row to row: row r's tiles follow row r − 1's in
 * every matrix) up to the row's end (`end` bytes per row), with ch the
 * channel byte offset wrapping at the pixel stride, and px the offset of the
 * tile's pixel from the row's base address: +16 per step, +skip more when ch
 * wraps (tiles are m·dilation pixels apart: skip = (m·dilation − 1)·pixelStride).
 * After each row the base address (param 0) advances by `advance` bytes.
 * `body` sees the local indices. One call for a run of rows replaces one
 * call per row from JavaScript (each a 40-odd-argument call).
 */
function tileLoop(endParam: number, pixelStrideParam: number, skipParam: number, O: number, CH: number, PX: number, body: number[], rows: RowLoop): number[] {
  const { ROWS, ADV, BASE, ROWEND } = rows;
  return [
    I32_CONST, 0, SET, O,
    BLOCK, VOID, LOOP, VOID,
    GET, ROWS, I32_EQZ, BR_IF, 1,
    I32_CONST, 0, SET, CH,
    I32_CONST, 0, SET, PX,
    GET, O, GET, endParam, I32_ADD, SET, ROWEND,
    BLOCK, VOID, LOOP, VOID,
    GET, O, GET, ROWEND, I32_GE_U, BR_IF, 1,
    ...body,
    GET, O, I32_CONST, 16, I32_ADD, SET, O,
    GET, PX, I32_CONST, 16, I32_ADD, SET, PX,
    GET, CH, I32_CONST, 16, I32_ADD, SET, CH,
    GET, CH, GET, pixelStrideParam, I32_EQ,
    IF, VOID,
    I32_CONST, 0, SET, CH,
    GET, PX, GET, skipParam, I32_ADD, SET, PX,
    END,
    BR, 0, END, END,
    GET, BASE, GET, ADV, I32_ADD, SET, BASE,
    GET, ROWS, I32_CONST, 1, I32_SUB, SET, ROWS,
    BR, 0, END, END,
  ];
}

function inputRow(): AssembledFunction {
  // params: 0 src, 1 rowStride, 2 colStride, 3 pixelStride, 4 skip, 5 end, 6..21 v0..v15, 22 rows, 23 advance
  const SRC = 0, ROW = 1, COLS = 2, PIX = 3, SKIP = 4, ENDP = 5, V0 = 6, ROWS = 22, ADV = 23;
  const O = 24, CH = 25, PX = 26, R = 27, ROWEND = 28; // R: address of the patch's row i
  const D = 29; // 16 v128: d[i][j]
  const T = D + 16; // 16 v128: t = Bᵀ·d
  const loads: number[] = [];
  for (let i = 0; i < 4; i++) {
    loads.push(...(i === 0 ? [GET, SRC, GET, PX, I32_ADD, SET, R] : [GET, R, GET, ROW, I32_ADD, SET, R]));
    for (let j = 0; j < 4; j++) {
      // d[i][j] at R + j·colStride
      loads.push(GET, R, ...Array.from({ length: j }, () => [GET, COLS, I32_ADD]).flat(), ...load(), SET, D + 4 * i + j);
    }
  }
  const d = (i: number, j: number) => D + 4 * i + j;
  const t = (i: number, j: number) => T + 4 * i + j;
  const rows: number[] = [];
  for (let j = 0; j < 4; j++) {
    rows.push(GET, d(0, j), GET, d(2, j), ...F32X4_SUB, SET, t(0, j));
    rows.push(GET, d(1, j), GET, d(2, j), ...F32X4_ADD, SET, t(1, j));
    rows.push(GET, d(2, j), GET, d(1, j), ...F32X4_SUB, SET, t(2, j));
    rows.push(GET, d(1, j), GET, d(3, j), ...F32X4_SUB, SET, t(3, j));
  }
  const stores: number[] = [];
  for (let i = 0; i < 4; i++) {
    const value = [
      [GET, t(i, 0), GET, t(i, 2), ...F32X4_SUB],
      [GET, t(i, 1), GET, t(i, 2), ...F32X4_ADD],
      [GET, t(i, 2), GET, t(i, 1), ...F32X4_SUB],
      [GET, t(i, 1), GET, t(i, 3), ...F32X4_SUB],
    ];
    for (let j = 0; j < 4; j++) stores.push(GET, V0 + 4 * i + j, GET, O, I32_ADD, ...(value[j] as number[]), ...store());
  }
  return {
    exportName: 'inputRow',
    params: Array<number>(24).fill(I32),
    results: [],
    locals: [[5, I32], [32, V128]],
    code: tileLoop(ENDP, PIX, SKIP, O, CH, PX, [...loads, ...rows, ...stores], { ROWS, ADV, BASE: SRC, ROWEND }),
  };
}

function outputRow(): AssembledFunction {
  // params: 0 dst, 1 rowStride, 2 colStride, 3 pixelStride, 4 skip, 5 end, 6 bias, 7 relu, 8..23 m0..m15, 24 rows, 25 advance
  const DST = 0, ROW = 1, COLS = 2, PIX = 3, SKIP = 4, ENDP = 5, BIAS = 6, RELU = 7, M0 = 8, ROWS = 24, ADV = 25;
  const O = 26, CH = 27, PX = 28, A = 29, ROWEND = 30; // A: output address scratch
  const MV = 31; // 16 v128: m[i][j]
  const S = MV + 16; // 8 v128: s = Aᵀ·m (2 rows × 4)
  const Y = S + 8; // 4 v128: y (2 × 2)
  const BV = Y + 4; // bias vector
  const ZERO = BV + 1;
  const m = (i: number, j: number) => MV + 4 * i + j;
  const s = (i: number, j: number) => S + 4 * i + j;
  const body: number[] = [];
  for (let k = 0; k < 16; k++) body.push(GET, M0 + k, GET, O, I32_ADD, ...load(), SET, MV + k);
  for (let j = 0; j < 4; j++) {
    body.push(GET, m(0, j), GET, m(1, j), ...F32X4_ADD, GET, m(2, j), ...F32X4_ADD, SET, s(0, j));
    body.push(GET, m(1, j), GET, m(2, j), ...F32X4_SUB, GET, m(3, j), ...F32X4_SUB, SET, s(1, j));
  }
  body.push(GET, BIAS, GET, CH, I32_ADD, ...load(), SET, BV);
  for (let i = 0; i < 2; i++) {
    body.push(GET, s(i, 0), GET, s(i, 1), ...F32X4_ADD, GET, s(i, 2), ...F32X4_ADD, GET, BV, ...F32X4_ADD, SET, Y + 2 * i);
    body.push(GET, s(i, 1), GET, s(i, 2), ...F32X4_SUB, GET, s(i, 3), ...F32X4_SUB, GET, BV, ...F32X4_ADD, SET, Y + 2 * i + 1);
  }
  body.push(GET, RELU, IF, VOID);
  for (let k = 0; k < 4; k++) body.push(GET, ZERO, GET, Y + k, ...F32X4_PMAX, SET, Y + k);
  body.push(END);
  // y[a][b] at dst + px + a·rowStride + b·colStride
  body.push(GET, DST, GET, PX, I32_ADD, SET, A);
  body.push(GET, A, GET, Y, ...store());
  body.push(GET, A, GET, COLS, I32_ADD, GET, Y + 1, ...store());
  body.push(GET, A, GET, ROW, I32_ADD, SET, A);
  body.push(GET, A, GET, Y + 2, ...store());
  body.push(GET, A, GET, COLS, I32_ADD, GET, Y + 3, ...store());
  return {
    exportName: 'outputRow',
    params: Array<number>(26).fill(I32),
    results: [],
    locals: [[5, I32], [30, V128]],
    code: [...V128_ZERO, SET, ZERO, ...tileLoop(ENDP, PIX, SKIP, O, CH, PX, body, { ROWS, ADV, BASE: DST, ROWEND })],
  };
}

/**
 * The 16 values U[i][j] of 4 channel pairs from the 9 taps at P, P + plane,
 * …, into the locals u(4i + j). Locals: G0 … G8 the taps, T 6 (rows 1, 2 of
 * t = G·g), HALF the splat ½.
 */
function filterValues(P: number, PLANE: number, A: number, G0: number, T: number, HALF: number, U0: number): number[] {
  const code: number[] = [GET, P, SET, A];
  for (let k = 0; k < 9; k++) {
    if (k > 0) code.push(GET, A, GET, PLANE, I32_ADD, SET, A);
    code.push(GET, A, ...load(), SET, G0 + k);
  }
  const g = (a: number, b: number) => G0 + 3 * a + b;
  for (let b = 0; b < 3; b++) {
    code.push(GET, g(0, b), GET, g(1, b), ...F32X4_ADD, GET, g(2, b), ...F32X4_ADD, GET, HALF, ...F32X4_MUL, SET, T + b);
    code.push(GET, g(0, b), GET, g(1, b), ...F32X4_SUB, GET, g(2, b), ...F32X4_ADD, GET, HALF, ...F32X4_MUL, SET, T + 3 + b);
  }
  // Rows of t: g row 0, t rows 1 and 2, g row 2; each (r0, r1, r2) → (r0, ½(r0 + r1 + r2), ½(r0 − r1 + r2), r2).
  const rows = [[g(0, 0), g(0, 1), g(0, 2)], [T, T + 1, T + 2], [T + 3, T + 4, T + 5], [g(2, 0), g(2, 1), g(2, 2)]];
  rows.forEach(([r0, r1, r2], i) => {
    const u = U0 + 4 * i;
    code.push(GET, r0 as number, SET, u);
    code.push(GET, r0 as number, GET, r1 as number, ...F32X4_ADD, GET, r2 as number, ...F32X4_ADD, GET, HALF, ...F32X4_MUL, SET, u + 1);
    code.push(GET, r0 as number, GET, r1 as number, ...F32X4_SUB, GET, r2 as number, ...F32X4_ADD, GET, HALF, ...F32X4_MUL, SET, u + 2);
    code.push(GET, r2 as number, SET, u + 3);
  });
  return code;
}

/** HALF = splat(½), then `body` for Q = 0, 16, …, below the parameter ENDP (4 channel pairs per step). */
function planeLoop(Q: number, ENDP: number, HALF: number, body: number[]): number[] {
  return [
    ...f32Const(0.5), ...F32X4_SPLAT, SET, HALF,
    I32_CONST, 0, SET, Q,
    BLOCK, VOID, LOOP, VOID,
    GET, Q, GET, ENDP, I32_GE_U, BR_IF, 1,
    ...body,
    GET, Q, I32_CONST, 16, I32_ADD, SET, Q,
    BR, 0, END, END,
  ];
}

function filterPlain(): AssembledFunction {
  // params: 0 src, 1 plane, 2 end, 3..18 u0..u15
  const SRC = 0, PLANE = 1, ENDP = 2, OUT0 = 3;
  const Q = 19, P = 20, A = 21; // i32
  const G0 = 22, T = G0 + 9, HALF = T + 6, U0 = HALF + 1; // v128
  const body = [GET, SRC, GET, Q, I32_ADD, SET, P, ...filterValues(P, PLANE, A, G0, T, HALF, U0)];
  for (let k = 0; k < 16; k++) body.push(GET, OUT0 + k, GET, Q, I32_ADD, GET, U0 + k, ...store());
  return {
    exportName: 'filterPlain',
    params: Array<number>(19).fill(I32),
    results: [],
    locals: [[3, I32], [32, V128]],
    code: planeLoop(Q, ENDP, HALF, body),
  };
}

/** i8x16.shuffle picking f32 lanes (0–3 of the first operand, 4–7 of the second). */
const shuffleF32 = (lanes: readonly [number, number, number, number]): number[] => [0xfd, 0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])];

function transposePlane(): AssembledFunction {
  // params: 0 src, 1 dst, 2 rowBytes (4·cols of src), 3 rows, 4 dstRowBytes (4·rows)
  const SRC = 0, DST = 1, ROW_BYTES = 2, ROWS = 3, DST_ROW = 4;
  const R = 5, RB = 6, CB = 7, DR = 8, DC = 9; // i32: row, its source address, column bytes, destination column of the row block, store address
  const A = 10, T = A + 4; // v128: 4 rows of a 4 × 4 block, 4 intermediate
  const code: number[] = [
    I32_CONST, 0, SET, R,
    GET, SRC, SET, RB,
    GET, DST, SET, DR,
    BLOCK, VOID, LOOP, VOID, // blocks of 4 rows
    GET, R, GET, ROWS, I32_GE_U, BR_IF, 1,
    I32_CONST, 0, SET, CB,
    GET, DR, SET, DC,
    BLOCK, VOID, LOOP, VOID, // blocks of 4 columns
    GET, CB, GET, ROW_BYTES, I32_GE_U, BR_IF, 1,
  ];
  for (let i = 0; i < 4; i++) {
    code.push(GET, RB, GET, CB, I32_ADD, ...Array.from({ length: i }, () => [GET, ROW_BYTES, I32_ADD]).flat(), ...load(), SET, A + i);
  }
  // (a, b, c, d) rows → columns: t0 = a0 b0 a1 b1, t1 = a2 b2 a3 b3, t2 = c0 d0 c1 d1, t3 = c2 d2 c3 d3.
  code.push(GET, A, GET, A + 1, ...shuffleF32([0, 4, 1, 5]), SET, T);
  code.push(GET, A, GET, A + 1, ...shuffleF32([2, 6, 3, 7]), SET, T + 1);
  code.push(GET, A + 2, GET, A + 3, ...shuffleF32([0, 4, 1, 5]), SET, T + 2);
  code.push(GET, A + 2, GET, A + 3, ...shuffleF32([2, 6, 3, 7]), SET, T + 3);
  const columns: Array<[number, number, readonly [number, number, number, number]]> = [
    [T, T + 2, [0, 1, 4, 5]],
    [T, T + 2, [2, 3, 6, 7]],
    [T + 1, T + 3, [0, 1, 4, 5]],
    [T + 1, T + 3, [2, 3, 6, 7]],
  ];
  columns.forEach(([x, y, lanes], j) => {
    code.push(GET, DC, ...Array.from({ length: j }, () => [GET, DST_ROW, I32_ADD]).flat(), GET, x, GET, y, ...shuffleF32(lanes), ...store());
  });
  code.push(
    GET, CB, I32_CONST, 16, I32_ADD, SET, CB,
    GET, DC, GET, DST_ROW, I32_CONST, 4, I32_MUL, I32_ADD, SET, DC,
    BR, 0, END, END,
    GET, R, I32_CONST, 4, I32_ADD, SET, R,
    GET, RB, GET, ROW_BYTES, I32_CONST, 4, I32_MUL, I32_ADD, SET, RB,
    GET, DR, I32_CONST, 16, I32_ADD, SET, DR,
    BR, 0, END, END,
  );
  return {
    exportName: 'transposePlane',
    params: Array<number>(5).fill(I32),
    results: [],
    locals: [[5, I32], [8, V128]],
    code,
  };
}

function gradOutputRow(): AssembledFunction {
  // params: 0 src, 1 rowStride, 2 colStride, 3 pixelStride, 4 skip, 5 end, 6..21 m0..m15, 22 rows, 23 advance
  const SRC = 0, ROW = 1, COLS = 2, PIX = 3, SKIP = 4, ENDP = 5, M0 = 6, ROWS = 22, ADV = 23;
  const O = 24, CH = 25, PX = 26, A = 27, ROWEND = 28;
  const DY = 29; // 4 v128: dY[a][b] at DY + 2a + b
  const S = DY + 4; // 8 v128: s = A·dY (4 rows × 2)
  const ZERO = S + 8;
  const body: number[] = [GET, SRC, GET, PX, I32_ADD, SET, A];
  body.push(GET, A, ...load(), SET, DY);
  body.push(GET, A, GET, COLS, I32_ADD, ...load(), SET, DY + 1);
  body.push(GET, A, GET, ROW, I32_ADD, SET, A);
  body.push(GET, A, ...load(), SET, DY + 2);
  body.push(GET, A, GET, COLS, I32_ADD, ...load(), SET, DY + 3);
  // A = [[1, 0], [1, 1], [1, −1], [0, −1]]: rows of A·r for a 2-vector r = (r0, r1): r0, r0 + r1, r0 − r1, −r1.
  const combine = (r0: number[], r1: number[]): number[][] => [
    r0,
    [...r0, ...r1, ...F32X4_ADD],
    [...r0, ...r1, ...F32X4_SUB],
    [GET, ZERO, ...r1, ...F32X4_SUB],
  ];
  for (let b = 0; b < 2; b++) {
    combine([GET, DY + b], [GET, DY + 2 + b]).forEach((value, i) => body.push(...value, SET, S + 2 * i + b));
  }
  for (let i = 0; i < 4; i++) {
    combine([GET, S + 2 * i], [GET, S + 2 * i + 1]).forEach((value, j) => body.push(GET, M0 + 4 * i + j, GET, O, I32_ADD, ...value, ...store()));
  }
  return {
    exportName: 'gradOutputRow',
    params: Array<number>(24).fill(I32),
    results: [],
    locals: [[5, I32], [13, V128]],
    code: [...V128_ZERO, SET, ZERO, ...tileLoop(ENDP, PIX, SKIP, O, CH, PX, body, { ROWS, ADV, BASE: SRC, ROWEND })],
  };
}

function filterGrad(): AssembledFunction {
  // params: 0 dst, 1 plane, 2 end, 3..18 u0..u15
  const DST = 0, PLANE = 1, ENDP = 2, U0P = 3;
  const Q = 19; // i32
  const DU = 20, R = DU + 16, HALF = R + 12, SUM = HALF + 1; // v128: dU, r = Gᵀ·dU (3 × 4), ½, scratch
  const body: number[] = [];
  for (let k = 0; k < 16; k++) body.push(GET, U0P + k, GET, Q, I32_ADD, ...load(), SET, DU + k);
  // Gᵀ = [[1, ½, ½, 0], [0, ½, −½, 0], [0, ½, ½, 1]]: for a 4-vector (v0 … v3): v0 + ½(v1 + v2), ½(v1 − v2), ½(v1 + v2) + v3.
  const reduce = (v: (k: number) => number, out: (a: number) => number[]): number[] => [
    GET, v(1), GET, v(2), ...F32X4_ADD, GET, HALF, ...F32X4_MUL, SET, SUM,
    ...out(0), GET, v(0), GET, SUM, ...F32X4_ADD, ...store(),
    ...out(1), GET, v(1), GET, v(2), ...F32X4_SUB, GET, HALF, ...F32X4_MUL, ...store(),
    ...out(2), GET, SUM, GET, v(3), ...F32X4_ADD, ...store(),
  ];
  // Columns first: r[a][j] = Σ_i G[i][a]·dU[i][j], into locals (a "store" to a local: drop the address, set).
  for (let j = 0; j < 4; j++) {
    const v = (i: number) => DU + 4 * i + j;
    body.push(GET, v(1), GET, v(2), ...F32X4_ADD, GET, HALF, ...F32X4_MUL, SET, SUM);
    body.push(GET, v(0), GET, SUM, ...F32X4_ADD, SET, R + j);
    body.push(GET, v(1), GET, v(2), ...F32X4_SUB, GET, HALF, ...F32X4_MUL, SET, R + 4 + j);
    body.push(GET, SUM, GET, v(3), ...F32X4_ADD, SET, R + 8 + j);
  }
  // Then dg[a][b] = Σ_j r[a][j]·G[j][b], stored at dst + q + (3a + b)·plane.
  for (let a = 0; a < 3; a++) {
    const out = (b: number): number[] => [GET, DST, GET, Q, I32_ADD, ...Array.from({ length: 3 * a + b }, () => [GET, PLANE, I32_ADD]).flat()];
    body.push(...reduce((k) => R + 4 * a + k, out));
  }
  return {
    exportName: 'filterGrad',
    params: Array<number>(19).fill(I32),
    results: [],
    locals: [[1, I32], [30, V128]],
    code: planeLoop(Q, ENDP, HALF, body),
  };
}

/*
 * F(4×4, 3×3): each tile is 4 × 4 outputs from a 6 × 6 input patch, 36
 * products per channel pair instead of 144 (4× fewer multiply-adds than
 * the direct convolution; F(2×2, 3×3) saves 2.25×), with (Lavin & Gray,
 * §4.2, the interpolation points 0, ±1, ±2, ∞)
 *   Bᵀ = [[4, 0, −5, 0, 1, 0], [0, −4, −4, 1, 1, 0], [0, 4, −4, −1, 1, 0],
 *         [0, −2, −1, 2, 1, 0], [0, 2, −1, −2, 1, 0], [0, 4, 0, −5, 0, 1]],
 *   Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, 2, −2, 0], [0, 1, 1, 4, 4, 0], [0, 1, −1, 8, −8, 1]].
 * The constants are small integers, so the transforms stay exact up to
 * float32 rounding of each sum; the filter transform G (with ¼, ⅙, 1/12,
 * 1/24) runs once per fold, in float64 (src/ops/winograd.ts).
 */

/** Code that sets local `to` to `value` (code that pushes a v128); add, sub, times build such code. */
const assign = (to: number, value: number[]): number[] => [...value, SET, to];
const add = (a: number[], b: number[]): number[] => [...a, ...b, ...F32X4_ADD];
const sub = (a: number[], b: number[]): number[] => [...a, ...b, ...F32X4_SUB];
const times = (factor: number, a: number[]): number[] => [GET, factor, ...a, ...F32X4_MUL];
const get = (local: number): number[] => [GET, local];

/**
 * Bᵀ·x of one 6-vector x (locals x(0) … x(5)) into out(0) … out(5) (code
 * that consumes the v128 on the stack: a local set or a store), with 6
 * temporary locals and FOUR, TWO the splats 4 and 2:
 *   (x4 − x2) + 4(x0 − x2), (x3 + x4) − 4(x1 + x2), (x4 − x3) + 4(x1 − x2),
 *   (x4 − x2) + 2(x3 − x1), (x4 − x2) − 2(x3 − x1), (x5 − x3) + 4(x1 − x3).
 */
function inputTransform6(x: (i: number) => number, out: (i: number, value: number[]) => number[], tmp: number, FOUR: number, TWO: number): number[] {
  const [t34, t12, t43, t1m2, t42, t31] = [tmp, tmp + 1, tmp + 2, tmp + 3, tmp + 4, tmp + 5];
  return [
    ...assign(t34, add(get(x(3)), get(x(4)))),
    ...assign(t12, add(get(x(1)), get(x(2)))),
    ...assign(t43, sub(get(x(4)), get(x(3)))),
    ...assign(t1m2, sub(get(x(1)), get(x(2)))),
    ...assign(t42, sub(get(x(4)), get(x(2)))),
    ...assign(t31, times(TWO, sub(get(x(3)), get(x(1))))),
    ...out(0, add(get(t42), times(FOUR, sub(get(x(0)), get(x(2)))))),
    ...out(1, sub(get(t34), times(FOUR, get(t12)))),
    ...out(2, add(get(t43), times(FOUR, get(t1m2)))),
    ...out(3, add(get(t42), get(t31))),
    ...out(4, sub(get(t42), get(t31))),
    ...out(5, add(sub(get(x(5)), get(x(3))), times(FOUR, sub(get(x(1)), get(x(3)))))),
  ];
}

/**
 * Aᵀ·x of one 6-vector into out(0) … out(3), with 4 temporary locals:
 *   x0 + (x1 + x2) + (x3 + x4), (x1 − x2) + 2(x3 − x4), (x1 + x2) + 4(x3 + x4),
 *   (x1 − x2) + 8(x3 − x4) + x5.
 */
function outputTransform6(x: (i: number) => number, out: (i: number, value: number[]) => number[], tmp: number, TWO: number, FOUR: number, EIGHT: number): number[] {
  const [p, q, r, s] = [tmp, tmp + 1, tmp + 2, tmp + 3];
  return [
    ...assign(p, add(get(x(1)), get(x(2)))),
    ...assign(q, sub(get(x(1)), get(x(2)))),
    ...assign(r, add(get(x(3)), get(x(4)))),
    ...assign(s, sub(get(x(3)), get(x(4)))),
    ...out(0, add(add(get(x(0)), get(p)), get(r))),
    ...out(1, add(get(q), times(TWO, get(s)))),
    ...out(2, add(get(p), times(FOUR, get(r)))),
    ...out(3, add(add(get(q), times(EIGHT, get(s))), get(x(5)))),
  ];
}

/** Code that sets local `to` to splat(value). */
const splat = (to: number, value: number): number[] => [...f32Const(value), ...F32X4_SPLAT, SET, to];

/**
 * Code that walks a tile's patch column by column: COL = src + px, then for
 * each column j (COL += colStride after the first) its `rows` values at
 * COL + i·rowStride into the locals X … X + rows − 1, followed by
 * `perColumn(j)`. Locals: SRC, PX, ROW, COLS as in the row functions; COL and
 * A two i32 scratch locals.
 */
function eachPatchColumn(
  locals: { SRC: number; PX: number; ROW: number; COLS: number; COL: number; A: number; X: number },
  rows: number,
  columns: number,
  perColumn: (j: number) => number[],
): number[] {
  const { SRC, PX, ROW, COLS, COL, A, X } = locals;
  const code: number[] = [GET, SRC, GET, PX, I32_ADD, SET, COL];
  for (let j = 0; j < columns; j++) {
    if (j > 0) code.push(GET, COL, GET, COLS, I32_ADD, SET, COL);
    code.push(GET, COL, SET, A);
    for (let i = 0; i < rows; i++) {
      if (i > 0) code.push(GET, A, GET, ROW, I32_ADD, SET, A);
      code.push(GET, A, ...load(), SET, X + i);
    }
    code.push(...perColumn(j));
  }
  return code;
}

/**
 * inputRow4(src, rowStride, colStride, pixelStride, skip, end, v0 … v35, rows, advance):
 * as inputRow for F(4×4, 3×3): the tiles of a row are 4·dilation pixels
 * apart (skip = (4·dilation − 1)·pixelStride), each patch 6 × 6, written
 * to the 36 matrices V_ξ (ξ = 6i + j) at v0 … v35.
 */
function inputRow4(): AssembledFunction {
  const SRC = 0, ROW = 1, COLS = 2, PIX = 3, SKIP = 4, ENDP = 5, V0 = 6, ROWS = 42, ADV = 43;
  const O = 44, CH = 45, PX = 46, COL = 47, A = 48, ROWEND = 49; // i32: loop state, a column's first address, a load address
  const X = 50, T = X + 6, TMP = T + 36, FOUR = TMP + 6, TWO = FOUR + 1; // v128
  // Column j of the patch: d[i][j] at COL + i·rowStride, then t[·][j] = Bᵀ·d[·][j].
  const body = eachPatchColumn({ SRC, PX, ROW, COLS, COL, A, X }, 6, 6, (j) => inputTransform6((i) => X + i, (i, value) => [...value, SET, T + 6 * i + j], TMP, FOUR, TWO));
  for (let i = 0; i < 6; i++) {
    // Row i of t: V[i][·] = Bᵀ·t[i][·], stored to V_{6i + j} at offset o.
    body.push(...inputTransform6((j) => T + 6 * i + j, (j, value) => [GET, V0 + 6 * i + j, GET, O, I32_ADD, ...value, ...store()], TMP, FOUR, TWO));
  }
  return {
    exportName: 'inputRow4',
    params: Array<number>(44).fill(I32),
    results: [],
    locals: [[6, I32], [50, V128]],
    code: [...splat(FOUR, 4), ...splat(TWO, 2), ...tileLoop(ENDP, PIX, SKIP, O, CH, PX, body, { ROWS, ADV, BASE: SRC, ROWEND })],
  };
}

/**
 * outputRow4(dst, rowStride, colStride, pixelStride, skip, end, bias, relu,
 * m0 … m35, rows, advance): as outputRow for F(4×4, 3×3): Y = Aᵀ·M·A + bias (then
 * max(·, 0) when relu ≠ 0), 4 × 4 outputs per tile, tiles 4·dilation
 * pixels apart.
 */
function outputRow4(): AssembledFunction {
  const DST = 0, ROW = 1, COLS = 2, PIX = 3, SKIP = 4, ENDP = 5, BIAS = 6, RELU = 7, M0 = 8, ROWS = 44, ADV = 45;
  const O = 46, CH = 47, PX = 48, A = 49, RA = 50, ROWEND = 51; // i32: loop state, a store address, an output row's first address
  const X = 52, S = X + 6, TMP = S + 24, Y = TMP + 4, BV = Y + 4, ZERO = BV + 1, TWO = ZERO + 1, FOUR = TWO + 1, EIGHT = FOUR + 1; // v128
  const body: number[] = [];
  for (let j = 0; j < 6; j++) {
    // Column j of M: s[·][j] = Aᵀ·M[·][j].
    for (let i = 0; i < 6; i++) body.push(GET, M0 + 6 * i + j, GET, O, I32_ADD, ...load(), SET, X + i);
    body.push(...outputTransform6((i) => X + i, (a, value) => [...value, SET, S + 6 * a + j], TMP, TWO, FOUR, EIGHT));
  }
  body.push(GET, BIAS, GET, CH, I32_ADD, ...load(), SET, BV);
  body.push(GET, DST, GET, PX, I32_ADD, SET, RA);
  for (let a = 0; a < 4; a++) {
    // Row a of the tile: y[a][·] = Aᵀ·s[a][·] + bias, then ReLU, stored at RA + b·colStride.
    if (a > 0) body.push(GET, RA, GET, ROW, I32_ADD, SET, RA);
    body.push(...outputTransform6((j) => S + 6 * a + j, (b, value) => [...value, GET, BV, ...F32X4_ADD, SET, Y + b], TMP, TWO, FOUR, EIGHT));
    body.push(GET, RELU, IF, VOID);
    for (let b = 0; b < 4; b++) body.push(GET, ZERO, GET, Y + b, ...F32X4_PMAX, SET, Y + b);
    body.push(END);
    body.push(GET, RA, SET, A);
    for (let b = 0; b < 4; b++) {
      if (b > 0) body.push(GET, A, GET, COLS, I32_ADD, SET, A);
      body.push(GET, A, GET, Y + b, ...store());
    }
  }
  return {
    exportName: 'outputRow4',
    params: Array<number>(46).fill(I32),
    results: [],
    locals: [[6, I32], [43, V128]],
    code: [...V128_ZERO, SET, ZERO, ...splat(TWO, 2), ...splat(FOUR, 4), ...splat(EIGHT, 8), ...tileLoop(ENDP, PIX, SKIP, O, CH, PX, body, { ROWS, ADV, BASE: DST, ROWEND })],
  };
}

/**
 * filterPlain4(src, plane, end, u0 … u35): the F(4×4, 3×3) filter
 * transform U = G·g·Gᵀ (as filterPlain; float32), with
 *   G = [[¼, 0, 0], [−⅙, −⅙, −⅙], [−⅙, ⅙, −⅙], [1/24, 1/12, ⅙], [1/24, −1/12, ⅙], [0, 0, 1]],
 * per 3-vector (g0, g1, g2): g0/4, −(g0 + g2 + g1)/6, −(g0 + g2 − g1)/6,
 * (g0/24 + g2/6) ± g1/12, g2. `plane` may be negative (taps read from the
 * last: the flipped filter of the input gradient).
 */
function filterPlain4(): AssembledFunction {
  const SRC = 0, PLANE = 1, ENDP = 2, U0 = 3;
  const Q = 39, A = 40; // i32
  const G0 = 41, T = G0 + 9, TMP = T + 18, QUARTER = TMP + 3, NEG_SIXTH = QUARTER + 1, TWENTY_FOURTH = NEG_SIXTH + 1, TWELFTH = TWENTY_FOURTH + 1, SIXTH = TWELFTH + 1; // v128
  const [S, P, QQ] = [TMP, TMP + 1, TMP + 2];
  /** G·(x0, x1, x2) into out(0) … out(5). */
  const apply = (x: (k: number) => number, out: (i: number, value: number[]) => number[]): number[] => [
    ...assign(S, add(get(x(0)), get(x(2)))),
    ...assign(P, add(times(TWENTY_FOURTH, get(x(0))), times(SIXTH, get(x(2))))),
    ...assign(QQ, times(TWELFTH, get(x(1)))),
    ...out(0, times(QUARTER, get(x(0)))),
    ...out(1, times(NEG_SIXTH, add(get(S), get(x(1))))),
    ...out(2, times(NEG_SIXTH, sub(get(S), get(x(1))))),
    ...out(3, add(get(P), get(QQ))),
    ...out(4, sub(get(P), get(QQ))),
    ...out(5, get(x(2))),
  ];
  const body: number[] = [GET, SRC, GET, Q, I32_ADD, SET, A];
  for (let k = 0; k < 9; k++) {
    if (k > 0) body.push(GET, A, GET, PLANE, I32_ADD, SET, A);
    body.push(GET, A, ...load(), SET, G0 + k);
  }
  // Columns b of g: t[·][b] = G·g[·][b]; then rows i of t: U[i][·] = G·t[i][·].
  for (let b = 0; b < 3; b++) body.push(...apply((a) => G0 + 3 * a + b, (i, value) => [...value, SET, T + 3 * i + b]));
  for (let i = 0; i < 6; i++) body.push(...apply((b) => T + 3 * i + b, (j, value) => [GET, U0 + 6 * i + j, GET, Q, I32_ADD, ...value, ...store()]));
  return {
    exportName: 'filterPlain4',
    params: Array<number>(39).fill(I32),
    results: [],
    locals: [[2, I32], [35, V128]],
    code: [
      ...splat(QUARTER, 0.25), ...splat(NEG_SIXTH, -1 / 6), ...splat(TWENTY_FOURTH, 1 / 24), ...splat(TWELFTH, 1 / 12), ...splat(SIXTH, 1 / 6),
      I32_CONST, 0, SET, Q,
      ...whileBelow(Q, ENDP, [...body, GET, Q, I32_CONST, 16, I32_ADD, SET, Q]),
    ],
  };
}

/**
 * gradOutputRow4(src, rowStride, colStride, pixelStride, skip, end, m0 …
 * m35, rows, advance): as gradOutputRow for F(4×4, 3×3): each tile's 4×4 output gradient
 * dY into dM = A·dY·Aᵀ (36 matrices), A = (Aᵀ)ᵀ, per 4-vector r:
 * r0, (r0 + r2) ± (r1 + r3), (r0 + 4r2) ± 2(r1 + 4r3), r3.
 */
function gradOutputRow4(): AssembledFunction {
  const SRC = 0, ROW = 1, COLS = 2, PIX = 3, SKIP = 4, ENDP = 5, M0 = 6, ROWS = 42, ADV = 43;
  const O = 44, CH = 45, PX = 46, A = 47, COL = 48, ROWEND = 49; // i32
  const DY = 50, S = DY + 4, TMP = S + 24, FOUR = TMP + 4, TWO = FOUR + 1; // v128
  const [E, OD, E4, O4] = [TMP, TMP + 1, TMP + 2, TMP + 3];
  const apply = (r: (k: number) => number, out: (i: number, value: number[]) => number[]): number[] => [
    ...assign(E, add(get(r(0)), get(r(2)))),
    ...assign(OD, add(get(r(1)), get(r(3)))),
    ...assign(E4, add(get(r(0)), times(FOUR, get(r(2))))),
    ...assign(O4, times(TWO, add(get(r(1)), times(FOUR, get(r(3)))))),
    ...out(0, get(r(0))),
    ...out(1, add(get(E), get(OD))),
    ...out(2, sub(get(E), get(OD))),
    ...out(3, add(get(E4), get(O4))),
    ...out(4, sub(get(E4), get(O4))),
    ...out(5, get(r(3))),
  ];
  // Column b of dY: dY[a][b] at COL + a·rowStride; s[·][b] = A·dY[·][b].
  const body = eachPatchColumn({ SRC, PX, ROW, COLS, COL, A, X: DY }, 4, 4, (b) => apply((a) => DY + a, (i, value) => [...value, SET, S + 4 * i + b]));
  for (let i = 0; i < 6; i++) body.push(...apply((b) => S + 4 * i + b, (j, value) => [GET, M0 + 6 * i + j, GET, O, I32_ADD, ...value, ...store()]));
  return {
    exportName: 'gradOutputRow4',
    params: Array<number>(44).fill(I32),
    results: [],
    locals: [[6, I32], [34, V128]],
    code: [...splat(FOUR, 4), ...splat(TWO, 2), ...tileLoop(ENDP, PIX, SKIP, O, CH, PX, body, { ROWS, ADV, BASE: SRC, ROWEND })],
  };
}

/**
 * filterGrad4(dst, plane, end, u0 … u35): as filterGrad for F(4×4, 3×3):
 * dg = Gᵀ·dU·G, per 6-vector v (p = v1 + v2, q = v2 − v1, r = v3 + v4,
 * s = v3 − v4): v0/4 − p/6 + r/24, q/6 + s/12, (r − p)/6 + v5.
 */
function filterGrad4(): AssembledFunction {
  const DST = 0, PLANE = 1, ENDP = 2, U0 = 3;
  const Q = 39, A = 40; // i32
  const DU = 41, R = DU + 6, TMP = R + 18, QUARTER = TMP + 4, SIXTH = QUARTER + 1, TWELFTH = SIXTH + 1, TWENTY_FOURTH = TWELFTH + 1; // v128
  const [P, QD, RS, SD] = [TMP, TMP + 1, TMP + 2, TMP + 3];
  const apply = (v: (k: number) => number, out: (a: number, value: number[]) => number[]): number[] => [
    ...assign(P, add(get(v(1)), get(v(2)))),
    ...assign(QD, sub(get(v(2)), get(v(1)))),
    ...assign(RS, add(get(v(3)), get(v(4)))),
    ...assign(SD, sub(get(v(3)), get(v(4)))),
    ...out(0, add(sub(times(QUARTER, get(v(0))), times(SIXTH, get(P))), times(TWENTY_FOURTH, get(RS)))),
    ...out(1, add(times(SIXTH, get(QD)), times(TWELFTH, get(SD)))),
    ...out(2, add(times(SIXTH, sub(get(RS), get(P))), get(v(5)))),
  ];
  const body: number[] = [];
  for (let j = 0; j < 6; j++) {
    // Column j of dU: r[·][j] = Gᵀ·dU[·][j].
    for (let i = 0; i < 6; i++) body.push(GET, U0 + 6 * i + j, GET, Q, I32_ADD, ...load(), SET, DU + i);
    body.push(...apply((i) => DU + i, (a, value) => [...value, SET, R + 6 * a + j]));
  }
  for (let a = 0; a < 3; a++) {
    // Row a: dg[a][b] = (Gᵀ·r[a][·])_b, stored at dst + q + (3a + b)·plane.
    body.push(GET, DST, GET, Q, I32_ADD, ...Array.from({ length: 3 * a }, () => [GET, PLANE, I32_ADD]).flat(), SET, A);
    body.push(...apply((j) => R + 6 * a + j, (b, value) => [...(b > 0 ? [GET, A, GET, PLANE, I32_ADD, SET, A] : []), GET, A, ...value, ...store()]));
  }
  return {
    exportName: 'filterGrad4',
    params: Array<number>(39).fill(I32),
    results: [],
    locals: [[2, I32], [32, V128]],
    code: [
      ...splat(QUARTER, 0.25), ...splat(SIXTH, 1 / 6), ...splat(TWELFTH, 1 / 12), ...splat(TWENTY_FOURTH, 1 / 24),
      I32_CONST, 0, SET, Q,
      ...whileBelow(Q, ENDP, [...body, GET, Q, I32_CONST, 16, I32_ADD, SET, Q]),
    ],
  };
}

/** The module's bytes; `shared`: it imports a shared memory, else a plain one. */
export function simdWinogradModule(shared = false): Uint8Array<ArrayBuffer> {
  return assembleModule([inputRow(), outputRow(), filterPlain(), transposePlane(), gradOutputRow(), filterGrad(), inputRow4(), outputRow4(), filterPlain4(), gradOutputRow4(), filterGrad4()], shared);
}

const cache = createModuleCache();

/** The transforms bound to `memory`, or null where WebAssembly SIMD (or instantiation) is unavailable. */
export function simdWinograd(memory: WebAssembly.Memory | undefined): SimdWinograd | null {
  const exports = instantiateOnMemory(memory, simdWinogradModule, cache);
  return exports === null ? null : (exports as unknown as SimdWinograd);
}
