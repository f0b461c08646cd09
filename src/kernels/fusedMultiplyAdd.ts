/**
 * Fused multiply-add for hemnet's SIMD block kernels (batchMatMulSimd.ts:
 * the Winograd products of the wasm convolutions and the small batched
 * products), through relaxed SIMD's `f32x4.relaxed_madd`.
 *
 * Fixed-width WebAssembly SIMD has no FMA: a multiply-add is `f32x4.mul`
 * then `f32x4.add`, two instructions and two roundings. `relaxed_madd(a, b, c)`
 * is a·b + c either fused (one rounding, one instruction: x64 `vfmadd` when
 * the CPU has FMA3) or not, as the engine chooses per machine. The kernels
 * use it only where it is fused: `fusedMultiplyAddAvailable()` compiles a
 * probe and checks that (1 + 2⁻¹²)² − 1 comes out as 2⁻¹¹ + 2⁻²⁴, which
 * only a single rounding gives (float32 products round the 2⁻²⁴ away).
 *
 * Engines: Chrome ≥ 114 and Node ≥ 22 (V8 11.4) ship relaxed SIMD; Node 20's
 * V8 has it behind `--experimental-wasm-relaxed-simd`, which `setBackend`
 * sets at run time in Node (backend.ts) before the first kernel compiles.
 * `setWasmFusedMultiplyAdd(false)` (or `HEMNET_WASM_FMA=0`, Node, set
 * before start) keeps the separate multiply and add: the results of hemnet
 * before 2026-12-07, bit for bit.
 */
import { GET, I32, I32_ADD, I32_CONST, assembleModule, load, store } from './wasmAssembly.js';

/** `f32x4.relaxed_madd` (relaxed SIMD, opcode 0xfd 0x105): pops a, b, c, pushes a·b + c. */
export const F32X4_RELAXED_MADD = [0xfd, 0x85, 0x02];

let enabled = true;
let probed: boolean | null = null;

/** The probe: out[0..3] = in[0..3]·in[4..7] + in[8..11] at byte address `p` (in) and `p + 48` (out). */
function probeModule(): Uint8Array<ArrayBuffer> {
  const code = [
    GET, 0, I32_CONST, 48, I32_ADD, // the store's address, p + 48
    GET, 0, ...load(0), GET, 0, ...load(16), GET, 0, ...load(32), ...F32X4_RELAXED_MADD,
    ...store(0),
  ];
  return assembleModule([{ exportName: 'madd', params: [I32], results: [], locals: [], code }], false);
}

function probe(): boolean {
  if (typeof WebAssembly !== 'object') return false;
  try {
    const bytes = probeModule();
    if (!WebAssembly.validate(bytes)) return false;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const { madd } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as { madd: (p: number) => void };
    const f = new Float32Array(memory.buffer);
    const a = 1 + 2 ** -12;
    f.set([a, a, a, a, a, a, a, a, -1, -1, -1, -1], 0);
    madd(0);
    const fused = 2 ** -11 + 2 ** -24;
    return [0, 1, 2, 3].every((lane) => f[12 + lane] === fused);
  } catch {
    return false;
  }
}

/** Whether this engine runs `f32x4.relaxed_madd`, and runs it fused (probed once; see `resetFusedMultiplyAddProbe`). */
export function fusedMultiplyAddAvailable(): boolean {
  probed ??= probe();
  return probed;
}

/** Forgets the probe's answer (after a change of the engine's flags, e.g. by `setBackend` in Node). */
export function resetFusedMultiplyAddProbe(): void {
  probed = null;
}

/** Turns the block kernels' fused multiply-add on (default, where available) or off (separate multiply and add). */
export function setWasmFusedMultiplyAdd(on: boolean): void {
  if (typeof on !== 'boolean') throw new Error(`setWasmFusedMultiplyAdd: expects a boolean, received ${String(on)}`);
  enabled = on;
}

/** True when the block kernels use fused multiply-adds: switched on and available here. */
export function wasmFusedMultiplyAdd(): boolean {
  return enabled && fusedMultiplyAddAvailable();
}

/** Runs `fn` with `setWasmFusedMultiplyAdd(on)`, then restores the setting. */
export function withWasmFusedMultiplyAdd<T>(on: boolean, fn: () => T): T {
  const before = enabled;
  setWasmFusedMultiplyAdd(on);
  try {
    return fn();
  } finally {
    enabled = before;
  }
}
