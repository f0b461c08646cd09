/**
 * The segmentation loss of src/train/loss.ts (softmax cross-entropy with an
 * ignore label, mean over the scored pixels) as one kernel for backends that
 * have it (`native`, native/src/loss.cc). The kernel also writes the loss's
 * gradient with respect to the logits, so the backward pass is one product
 * with the incoming scalar; tfjs runs ~20 kernels forward and ~25 backward.
 */
import * as tf from '@tensorflow/tfjs';

/** Inputs logits `[P, K]` float32, labels `[P]` int32; attr ignoreLabel; outputs [loss scalar, dLoss/dLogits `[P, K]`]. */
export const SOFTMAX_CROSS_ENTROPY_KERNEL = 'HemnetSoftmaxCrossEntropy';

let fusedEnabled = true;
/** Turns the fused loss off (tfjs ops on every backend) or back on, e.g. to compare the two in one process. */
export function setFusedCrossEntropy(enabled: boolean): void {
  fusedEnabled = enabled;
}

/** True when `fusedCrossEntropy` can run these inputs on the current backend. */
export function fusedCrossEntropyAvailable(logits: tf.Tensor, labels: tf.Tensor): boolean {
  return fusedEnabled && logits.dtype === 'float32' && labels.dtype === 'int32' && logits.size > 0 && tf.getKernel(SOFTMAX_CROSS_ENTROPY_KERNEL, tf.getBackend()) !== undefined;
}

/**
 * Mean over pixels whose label is not `ignoreLabel` of −log softmax(logits)[label], with its gradient.
 * Call only when `fusedCrossEntropyAvailable`.
 *
 * A custom gradient around the kernel, so that the tape records one node with
 * the loss as its only output: a tape node of the two-output kernel would get
 * a zero-filled tensor of the logits' size for the gradient output in every
 * backward pass (tfjs's engine fills every output no gradient reaches), a
 * 1.4 MB allocation per step of the default model.
 */
export function fusedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, ignoreLabel: number): tf.Scalar {
  const loss = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [value, gradient] = tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY_KERNEL, { logits: x, labels }, { ignoreLabel }) as [tf.Tensor, tf.Tensor];
    // Kept for the backward pass (the custom gradient's scope disposes the kernel's own output).
    save([gradient]);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(saved[0] as tf.Tensor, dy) };
  });
  return loss(logits) as tf.Scalar;
}

/**
 * The gradient of `SOFTMAX_CROSS_ENTROPY_KERNEL` when the kernel itself is run under a tape
 * (`fusedCrossEntropy` wraps it in a custom gradient instead): dy · the saved dLoss/dLogits (labels get zeros).
 */
export const softmaxCrossEntropyGradConfig: tf.GradConfig = {
  kernelName: SOFTMAX_CROSS_ENTROPY_KERNEL,
  outputsToSave: [false, true],
  gradFunc: (dys, saved) => {
    const [gradient] = saved as [tf.Tensor];
    // One dy per output; the gradient output is not differentiable (nothing reaches it in hemnet).
    const dy = (Array.isArray(dys) ? dys[0] : dys) as tf.Tensor;
    return {
      logits: () => tf.mul(gradient, dy),
      labels: () => tf.zeros([gradient.shape[0] as number]),
    };
  },
};
