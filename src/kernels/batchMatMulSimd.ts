/**
 * Small matrix products C = A·B in WebAssembly SIMD over the wasm backend's
 * memory, for the batched products the stock `BatchMatMul` runs slowly (its
 * batched path is a scalar loop: the HEM head's [8, 64, 64]·[8, 64, 16]
 * E-step product runs at ≈ 1.7 GFLOP/s there, split per matrix into XNNPACK
 * calls it pays an operator creation per matrix).
 *
 * Each kernel computes a block of R rows × 4V columns of C per pass over k,
 * in R·V f32x4 accumulators: per step of k it loads V vectors of B's row and
 * splats one element of A per row. A is read one float at a time through two
 * byte strides (`aRow` between rows of A, `aK` between its columns), so a
 * transposed A costs nothing; B and C are row-major with 4V-column blocks
 * contiguous. The sum over k runs in order, in float32: a fused multiply-add
 * (`f32x4.relaxed_madd`, one rounding) where the engine runs it fused
 * (fusedMultiplyAdd.ts), else a multiply, then an add, rounded each.
 *
 * Variants: 4 × 8 (the main block), 4 × 4, 1 × 8 and 1 × 4 (the edges),
 * each also accumulating (C += A·B, for sums over calls); the caller splits
 * C into those blocks, so C's column count must be a multiple of 4.
 */
import {
  BLOCK, BR, BR_IF, END, F32X4_ADD, F32X4_MUL, F32X4_SPLAT, GET, I32, I32_ADD, I32_CONST, I32_EQZ, I32_GE_U, I32_MUL, I32_SUB, LOOP, SET, V128, V128_ZERO, VOID,
  assembleModule, createModuleCache, instantiateOnMemory, load, loadF32, store, type AssembledFunction,
} from './wasmAssembly.js';
import { F32X4_RELAXED_MADD, wasmFusedMultiplyAdd } from './fusedMultiplyAdd.js';

/**
 * One block kernel. All arguments are byte addresses or byte strides except
 * `rowBlocks` and `k`: C[r, j] = Σ_q A[r, q]·B[q, j] for the `rowBlocks`·R
 * rows from `a`/`c` and the columns [0, colEnd/4) from `b`/`c`, with
 * A[r, q] at a + r·aRow + q·aK, B[q, j] at b + q·ldb + 4j, C[r, j] at
 * c + r·ldc + 4j. `colEnd` is a multiple of 16V bytes; k ≥ 1.
 */
export type SimdGemmBlock = (a: number, b: number, c: number, rowBlocks: number, k: number, aRow: number, aK: number, ldb: number, ldc: number, colEnd: number) => void;

export interface SimdGemm {
  gemm4x8: SimdGemmBlock;
  gemm4x4: SimdGemmBlock;
  gemm1x8: SimdGemmBlock;
  gemm1x4: SimdGemmBlock;
  /** The same blocks accumulating: C += A·B (C read, the block's sum added, written back). */
  gemm4x8Add: SimdGemmBlock;
  gemm4x4Add: SimdGemmBlock;
  gemm1x8Add: SimdGemmBlock;
  gemm1x4Add: SimdGemmBlock;
}

// Parameters.
const P_A = 0;
const P_B = 1;
const P_C = 2;
const P_ROW_BLOCKS = 3;
const P_K = 4;
const P_A_ROW = 5;
const P_A_K = 6;
const P_LDB = 7;
const P_LDC = 8;
const P_COL_END = 9;
const PARAMS = 10;

function block(rows: number, vectors: number, fused: boolean, accumulate = false): AssembledFunction {
  // i32 locals
  const RB = PARAMS; // row block index
  const ROW_A = PARAMS + 1; // A's address of the block's first row
  const ROW_C = PARAMS + 2; // C's address of the block's first row
  const COL = PARAMS + 3; // byte offset of the column block
  const PB = PARAMS + 4; // B's address at step q
  const KK = PARAMS + 5; // steps of k left
  const PR = PARAMS + 6; // A's address of row r at step q, r = 0..rows-1
  const i32Locals = 6 + rows;
  // v128 locals
  const ACC = PARAMS + i32Locals; // acc[r·vectors + v]
  const BV = ACC + rows * vectors; // B's vectors at step q
  const AV = BV + vectors; // A's splatted element
  const v128Locals = rows * vectors + vectors + 1;
  const colStep = 16 * vectors;

  const initAccumulators = Array.from({ length: rows * vectors }, (_, i) => [...V128_ZERO, SET, ACC + i]).flat();
  const initRowPointers = Array.from({ length: rows }, (_, r) =>
    r === 0 ? [GET, ROW_A, SET, PR] : [GET, ROW_A, GET, P_A_ROW, I32_CONST, r, I32_MUL, I32_ADD, SET, PR + r],
  ).flat();
  const step = [
    ...Array.from({ length: vectors }, (_, v) => [GET, PB, ...load(16 * v), SET, BV + v]).flat(),
    ...Array.from({ length: rows }, (_, r) => [
      GET, PR + r, ...loadF32(), ...F32X4_SPLAT, SET, AV,
      ...Array.from({ length: vectors }, (_, v) => {
        const acc = ACC + r * vectors + v;
        // acc += a·b: relaxed_madd(a, b, acc), or a multiply and an add.
        return fused ? [GET, AV, GET, BV + v, GET, acc, ...F32X4_RELAXED_MADD, SET, acc] : [GET, acc, GET, AV, GET, BV + v, ...F32X4_MUL, ...F32X4_ADD, SET, acc];
      }).flat(),
    ]).flat(),
    GET, PB, GET, P_LDB, I32_ADD, SET, PB,
    ...Array.from({ length: rows }, (_, r) => [GET, PR + r, GET, P_A_K, I32_ADD, SET, PR + r]).flat(),
    GET, KK, I32_CONST, 1, I32_SUB, SET, KK,
  ];
  /** C's address of row r of the block at the column block COL. */
  const cAddress = (r: number): number[] => [GET, ROW_C, ...(r === 0 ? [] : [GET, P_LDC, I32_CONST, r, I32_MUL, I32_ADD]), GET, COL, I32_ADD];
  const storeBlock = Array.from({ length: rows }, (_, r) =>
    Array.from({ length: vectors }, (_, v) => [
      ...cAddress(r),
      // C = acc, or (accumulate) C = C + acc: the block's whole sum over k added once.
      ...(accumulate ? [...cAddress(r), ...load(16 * v), GET, ACC + r * vectors + v, ...F32X4_ADD] : [GET, ACC + r * vectors + v]),
      ...store(16 * v),
    ]).flat(),
  ).flat();

  const code = [
    I32_CONST, 0, SET, RB,
    GET, P_A, SET, ROW_A,
    GET, P_C, SET, ROW_C,
    BLOCK, VOID, LOOP, VOID,
    GET, RB, GET, P_ROW_BLOCKS, I32_GE_U, BR_IF, 1,
    I32_CONST, 0, SET, COL,
    BLOCK, VOID, LOOP, VOID,
    GET, COL, GET, P_COL_END, I32_GE_U, BR_IF, 1,
    ...initAccumulators,
    ...initRowPointers,
    GET, P_B, GET, COL, I32_ADD, SET, PB,
    GET, P_K, SET, KK,
    BLOCK, VOID, LOOP, VOID,
    GET, KK, I32_EQZ, BR_IF, 1,
    ...step,
    BR, 0, END, END,
    ...storeBlock,
    GET, COL, I32_CONST, colStep, I32_ADD, SET, COL, // colStep ≤ 32: a one-byte immediate
    BR, 0, END, END,
    GET, RB, I32_CONST, 1, I32_ADD, SET, RB,
    GET, ROW_A, GET, P_A_ROW, I32_CONST, rows, I32_MUL, I32_ADD, SET, ROW_A,
    GET, ROW_C, GET, P_LDC, I32_CONST, rows, I32_MUL, I32_ADD, SET, ROW_C,
    BR, 0, END, END,
  ];
  return {
    exportName: `gemm${rows}x${4 * vectors}${accumulate ? 'Add' : ''}`,
    params: Array<number>(PARAMS).fill(I32),
    results: [],
    locals: [[i32Locals, I32], [v128Locals, V128]],
    code,
  };
}

/** The module's bytes; `shared`: it imports a shared memory, else a plain one; `fused`: multiply-adds by `f32x4.relaxed_madd`. */
export function simdGemmModule(shared = false, fused = false): Uint8Array<ArrayBuffer> {
  const shapes: Array<[number, number]> = [[4, 2], [4, 1], [1, 2], [1, 1]];
  return assembleModule([false, true].flatMap((accumulate) => shapes.map(([rows, vectors]) => block(rows, vectors, fused, accumulate))), shared);
}

const plainCache = createModuleCache();
const fusedCache = createModuleCache();
const fusedModule = (shared: boolean): Uint8Array<ArrayBuffer> => simdGemmModule(shared, true);

/**
 * The kernels bound to `memory`, or null where WebAssembly SIMD (or
 * instantiation) is unavailable: with fused multiply-adds while
 * `wasmFusedMultiplyAdd()` holds, else with a multiply and an add.
 */
export function simdGemm(memory: WebAssembly.Memory | undefined): SimdGemm | null {
  const exports = wasmFusedMultiplyAdd() ? instantiateOnMemory(memory, fusedModule, fusedCache) : instantiateOnMemory(memory, simdGemmModule, plainCache);
  return exports === null ? null : (exports as unknown as SimdGemm);
}

/**
 * C = A·B for one matrix, split into the kernels' blocks: A is m × k read
 * through the strides `aRow`, `aK` (bytes), B is k × n row-major at `b`,
 * C is m × n row-major at `c` (byte addresses); n a multiple of 4, k ≥ 1.
 * `accumulate`: C += A·B instead (the `…Add` blocks); `ldc`: bytes between
 * C's rows (default 4n: contiguous).
 */
export function gemmOnMemory(kernels: SimdGemm, a: number, aRow: number, aK: number, b: number, c: number, m: number, k: number, n: number, accumulate = false, ldc = 4 * n): void {
  const ldb = 4 * n;
  const rowBlocks = Math.floor(m / 4);
  const wide = 32 * Math.floor(n / 8); // bytes of columns in 8-column blocks
  const narrow = n % 8 === 4;
  const tailRows = m - 4 * rowBlocks;
  const [g4x8, g4x4, g1x8, g1x4] = accumulate
    ? [kernels.gemm4x8Add, kernels.gemm4x4Add, kernels.gemm1x8Add, kernels.gemm1x4Add]
    : [kernels.gemm4x8, kernels.gemm4x4, kernels.gemm1x8, kernels.gemm1x4];
  if (rowBlocks > 0) {
    if (wide > 0) g4x8(a, b, c, rowBlocks, k, aRow, aK, ldb, ldc, wide);
    if (narrow) g4x4(a, b + wide, c + wide, rowBlocks, k, aRow, aK, ldb, ldc, 16);
  }
  if (tailRows > 0) {
    const aTail = a + 4 * rowBlocks * aRow;
    const cTail = c + 4 * rowBlocks * ldc;
    if (wide > 0) g1x8(aTail, b, cTail, tailRows, k, aRow, aK, ldb, ldc, wide);
    if (narrow) g1x4(aTail, b + wide, cTail + wide, tailRows, k, aRow, aK, ldb, ldc, 16);
  }
}
