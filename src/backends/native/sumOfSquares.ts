/**
 * Σᵢ ‖wᵢ‖² over a list of tensors (the weight-decay term of the training
 * loss, src/train/loop.ts) as one kernel for backends that have it
 * (`native`); its gradient is 2·dy·wᵢ per tensor. tfjs runs it as a Square,
 * a Sum and their gradients per tensor plus an AddN: ~8 kernels per decayed
 * weight per step.
 */
import * as tf from '@tensorflow/tfjs';

/** Inputs the tensors (an array, as AddN takes them); output the float32 scalar Σᵢ Σ wᵢ². */
export const SUM_OF_SQUARES_KERNEL = 'HemnetSumOfSquares';

let fusedEnabled = true;
/** Turns the fused sum off (tfjs ops on every backend) or back on, e.g. to compare the two in one process. */
export function setFusedSumOfSquares(enabled: boolean): void {
  fusedEnabled = enabled;
}

/** Σᵢ Σ wᵢ² of float32 tensors: one kernel where the backend has it, else tf.addN of tf.sum(tf.square(wᵢ)). */
export function sumOfSquares(tensors: readonly tf.Tensor[]): tf.Scalar {
  if (tensors.length === 0) throw new Error('sumOfSquares: at least one tensor is needed');
  if (fusedEnabled && tensors.every((t) => t.dtype === 'float32') && tf.getKernel(SUM_OF_SQUARES_KERNEL, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(SUM_OF_SQUARES_KERNEL, [...tensors] as unknown as tf.NamedTensorMap, {}) as tf.Scalar;
  }
  return tf.tidy(() => tf.addN(tensors.map((w) => tf.sum(tf.square(w)))) as tf.Scalar);
}

/** The gradient of `SUM_OF_SQUARES_KERNEL`: 2·dy·wᵢ for each input. */
export const sumOfSquaresGradConfig: tf.GradConfig = {
  kernelName: SUM_OF_SQUARES_KERNEL,
  saveAllInputs: true,
  gradFunc: (dy, saved) => {
    // Once for every input (the engine's backward scope disposes it).
    const twice = tf.mul(dy as tf.Tensor, 2);
    const ders: Record<string, () => tf.Tensor> = {};
    saved.forEach((w, i) => {
      ders[i] = () => tf.mul(w, twice);
    });
    return ders;
  },
};
