/**
 * `HemnetBroadcastTo` (wasm): x `[d₀, …]` with some axes of size 1 copied to
 * `shape`, as block copies on the heap (`fill` / `copyWithin`, doubling the
 * copied region along each broadcast axis) instead of tfjs-wasm's `Tile`,
 * which computes a source index per element (≈ 59 ms for [8, 64, 64, 16]
 * from [1, 1, 1, 16] here, against ≈ 0.3 ms). The `Mean`/`Sum` gradients
 * (reduceGrad.ts) use it. Values are copied, never computed: exact.
 */
import type * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapF32, offsetF32 } from './wasmHeap.js';

export const BROADCAST_TO = 'HemnetBroadcastTo';

interface Group {
  size: number;
  /** Broadcast (x has size 1 on these axes). */
  broadcast: boolean;
  /** Elements of the output below one step of this group. */
  outStride: number;
  /** Elements of x below one step of this group. */
  inStride: number;
}

/** Consecutive axes of the same kind merged (axes of size 1 in the output dropped). */
export function broadcastGroups(inShape: readonly number[], outShape: readonly number[]): Group[] {
  const merged: Array<{ size: number; broadcast: boolean }> = [];
  outShape.forEach((size, axis) => {
    if (size === 1) return;
    const broadcast = inShape[axis] === 1;
    const last = merged[merged.length - 1];
    if (last !== undefined && last.broadcast === broadcast) last.size *= size;
    else merged.push({ size, broadcast });
  });
  let outStride = 1;
  let inStride = 1;
  const groups: Group[] = new Array<Group>(merged.length);
  for (let j = merged.length - 1; j >= 0; j--) {
    const g = merged[j] as { size: number; broadcast: boolean };
    groups[j] = { ...g, outStride, inStride };
    outStride *= g.size;
    if (!g.broadcast) inStride *= g.size;
  }
  return groups;
}

function write(heap: Float32Array, groups: Group[], j: number, out: number, src: number): void {
  const g = groups[j];
  if (g === undefined) {
    heap[out] = heap[src] as number;
    return;
  }
  if (j === groups.length - 1) {
    if (g.broadcast) heap.fill(heap[src] as number, out, out + g.size);
    else heap.copyWithin(out, src, src + g.size);
    return;
  }
  if (!g.broadcast) {
    for (let i = 0; i < g.size; i++) write(heap, groups, j + 1, out + i * g.outStride, src + i * g.inStride);
    return;
  }
  // One block, then doubling copies of it along this axis.
  write(heap, groups, j + 1, out, src);
  const block = g.outStride;
  let done = 1;
  while (done < g.size) {
    const count = Math.min(done, g.size - done);
    heap.copyWithin(out + done * block, out, out + count * block);
    done += count;
  }
}

/** The kernel function registered for `HemnetBroadcastTo` on wasm: input x (float32), attr `shape` (x's rank, sizes equal or x's 1). */
export function broadcastToWasm(args: { inputs: tf.NamedTensorInfoMap; backend: {}; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend, BROADCAST_TO);
  const x = args.inputs.x;
  const shape = args.attrs?.shape as number[] | undefined;
  if (x === undefined || !Array.isArray(shape)) throw new Error(`${BROADCAST_TO}: input 'x' and attr 'shape' are required`);
  if (x.dtype !== 'float32') throw new Error(`${BROADCAST_TO}: float32 only, received ${x.dtype}`);
  if (x.shape.length !== shape.length || x.shape.some((d, i) => d !== 1 && d !== shape[i])) {
    throw new Error(`${BROADCAST_TO}: cannot broadcast [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
  }
  const out = backend.makeOutput([...shape], 'float32');
  if (shape.some((d) => d === 0)) return out;
  const heap = heapF32(backend); // after the allocation
  write(heap, broadcastGroups(x.shape, shape), 0, offsetF32(backend, out), offsetF32(backend, x));
  return out;
}
