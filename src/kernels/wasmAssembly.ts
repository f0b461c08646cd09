/**
 * A few hundred bytes of WebAssembly assembled at run time (no binary file,
 * no toolchain) for hemnet's SIMD loops over the wasm backend's own memory:
 * the encodings they share and the instantiation against that memory, plain
 * or shared (the threaded wasm build's memory is a shared one, and a module
 * can only import a memory of the same kind, so each module has two
 * variants). Where SIMD or the memory is unavailable, `instantiateOnMemory`
 * returns null and the callers keep their JavaScript loops.
 */
import type { WasmBackendLike } from './wasmHeap.js';

/** Unsigned LEB128. */
export function uleb(value: number): number[] {
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

export function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

export function name(text: string): number[] {
  return [...uleb(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];
}

// Opcodes (WebAssembly core + fixed-width SIMD).
export const GET = 0x20;
export const SET = 0x21;
export const I32_CONST = 0x41;
export const I32_EQ = 0x46;
export const I32_GE_U = 0x4f;
export const I32_ADD = 0x6a;
export const I32_SHL = 0x74;
export const I32_SUB = 0x6b;
export const I32_MUL = 0x6c;
export const I32_EQZ = 0x45;
export const SELECT = 0x1b;
export const BLOCK = 0x02;
export const LOOP = 0x03;
export const BR = 0x0c;
export const BR_IF = 0x0d;
export const END = 0x0b;
export const VOID = 0x40;
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
/** v128.load / v128.store, align 4, at a constant byte offset. */
export const load = (offset = 0): number[] => [0xfd, 0x00, 0x02, ...uleb(offset)];
export const store = (offset = 0): number[] => [0xfd, 0x0b, 0x02, ...uleb(offset)];
export const F32X4_SPLAT = [0xfd, 0x13];
/** f32.load, align 4, at a constant byte offset. */
export const loadF32 = (offset = 0): number[] => [0x2a, 0x02, ...uleb(offset)];
/** f32.store (align 4). */
export const storeF32 = (offset = 0): number[] => [0x38, 0x02, ...uleb(offset)];
/** f32x4.extract_lane. */
export const f32x4ExtractLane = (lane: number): number[] => [0xfd, 0x1f, lane];
/** f32.const, little-endian IEEE bytes. */
export const f32Const = (value: number): number[] => [0x43, ...new Uint8Array(new Float32Array([value]).buffer)];
/** v128.const with all 16 bytes 0 (four +0.0f lanes). */
export const V128_ZERO = [0xfd, 0x0c, ...Array<number>(16).fill(0)];
export const F32X4_SQRT = [0xfd, 0xe3, 0x01];
export const F32X4_ABS = [0xfd, 0xe0, 0x01];
/** Lane-wise a < b: all ones where true. */
export const F32X4_LT = [0xfd, 0x43];
/** a & ~b. */
export const V128_ANDNOT = [0xfd, 0x4f];
export const F32X4_ADD = [0xfd, 0xe4, 0x01];
export const F32X4_SUB = [0xfd, 0xe5, 0x01];
export const F32X4_MUL = [0xfd, 0xe6, 0x01];
export const F32X4_DIV = [0xfd, 0xe7, 0x01];
export const F64X2_ADD = [0xfd, 0xf0, 0x01];
export const F64X2_MUL = [0xfd, 0xf2, 0x01];
/** Lanes 0, 1 of an f32x4 as an f64x2 (exact). */
export const F64X2_PROMOTE_LOW = [0xfd, 0x5f];
/** i8x16.shuffle moving f32 lanes 2, 3 of the first operand to lanes 0, 1 (of two copies on the stack). */
export const HIGH_HALF_TO_LOW = [0xfd, 0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];

/** Pages of 64 KiB in a 4 GiB wasm32 memory: the maximum a shared memory import declares (any actual maximum fits under it). */
const MAX_PAGES = 65536;

/** A function of a module: its parameter and result types, locals (after the parameters) and body. */
export interface AssembledFunction {
  exportName: string;
  params: number[];
  results: number[];
  /** Groups of locals, [count, type] each. */
  locals: Array<[number, number]>;
  code: number[];
}

/**
 * `while (local ptr < local end) { body }` (unsigned compare): the loop
 * shape of the row and block kernels. `body` must advance `ptr` (or end
 * the loop); inside it, `BR, 0` continues and `BR, 1` breaks.
 */
export function whileBelow(ptr: number, end: number, body: readonly number[]): number[] {
  return [BLOCK, VOID, LOOP, VOID, GET, ptr, GET, end, I32_GE_U, BR_IF, 1, ...body, BR, 0, END, END];
}

/** The bytes of a module of `functions` that imports `env.memory`; `shared`: a shared memory (limits flag 3, with a maximum), else a plain one (flag 0). */
export function assembleModule(functions: readonly AssembledFunction[], shared: boolean): Uint8Array<ArrayBuffer> {
  const types = [...uleb(functions.length), ...functions.flatMap((f) => [0x60, ...uleb(f.params.length), ...f.params, ...uleb(f.results.length), ...f.results])];
  const limits = shared ? [0x03, 0x00, ...uleb(MAX_PAGES)] : [0x00, 0x00];
  const imports = [1, ...name('env'), ...name('memory'), 0x02, ...limits];
  const declarations = [...uleb(functions.length), ...functions.flatMap((_, i) => uleb(i))];
  const exports = [...uleb(functions.length), ...functions.flatMap((f, i) => [...name(f.exportName), 0x00, ...uleb(i)])];
  const bodies = functions.map((f) => {
    const body = [...uleb(f.locals.length), ...f.locals.flatMap(([count, type]) => [...uleb(count), type]), ...f.code, END];
    return [...uleb(body.length), ...body];
  });
  const code = [...uleb(functions.length), ...bodies.flat()];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, declarations),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

/** The backend's WebAssembly.Memory (Emscripten's `Module.asm.memory`), when it exposes it. */
export function memoryOf(backend: WasmBackendLike): WebAssembly.Memory | undefined {
  const memory = (backend.wasm as { asm?: { memory?: unknown } }).asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : undefined;
}

/** Compiled modules per memory kind (0 plain, 1 shared) and instances per memory, for `instantiateOnMemory`. */
export interface ModuleCache {
  modules: Array<WebAssembly.Module | null | undefined>;
  instances: WeakMap<WebAssembly.Memory, WebAssembly.Exports | null>;
}

export function createModuleCache(): ModuleCache {
  return { modules: [], instances: new WeakMap() };
}

/**
 * Instantiates the module `bytesFor(shared)` against `memory` and returns
 * its exports, compiled once per memory kind and instantiated once per
 * memory (through `cache`); null where it does not validate, compile or
 * instantiate.
 */
export function instantiateOnMemory(
  memory: WebAssembly.Memory | undefined,
  bytesFor: (shared: boolean) => Uint8Array<ArrayBuffer>,
  cache: ModuleCache,
): WebAssembly.Exports | null {
  if (memory === undefined || typeof WebAssembly !== 'object') return null;
  const known = cache.instances.get(memory);
  if (known !== undefined) return known;
  let result: WebAssembly.Exports | null = null;
  try {
    const shared = typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
    const kind = shared ? 1 : 0;
    let module = cache.modules[kind];
    if (module === undefined) {
      const bytes = bytesFor(shared);
      module = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
      cache.modules[kind] = module;
    }
    if (module !== null) result = new WebAssembly.Instance(module, { env: { memory } }).exports;
  } catch {
    result = null;
  }
  cache.instances.set(memory, result);
  return result;
}
