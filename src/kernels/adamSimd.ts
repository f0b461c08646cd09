/**
 * The fused Adam step (adam.ts) as a WebAssembly SIMD loop over the wasm
 * backend's own memory: 4 floats per instruction in float32 arithmetic
 * (f32x4.mul/add/div/sqrt round every lane to float32 exactly as
 * `Math.fround` after each double operation does), so the values are the
 * same as the JavaScript loop's — bit for bit — at a fraction of its time
 * (the loop is the serial part of a data-parallel step: the workers wait on it).
 *
 * The module is a few hundred bytes assembled here (no binary file, no
 * toolchain); it imports the backend's `WebAssembly.Memory`, plain or shared
 * (the threaded wasm build's memory is a shared one, and a module can only
 * import a memory of the same kind, so there are two variants). Where SIMD or
 * the memory is unavailable, `simdAdam` returns null and adam.ts keeps its
 * JavaScript loop.
 */

/** adam(n4, w, m, v, g, wo, mo, vo, β₁, 1−β₁, β₂, 1−β₂, 1−β₁ᵗ, 1−β₂ᵗ, ε, −lr): n4 floats (a multiple of 4), byte offsets. */
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
) => void;

function uleb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function name(text: string): number[] {
  return [...uleb(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];
}

// Opcodes (WebAssembly core + fixed-width SIMD).
const GET = 0x20;
const SET = 0x21;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_SHL = 0x74;
const I32_GE_U = 0x4f;
const BLOCK = 0x02;
const LOOP = 0x03;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const LOAD = [0xfd, 0x00, 0x02, 0x00]; // v128.load align=4 offset=0
const STORE = [0xfd, 0x0b, 0x02, 0x00]; // v128.store
const SPLAT = [0xfd, 0x13]; // f32x4.splat
const SQRT = [0xfd, 0xe3, 0x01];
const ADD = [0xfd, 0xe4, 0x01];
const MUL = [0xfd, 0xe6, 0x01];
const DIV = [0xfd, 0xe7, 0x01];

// Parameters 0–7 (i32): n4, w, m, v, g, wo, mo, vo; 8–15 (f32): b1, ob1, b2, ob2, c1, c2, eps, nlr.
// Locals: 16 k (byte offset), 17 end; 18–25 the eight scalars splatted; 26 G, 27 M1, 28 V1.
const K = 16;
const END_OFFSET = 17;
const SPLATTED = 18;
const G = 26;
const M1 = 27;
const V1 = 28;
const at = (base: number): number[] => [GET, base, GET, K, I32_ADD];

function body(): number[] {
  const code: number[] = [];
  for (let i = 0; i < 8; i++) code.push(GET, 8 + i, ...SPLAT, SET, SPLATTED + i);
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
  code.push(...at(6), GET, M1, ...STORE);
  code.push(...at(7), GET, V1, ...STORE);
  // wo[k] = ((M1/c1) / (√(V1/c2) + ε))·(−lr) + w[k]
  code.push(...at(5));
  code.push(GET, M1, GET, C1, ...DIV, GET, V1, GET, C2, ...DIV, ...SQRT, GET, EPS, ...ADD, ...DIV, GET, NLR, ...MUL);
  code.push(...at(1), ...LOAD, ...ADD, ...STORE);
  code.push(GET, K, I32_CONST, 16, I32_ADD, SET, K, BR, 0, END, END, END);
  const locals = [2, 2, I32, 11, V128];
  return [...locals, ...code];
}

/** Pages of 64 KiB in a 4 GiB wasm32 memory: the maximum a shared memory import declares (any actual maximum fits under it). */
const MAX_PAGES = 65536;

/** The module's bytes; `shared`: it imports a shared memory (limits flag 3: shared, with a maximum), else a plain one (flag 0). */
export function simdAdamModule(shared = false): Uint8Array<ArrayBuffer> {
  const type = [1, 0x60, 16, ...Array<number>(8).fill(I32), ...Array<number>(8).fill(F32), 0];
  const limits = shared ? [0x03, 0x00, ...uleb(MAX_PAGES)] : [0x00, 0x00];
  const imports = [1, ...name('env'), ...name('memory'), 0x02, ...limits];
  const functions = [1, 0];
  const exports = [1, ...name('adam'), 0x00, 0];
  const fn = body();
  const code = [1, ...uleb(fn.length), ...fn];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, type),
    ...section(2, imports),
    ...section(3, functions),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

/** The compiled module per memory kind (index 0 plain, 1 shared); null where it does not validate or compile. */
const compiled: Array<WebAssembly.Module | null | undefined> = [undefined, undefined];
const instances = new WeakMap<WebAssembly.Memory, SimdAdam | null>();

/** The SIMD loop bound to `memory`, or null where WebAssembly SIMD (or instantiation) is unavailable. */
export function simdAdam(memory: WebAssembly.Memory | undefined): SimdAdam | null {
  if (memory === undefined || typeof WebAssembly !== 'object') return null;
  const known = instances.get(memory);
  if (known !== undefined) return known;
  let result: SimdAdam | null = null;
  try {
    const shared = typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
    const kind = shared ? 1 : 0;
    let module = compiled[kind];
    if (module === undefined) {
      const bytes = simdAdamModule(shared);
      module = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
      compiled[kind] = module;
    }
    if (module !== null) {
      const instance = new WebAssembly.Instance(module, { env: { memory } });
      result = instance.exports['adam'] as SimdAdam;
    }
  } catch {
    result = null;
  }
  instances.set(memory, result);
  return result;
}
