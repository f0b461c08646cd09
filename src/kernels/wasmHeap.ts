/**
 * Low-level access to the tfjs `wasm` backend for hemnet's own kernels.
 *
 * A kernel function receives `TensorInfo`s (data ids on the wasm heap), not
 * tensors. Calling `tf.*` ops from inside a kernel would nest engine scopes
 * and tensor bookkeeping inside a running kernel, so our kernels never do.
 * Instead they (1) move memory with `copyWithin` / `fill` on a Float32 view
 * of the heap, and (2) call the wasm backend's own kernel functions (matMul,
 * transpose, conv2d) directly on `TensorInfo`s — the same pattern the wasm
 * backend's composite kernels use — disposing every intermediate with
 * `backend.disposeData`.
 *
 * Heap views go stale whenever the wasm memory grows (any allocation may
 * grow it), so `heapF32` must be called again after every allocation.
 */
import * as tf from '@tensorflow/tfjs';

/** The parts of tfjs-backend-wasm's `BackendWasm` that our kernels use. */
export interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: tf.DataId): { memoryOffset: number | null } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  disposeData(dataId: tf.DataId): boolean;
}

/** Whether a backend object has the parts of `BackendWasm` our kernels use. */
export function isWasmBackend(backend: unknown): backend is WasmBackendLike {
  const candidate = backend as Partial<WasmBackendLike> | null;
  return (
    candidate !== null &&
    typeof candidate === 'object' &&
    typeof candidate.makeOutput === 'function' &&
    typeof candidate.disposeData === 'function' &&
    candidate.dataIdMap !== undefined &&
    candidate.wasm?.HEAPU8 !== undefined
  );
}

/** Narrows the untyped `backend` argument of a kernel function. */
export function asWasmBackend(backend: unknown, kernelName: string): WasmBackendLike {
  if (!isWasmBackend(backend)) throw new Error(`${kernelName}: hemnet kernel expects the 'wasm' backend, received another backend object`);
  return backend;
}

/** A backend that counts the tensors sharing a data id (tfjs's wasm backend does): 1 means a buffer may be written in place. */
export interface RefCounting {
  refCount(dataId: tf.DataId): number;
}

/** A Float32 view of the whole wasm heap (re-fetch after any allocation). */
export function heapF32(backend: WasmBackendLike): Float32Array {
  const bytes = backend.wasm.HEAPU8;
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
}

/** Index (in floats) of the first element of a tensor in `heapF32`. */
export function offsetF32(backend: WasmBackendLike, info: tf.TensorInfo): number {
  const entry = backend.dataIdMap.get(info.dataId);
  if (entry === undefined || entry.memoryOffset === null) {
    throw new Error('hemnet wasm kernel: tensor data is not on the wasm heap');
  }
  return entry.memoryOffset >>> 2;
}

/**
 * A function giving each tensor's data as a view of the heap indexed from 0
 * (V8 hoists the bounds checks of such views; indexing the whole heap at an
 * offset made these loops ≈ 3× slower here). Call it after the kernel's
 * last allocation: a view goes stale when the heap grows.
 */
export function heapViews(backend: WasmBackendLike): (t: tf.TensorInfo) => Float32Array {
  const heap = heapF32(backend);
  return (t) => {
    const start = offsetF32(backend, t);
    return heap.subarray(start, start + t.shape.reduce((a, b) => a * b, 1));
  };
}

/** Runs a kernel of the wasm backend itself (not one of ours) on `TensorInfo`s. */
export function runWasmKernel(
  backend: WasmBackendLike,
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const config = tf.getKernel(kernelName, 'wasm');
  if (config === undefined) throw new Error(`hemnet wasm kernel: the wasm backend has no '${kernelName}' kernel`);
  const result = config.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(result)) {
    throw new Error(`hemnet wasm kernel: '${kernelName}' returned several outputs, expected one`);
  }
  return result;
}

/** A `[m, k]·[k, n]` product on the fast rank-2 path of the wasm matMul. */
export function matMul2d(backend: WasmBackendLike, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const out = runWasmKernel(backend, 'BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  return out;
}

/** `dst[c·rows + r] = src[r·cols + c]` on the heap, in blocks (the wasm Transpose kernel is ~20× slower here). */
export function transposeOnHeap(heap: Float32Array, src: number, rows: number, cols: number, dst: number): void {
  const BLOCK = 32;
  for (let r0 = 0; r0 < rows; r0 += BLOCK) {
    const r1 = Math.min(rows, r0 + BLOCK);
    for (let c0 = 0; c0 < cols; c0 += BLOCK) {
      const c1 = Math.min(cols, c0 + BLOCK);
      for (let r = r0; r < r1; r++) {
        const from = src + r * cols;
        for (let c = c0; c < c1; c++) heap[dst + c * rows + r] = heap[from + c] as number;
      }
    }
  }
}

/** Explicit `[m, n] → [n, m]` transpose (wasm's own kernel). */
export function transpose2d(backend: WasmBackendLike, x: tf.TensorInfo): tf.TensorInfo {
  return runWasmKernel(backend, 'Transpose', { x }, { perm: [1, 0] });
}

/** Frees intermediates created inside a kernel. */
export function disposeAll(backend: WasmBackendLike, infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * Copies the float32 values of `tensor` into `target` at `offset` (in
 * floats). On the wasm backend straight from the heap, without the
 * intermediate copy `dataSync()` allocates; elsewhere through `dataSync()`.
 * Returns the number of values copied.
 */
export function copyTensorInto(tensor: tf.Tensor, target: Float32Array, offset: number): number {
  const size = tensor.size;
  if (offset < 0 || offset + size > target.length) {
    throw new Error(`copyTensorInto: ${size} values at offset ${offset} do not fit a target of ${target.length}`);
  }
  if (tensor.dtype === 'float32' && tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as Partial<WasmBackendLike>;
    const entry = backend.dataIdMap?.get(tensor.dataId);
    if (backend.wasm !== undefined && entry !== undefined && entry.memoryOffset !== null) {
      const start = entry.memoryOffset >>> 2;
      target.set(heapF32(backend as WasmBackendLike).subarray(start, start + size), offset);
      return size;
    }
  }
  target.set(tensor.dataSync() as Float32Array, offset);
  return size;
}
