/**
 * Σ w² over a run of float32 values in WebAssembly SIMD, for the weight
 * decay's `HemnetSumOfSquares` on wasm (fusedTraining.ts): 4 floats per
 * step, each promoted to float64 and squared exactly, summed in two f64x2
 * accumulators (lanes 0–1 and 2–3 of each step), which are added at the
 * end. The JS loop it replaces took ≈ 1.4 ms for the default model's
 * 427,483 weights, a cost every step pays whatever its batch.
 */
import {
  BLOCK, BR, BR_IF, END, F64X2_ADD, F64X2_MUL, F64X2_PROMOTE_LOW, GET, HIGH_HALF_TO_LOW, I32, I32_ADD, I32_CONST, I32_GE_U, LOOP, SET, V128, V128_ZERO, VOID,
  assembleModule, createModuleCache, instantiateOnMemory, load, type AssembledFunction,
} from './wasmAssembly.js';

/** sumSquares(start, end): Σ x² over the float32 values at byte addresses [start, end), end − start a multiple of 16. */
export interface SimdSumOfSquares {
  sumSquares: (start: number, end: number) => number;
}

const F64 = 0x7c;
const F64_ADD = 0xa0;
const f64x2ExtractLane = (lane: number): number[] => [0xfd, 0x21, lane];

function sumSquares(): AssembledFunction {
  const P = 0, ENDP = 1; // params
  const V = 2, LOW = 3, HIGH = 4, X = 5; // v128: the 4 floats, the two accumulators, a promoted pair
  return {
    exportName: 'sumSquares',
    params: [I32, I32],
    results: [F64],
    locals: [[4, V128]],
    code: [
      ...V128_ZERO, SET, LOW,
      ...V128_ZERO, SET, HIGH,
      BLOCK, VOID, LOOP, VOID,
      GET, P, GET, ENDP, I32_GE_U, BR_IF, 1,
      GET, P, ...load(), SET, V,
      GET, V, ...F64X2_PROMOTE_LOW, SET, X,
      GET, LOW, GET, X, GET, X, ...F64X2_MUL, ...F64X2_ADD, SET, LOW,
      GET, V, GET, V, ...HIGH_HALF_TO_LOW, ...F64X2_PROMOTE_LOW, SET, X,
      GET, HIGH, GET, X, GET, X, ...F64X2_MUL, ...F64X2_ADD, SET, HIGH,
      GET, P, I32_CONST, 16, I32_ADD, SET, P,
      BR, 0, END, END,
      GET, LOW, GET, HIGH, ...F64X2_ADD, SET, X,
      GET, X, ...f64x2ExtractLane(0), GET, X, ...f64x2ExtractLane(1), F64_ADD,
    ],
  };
}

/** The module's bytes; `shared`: it imports a shared memory, else a plain one. */
export function simdSumOfSquaresModule(shared = false): Uint8Array<ArrayBuffer> {
  return assembleModule([sumSquares()], shared);
}

const cache = createModuleCache();

/** The kernel bound to `memory`, or null where WebAssembly SIMD (or instantiation) is unavailable. */
export function simdSumOfSquares(memory: WebAssembly.Memory | undefined): SimdSumOfSquares | null {
  const exports = instantiateOnMemory(memory, simdSumOfSquaresModule, cache);
  return exports === null ? null : (exports as unknown as SimdSumOfSquares);
}
