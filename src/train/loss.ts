/** Losses for segmentation. */
import * as tf from '@tensorflow/tfjs';
import { fusedCrossEntropy, fusedCrossEntropyAvailable } from '../backends/native/crossEntropy.js';

/**
 * Pixel-wise softmax cross-entropy with an ignore label, averaged over the
 * pixels that are scored (as PyTorch's `CrossEntropyLoss(ignore_index=255)`).
 * @param logits `[B, H, W, K]`
 * @param labels `[B, H, W]` int32, values in [0, K) or `ignoreLabel`
 * @returns scalar loss; 0 when no pixel is scored
 */
export function segmentationCrossEntropy(logits: tf.Tensor4D, labels: tf.Tensor3D, ignoreLabel = 255): tf.Scalar {
  if (logits.rank !== 4) {
    throw new Error(`segmentationCrossEntropy: 'logits' must be rank 4 [B, H, W, K], received shape [${logits.shape.join(', ')}]`);
  }
  const [b, h, w, k] = logits.shape;
  if (labels.rank !== 3 || labels.shape[0] !== b || labels.shape[1] !== h || labels.shape[2] !== w) {
    throw new Error(`segmentationCrossEntropy: 'labels' must have shape [${b}, ${h}, ${w}] to match 'logits', received [${labels.shape.join(', ')}]`);
  }
  return tf.tidy(() => {
    const flatLogits = tf.reshape(logits, [b * h * w, k]);
    const flatLabels = tf.reshape(tf.cast(labels, 'int32'), [b * h * w]);
    // One kernel (and one for the gradient) where the backend has it (native).
    if (fusedCrossEntropyAvailable(flatLogits, flatLabels)) return fusedCrossEntropy(flatLogits as tf.Tensor2D, flatLabels as tf.Tensor1D, ignoreLabel);
    return composedCrossEntropy(flatLogits as tf.Tensor2D, flatLabels as tf.Tensor1D, ignoreLabel);
  });
}

/**
 * The same loss from tfjs ops, as one custom-gradient node: the forward pass
 * computes the softmax once and keeps dLoss/dlogits = (softmax − onehot) · w,
 * w = scored / (number scored) (0 for a label outside [0, K)), so the backward pass is one multiply by dy
 * (the tape of `tf.logSoftmax` would run `Exp` again over all B·H·W·K
 * logits, ≈ 2 ms a step of the default model on wasm, and ≈ 25 kernels
 * for the mean, the one-hot product and the log-softmax gradient).
 */
function composedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, ignoreLabel: number): tf.Scalar {
  const k = logits.shape[1];
  const loss = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const scored = tf.cast(tf.notEqual(labels, ignoreLabel), 'float32');
    // Ignored pixels get class 0 in the one-hot and weight 0 in the mean.
    const safeLabels = tf.mul(labels, tf.cast(scored, 'int32'));
    const oneHot = tf.oneHot(safeLabels, k);
    const shifted = tf.sub(x, tf.max(x, 1, true));
    const exps = tf.exp(shifted);
    const sums = tf.sum(exps, 1, true);
    const logProbabilities = tf.sub(shifted, tf.log(sums));
    // w = scored / (number scored). A label outside [0, K) has a zero one-hot row
    // (as tf.oneHot): it counts in the mean but adds no loss and gets no gradient,
    // so its weight in the sum and the gradient is also 0 (inRange).
    const inRange = tf.cast(tf.logicalAnd(tf.greaterEqual(labels, 0), tf.less(labels, k)), 'float32');
    const weights = tf.expandDims(tf.div(tf.mul(scored, inRange), tf.maximum(tf.sum(scored), 1)), 1);
    // −Σ_pixels w · Σ_classes onehot · log p
    const value = tf.neg(tf.sum(tf.mul(tf.mul(oneHot, logProbabilities), weights)));
    save([tf.mul(tf.sub(tf.div(exps, sums), oneHot), weights)]);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(saved[0] as tf.Tensor, dy) };
  });
  return loss(logits) as tf.Scalar;
}
