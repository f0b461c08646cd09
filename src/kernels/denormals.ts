/**
 * Subnormal floats on wasm. WebAssembly cannot set the CPU's flush-to-zero
 * mode, and a subnormal costs up to ~190x per operation (bench/denormals.ts), so
 * hemnet's wasm training kernels store subnormal results as +0 where a
 * trained model grows them: the fused Adam step (adam.ts: weights whose only
 * gradient is the weight decay decay into that range) and the batch-norm
 * moving averages (fusedTraining.ts: the moving statistics of a channel that
 * stopped varying). The native backend flushes the same values through FTZ +
 * DAZ (native/src/common.h). `setFlushDenormals` (src/backend.ts) drives both.
 */
import * as tf from '@tensorflow/tfjs';

/** The smallest normal float32 (2⁻¹²⁶): nonzero magnitudes below it are subnormal. */
export const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

let flushBelow = FLOAT32_MIN_NORMAL;

/** Whether hemnet's wasm training kernels store subnormal results as +0 (default true); returns the previous setting. */
export function setWasmDenormalFlush(on: boolean): boolean {
  const previous = flushBelow > 0;
  flushBelow = on ? FLOAT32_MIN_NORMAL : 0;
  return previous;
}

/** The magnitude below which those kernels store +0: FLOAT32_MIN_NORMAL when flushing, else 0 (nothing is below it). */
export function wasmFlushBelow(): number {
  return flushBelow;
}

/** What reading a model's weights needs (a tfjs LayersModel). */
interface WeightHolder {
  weights: { dtype: string; read(): tf.Tensor; write(value: tf.Tensor): unknown }[];
}

/**
 * Sets the subnormal entries of a model's float32 weights (trainable or
 * not, e.g. batch-norm moving statistics) to +0 and returns how many there
 * were; does nothing (0) when `setFlushDenormals(false)` or on a GPU backend
 * (which flushes them itself, and where reading weights back would stall).
 * The loaders call it: a model trained without a flush (an older hemnet,
 * another framework) can carry them, e.g. an EMA head's input convolution
 * decayed into that range, which made inference on wasm 4x slower.
 */
export function flushSubnormalWeights(model: WeightHolder): number {
  const below = wasmFlushBelow();
  const backend = tf.getBackend();
  if (below === 0 || backend === 'webgl' || backend === 'webgpu') return 0;
  let flushed = 0;
  for (const weight of model.weights) {
    if (weight.dtype !== 'float32') continue;
    const value = weight.read();
    const data = value.dataSync() as Float32Array;
    let count = 0;
    for (let i = 0; i < data.length; i++) {
      const x = data[i] as number;
      if (x !== 0 && Math.abs(x) < below) count++;
    }
    if (count === 0) continue;
    const cleaned = Float32Array.from(data, (x) => (Math.abs(x) < below ? 0 : x));
    const replacement = tf.tensor(cleaned, value.shape, 'float32');
    weight.write(replacement);
    replacement.dispose();
    flushed += count;
  }
  return flushed;
}
