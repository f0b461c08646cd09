/**
 * The fused Adam step (adam.ts) as a WebAssembly SIMD loop over the wasm
 * backend's own memory: 4 floats per instruction in float32 arithmetic
 * (f32x4.mul/add/div/sqrt round every lane to float32 exactly as
 * `Math.fround` after each double operation does), so the values are the
 * same as the JavaScript loop's — bit for bit — at a fraction of its time
 * (the loop is the serial part of a data-parallel step: the workers wait on it).
 *
 * The module is assembled at run time (wasmAssembly.ts) against the
 * backend's `WebAssembly.Memory`; where SIMD or the memory is unavailable,
 * `simdAdam` returns null and adam.ts keeps its JavaScript loop.
 */
import {
  BLOCK, BR, BR_IF, END, F32, F32X4_ABS, F32X4_ADD, F32X4_DIV, F32X4_LT, F32X4_MUL, F32X4_SPLAT, F32X4_SQRT, GET, I32, I32_ADD, I32_CONST, I32_GE_U, I32_SHL, LOOP, SET, V128, V128_ANDNOT, VOID,
  assembleModule, createModuleCache, instantiateOnMemory, load, store,
} from './wasmAssembly.js';

/**
 * adam(n4, w, m, v, g, wo, mo, vo, β₁, 1−β₁, β₂, 1−β₂, 1−β₁ᵗ, 1−β₂ᵗ, ε, −lr, flushBelow): n4 floats (a
 * multiple of 4), byte offsets. A new w, m or v whose magnitude is below `flushBelow` is stored as +0
 * (the smallest normal float32 flushes subnormals, 0 flushes nothing).
 */
export type SimdAdam = (
  n4: number,
  w: number,
  m: number,
  v: number,
  g: number,
  wo: number,
  mo: number,
  vo: number,
  b1: number,
  ob1: number,
  b2: number,
  ob2: number,
  c1: number,
  c2: number,
  eps: number,
  nlr: number,
  flushBelow: number,
) => void;

const [LOAD, STORE, SPLAT, SQRT, ADD, MUL, DIV] = [load(), store(), F32X4_SPLAT, F32X4_SQRT, F32X4_ADD, F32X4_MUL, F32X4_DIV];

// Parameters 0–7 (i32): n4, w, m, v, g, wo, mo, vo; 8–16 (f32): b1, ob1, b2, ob2, c1, c2, eps, nlr, flushBelow.
// Locals: 17 k (byte offset), 18 end; 19–27 the nine scalars splatted; 28 G, 29 M1, 30 V1, 31 W1.
const SCALARS = 9;
const K = 17;
const END_OFFSET = 18;
const SPLATTED = 19;
const G = 28;
const M1 = 29;
const V1 = 30;
const W1 = 31;
const FLUSH_BELOW = SPLATTED + 8;
const at = (base: number): number[] => [GET, base, GET, K, I32_ADD];
/** local ← local with the lanes of magnitude below flushBelow set to +0 (v128.andnot with the mask |x| < flushBelow). */
const flushed = (local: number): number[] => [GET, local, GET, local, ...F32X4_ABS, GET, FLUSH_BELOW, ...F32X4_LT, ...V128_ANDNOT, SET, local];

function body(): number[] {
  const code: number[] = [];
  for (let i = 0; i < SCALARS; i++) code.push(GET, 8 + i, ...SPLAT, SET, SPLATTED + i);
  code.push(GET, 0, I32_CONST, 2, I32_SHL, SET, END_OFFSET);
  const [B1, OB1, B2, OB2, C1, C2, EPS, NLR] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => SPLATTED + i) as [number, number, number, number, number, number, number, number];
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(GET, K, GET, END_OFFSET, I32_GE_U, BR_IF, 1);
  // G = g[k]
  code.push(...at(4), ...LOAD, SET, G);
  // M1 = m[k]·β₁ + G·(1−β₁)
  code.push(...at(2), ...LOAD, GET, B1, ...MUL, GET, G, GET, OB1, ...MUL, ...ADD, SET, M1);
  // V1 = v[k]·β₂ + (G·G)·(1−β₂)
  code.push(...at(3), ...LOAD, GET, B2, ...MUL, GET, G, GET, G, ...MUL, GET, OB2, ...MUL, ...ADD, SET, V1);
  // W1 = ((M1/c1) / (√(V1/c2) + ε))·(−lr) + w[k], from the unflushed M1 and V1 (as the JS loop does)
  code.push(GET, M1, GET, C1, ...DIV, GET, V1, GET, C2, ...DIV, ...SQRT, GET, EPS, ...ADD, ...DIV, GET, NLR, ...MUL);
  code.push(...at(1), ...LOAD, ...ADD, SET, W1);
  code.push(...flushed(M1), ...flushed(V1), ...flushed(W1));
  code.push(...at(6), GET, M1, ...STORE);
  code.push(...at(7), GET, V1, ...STORE);
  code.push(...at(5), GET, W1, ...STORE);
  code.push(GET, K, I32_CONST, 16, I32_ADD, SET, K, BR, 0, END, END);
  return code;
}

/** The module's bytes; `shared`: it imports a shared memory, else a plain one. */
export function simdAdamModule(shared = false): Uint8Array<ArrayBuffer> {
  const adam = { exportName: 'adam', params: [...Array<number>(8).fill(I32), ...Array<number>(SCALARS).fill(F32)], results: [], locals: [[2, I32], [SCALARS + 4, V128]] as Array<[number, number]>, code: body() };
  return assembleModule([adam], shared);
}

const cache = createModuleCache();

/** The SIMD loop bound to `memory`, or null where WebAssembly SIMD (or instantiation) is unavailable. */
export function simdAdam(memory: WebAssembly.Memory | undefined): SimdAdam | null {
  const exports = instantiateOnMemory(memory, simdAdamModule, cache);
  return exports === null ? null : (exports['adam'] as SimdAdam);
}
