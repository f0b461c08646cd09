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
    const scored = tf.cast(tf.notEqual(flatLabels, ignoreLabel), 'float32');
    // Ignored pixels get class 0 in the one-hot and weight 0 in the mean.
    const safeLabels = tf.mul(flatLabels, tf.cast(scored, 'int32'));
    const oneHot = tf.oneHot(safeLabels, k);
    const logProbabilities = tf.logSoftmax(flatLogits);
    const perPixel = tf.neg(tf.sum(tf.mul(oneHot, logProbabilities), 1));
    const count = tf.maximum(tf.sum(scored), 1);
    return tf.div(tf.sum(tf.mul(perPixel, scored)), count) as tf.Scalar;
  });
}
