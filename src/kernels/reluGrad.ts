/**
 * `HemnetReluGrad` on wasm: dx = dy · step(x), the gradient of `Relu` as
 * one kernel (the native backend's, src/backends/native/reluGrad.ts, whose
 * gradient config takes it where the backend has it). tfjs runs it as
 * Step, Cast and Multiply: three dispatches and two intermediate tensors
 * per ReLU of every backward pass (13 ReLUs in the default model's step).
 *
 * In WebAssembly SIMD, 4 floats per step: s = (x > 0 ? 1 : 0), NaN where x
 * is NaN (tfjs's Step), then dy · s, so the result equals tfjs's
 * composition bit for bit (−0 for a negative dy at x ≤ 0, NaN for an
 * infinite dy at x ≤ 0 as 0 · ∞). The last length mod 4 floats in JS.
 */
import type * as tf from '@tensorflow/tfjs';
import {
  F32X4_MUL, F32X4_SPLAT, GET, I32, I32_ADD, I32_CONST, SET, V128,
  assembleModule, createModuleCache, f32Const, instantiateOnMemory, load, memoryOf, store, whileBelow, type AssembledFunction,
} from './wasmAssembly.js';
import { asWasmBackend, heapF32, offsetF32 } from './wasmHeap.js';

export const RELU_GRAD_WASM_KERNEL = 'HemnetReluGrad';

const F32X4_NE = [0xfd, 0x42];
const F32X4_GT = [0xfd, 0x44];
const V128_AND = [0xfd, 0x4e];
const V128_OR = [0xfd, 0x50];

/** reluGrad(dy, x, out, end): out = dy · step(x) over the byte range [0, end) from each address, end a multiple of 16. */
export interface SimdReluGrad {
  reluGrad: (dy: number, x: number, out: number, end: number) => void;
}

function reluGrad(): AssembledFunction {
  const DY = 0, X = 1, OUT = 2, ENDP = 3; // params
  const O = 4; // i32: byte offset
  const XV = 5, ONE = 6, NAN = 7, ZERO = 8; // v128
  return {
    exportName: 'reluGrad',
    params: [I32, I32, I32, I32],
    results: [],
    locals: [[1, I32], [4, V128]],
    code: [
      ...f32Const(1), ...F32X4_SPLAT, SET, ONE,
      ...f32Const(Number.NaN), ...F32X4_SPLAT, SET, NAN,
      ...f32Const(0), ...F32X4_SPLAT, SET, ZERO,
      I32_CONST, 0, SET, O,
      ...whileBelow(O, ENDP, [
        GET, X, GET, O, I32_ADD, ...load(), SET, XV,
        GET, OUT, GET, O, I32_ADD,
        GET, DY, GET, O, I32_ADD, ...load(),
        // s = (x > 0 ? 1 : 0) | (x ≠ x ? NaN : 0)
        GET, XV, GET, ZERO, ...F32X4_GT, GET, ONE, ...V128_AND,
        GET, XV, GET, XV, ...F32X4_NE, GET, NAN, ...V128_AND,
        ...V128_OR,
        ...F32X4_MUL, ...store(),
        GET, O, I32_CONST, 16, I32_ADD, SET, O,
      ]),
    ],
  };
}

/** The module's bytes; `shared`: it imports a shared memory, else a plain one. */
export function simdReluGradModule(shared = false): Uint8Array<ArrayBuffer> {
  return assembleModule([reluGrad()], shared);
}

const cache = createModuleCache();

/** The kernel bound to `memory`, or null where WebAssembly SIMD (or instantiation) is unavailable. */
export function simdReluGrad(memory: WebAssembly.Memory | undefined): SimdReluGrad | null {
  const exports = instantiateOnMemory(memory, simdReluGradModule, cache);
  return exports === null ? null : (exports as unknown as SimdReluGrad);
}

/** Plain-JS dy · step(x) for the floats [from, to) of the heap views (the tail, and where SIMD is unavailable). */
function reluGradJs(heap: Float32Array, dy: number, x: number, out: number, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const xi = heap[x + i] as number;
    const s = Number.isNaN(xi) ? Number.NaN : xi > 0 ? 1 : 0;
    heap[out + i] = (heap[dy + i] as number) * s;
  }
}

export function reluGradWasm(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, RELU_GRAD_WASM_KERNEL);
  const { dy, x } = args.inputs;
  if (dy === undefined || x === undefined) throw new Error(`${RELU_GRAD_WASM_KERNEL}: expects inputs dy and x`);
  if (dy.dtype !== 'float32' || x.dtype !== 'float32' || dy.shape.length !== x.shape.length || dy.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`${RELU_GRAD_WASM_KERNEL}: dy and x must be float32 of one shape, received ${dy.dtype} [${dy.shape.join(', ')}] and ${x.dtype} [${x.shape.join(', ')}]`);
  }
  const out = backend.makeOutput(x.shape, 'float32');
  const size = x.shape.reduce((p, d) => p * d, 1);
  const [dyAt, xAt, outAt] = [offsetF32(backend, dy), offsetF32(backend, x), offsetF32(backend, out)];
  const kernel = simdReluGrad(memoryOf(backend));
  const whole = kernel === null ? 0 : size - (size % 4);
  if (kernel !== null && whole > 0) kernel.reluGrad(4 * dyAt, 4 * xAt, 4 * outAt, 4 * whole);
  reluGradJs(heapF32(backend), dyAt, xAt, outAt, whole, size);
  return out;
}
