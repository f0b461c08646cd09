/**
 * The weight-decay term of the training loss, L = CE + (λ/2)·Σ‖kernel‖²
 * (`batchLoss` in loop.ts), applied outside the gradient tape: its
 * gradient λ·w is added to the data gradient of each decayed weight after
 * backpropagation, and its value to the loss as a number. On the tape it
 * was a sum-of-squares kernel, then per decayed weight a Multiply and an
 * Add, plus the scalar ops around it (a step of the default model made
 * 236 kernel calls with it on the tape, 195 without, each paying tfjs's
 * dispatch and tape bookkeeping); here it is one pass per weight. In
 * a data-parallel step the calling thread adds it once to the mean
 * gradient, so the workers' shards skip it.
 *
 * The values are the tape's to the bit: the tape computes
 * g + w·fround(2·fround(λ/2)) = g + fround(w·fround(λ)) per element, and
 * so does this (WebAssembly SIMD `mix` with α = 1 on wasm, tf ops
 * elsewhere). Platform-neutral (no Node APIs).
 */
import * as tf from '@tensorflow/tfjs';
import { sumOfSquares } from '../backends/native/sumOfSquares.js';
import { simdHemRows } from '../kernels/hemSimd.js';
import { memoryOf } from '../kernels/wasmAssembly.js';
import { heapViews, isWasmBackend, offsetF32, type RefCounting, type WasmBackendLike } from '../kernels/wasmHeap.js';

/** (λ/2)·Σᵢ‖wᵢ‖² over the non-null weights (as `addWeightDecay` takes them), as the float32 the tape's loss tensor held; 0 when λ is 0 or nothing is decayed. */
export function weightDecayLoss(weights: readonly (tf.Tensor | null)[], weightDecay: number): number {
  const decayed = weights.filter((w): w is tf.Tensor => w !== null);
  if (!(weightDecay > 0) || decayed.length === 0) return 0;
  const squares = sumOfSquares(decayed);
  const total = squares.dataSync()[0] as number;
  squares.dispose();
  return Math.fround(total * Math.fround(weightDecay / 2));
}

/** `loss + decay` rounded as the tape's float32 Add rounded it. */
export function addDecayLoss(loss: number, decay: number): number {
  return decay === 0 ? loss : Math.fround(loss + decay);
}

/**
 * g + λ·w for every gradient whose weight is decayed (`weights[i]` not
 * null; same shape as `gradients[i]`). Returns the gradients in order: on
 * wasm a gradient no other tensor shares is updated in place and returned
 * as is; otherwise the sum is a new tensor and the old gradient is
 * disposed. The caller owns (and disposes) what is returned.
 */
export function addWeightDecay(gradients: readonly tf.Tensor[], weights: readonly (tf.Tensor | null)[], weightDecay: number): tf.Tensor[] {
  if (gradients.length !== weights.length) throw new Error(`addWeightDecay: ${gradients.length} gradients need as many weights (or nulls), received ${weights.length}`);
  weights.forEach((w, i) => {
    const g = gradients[i] as tf.Tensor;
    if (w !== null && w.shape.join(',') !== g.shape.join(',')) throw new Error(`addWeightDecay: gradient ${i} has shape [${g.shape.join(', ')}], its weight [${w.shape.join(', ')}]`);
  });
  if (!(weightDecay > 0)) return gradients.slice();
  const backend = tf.backend();
  const onHeap = (t: tf.Tensor): boolean => t.dtype === 'float32' && isWasmBackend(backend) && backend.dataIdMap.get(t.dataId)?.memoryOffset != null;
  const rows = tf.getBackend() === 'wasm' && isWasmBackend(backend) ? simdHemRows(memoryOf(backend)) : null;
  if (rows !== null && isWasmBackend(backend) && typeof (backend as Partial<RefCounting>).refCount === 'function' && gradients.every((g, i) => weights[i] === null || (onHeap(g) && onHeap(weights[i] as tf.Tensor)))) {
    return decayOnHeap(backend as WasmBackendLike & RefCounting, rows.mix, gradients, weights, weightDecay);
  }
  return gradients.map((g, i) => {
    const w = weights[i];
    if (w === null || w === undefined) return g;
    const sum = tf.tidy(() => tf.add(g, tf.mul(w, weightDecay)));
    g.dispose();
    return sum;
  });
}

type Mix = (a: number, b: number, out: number, end: number, alpha: number, beta: number) => void;

function decayOnHeap(backend: WasmBackendLike & RefCounting, mix: Mix, gradients: readonly tf.Tensor[], weights: readonly (tf.Tensor | null)[], weightDecay: number): tf.Tensor[] {
  // Every new output first: an allocation may grow the heap and stale its views.
  const outputs = gradients.map((g, i) => (weights[i] === null || backend.refCount(g.dataId) === 1 ? null : backend.makeOutput(g.shape.slice(), 'float32')));
  const view = heapViews(backend);
  const lambda = Math.fround(weightDecay);
  const result = gradients.map((g, i) => {
    const w = weights[i];
    if (w === null || w === undefined) return g;
    const output = outputs[i] ?? null;
    const target: tf.TensorInfo = output ?? g;
    const bulk = 4 * (g.size - (g.size % 4));
    const gradientAt = 4 * offsetF32(backend, g);
    // out = 1·g + λ·w in f32 lanes (each product and the sum rounded), the last size mod 4 in JS.
    mix(gradientAt, 4 * offsetF32(backend, w), 4 * offsetF32(backend, target), gradientAt + bulk, 1, lambda);
    const out = view(target);
    const gv = view(g);
    const wv = view(w);
    for (let j = bulk / 4; j < g.size; j++) out[j] = Math.fround((gv[j] as number) + Math.fround((wv[j] as number) * lambda));
    return output === null ? g : tf.engine().makeTensorFromTensorInfo(output);
  });
  gradients.forEach((g, i) => {
    if (outputs[i] != null) g.dispose();
  });
  return result;
}
