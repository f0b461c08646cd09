/**
 * Numbers the browser demo and the Node test both compute, on the same seeded
 * inputs, so the test can check that a browser gives the numbers Node gives:
 * the HEM unroll (μ⁽ᵀ⁾ and the ELBO per iteration, Eqs. 10–14), its gradient
 * through the split batchMatMul path, and the gradients of a dilated
 * convolution (the wasm kernels hemnet installs). Platform-neutral.
 */
import * as tf from '@tensorflow/tfjs';
import { unrollHem } from 'hemnet';

export interface ProbeNumbers {
  backend: string;
  /** μ⁽ᵀ⁾, [2, 6, 16] flattened. */
  mu: number[];
  /** ELBO after every N-step, [T][B]. */
  elbo: number[][];
  /** ∂ Σ X̃² / ∂x, [2, 48, 16] flattened. */
  gradX: number[];
  /** ∂ Σ conv² / ∂filter and / ∂image for a 3×3 conv with dilation 2. */
  convFilterGrad: number[];
  convInputGrad: number[];
}

const HEM = { stepSize: 0.5, iterations: 4 } as const;

export function probeNumbers(): ProbeNumbers {
  return tf.tidy(() => {
    const x = tf.randomNormal([2, 48, 16], 0, 1, 'float32', 11) as tf.Tensor3D;
    const mu0 = tf.randomNormal([2, 6, 16], 0, 1, 'float32', 12) as tf.Tensor3D;
    const result = unrollHem(x, mu0, { ...HEM, trace: true });
    const elbo = (result.trace ?? []).map((step) => Array.from(step.elboAfter.dataSync()));
    const gradX = tf.grad((input: tf.Tensor) => tf.sum(tf.square(unrollHem(input as tf.Tensor3D, mu0, HEM).reconstruction)))(x);
    const image = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 13) as tf.Tensor4D;
    const filter = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 14) as tf.Tensor4D;
    const convLoss = (i: tf.Tensor4D, f: tf.Tensor4D): tf.Scalar => tf.sum(tf.square(tf.conv2d(i, f, 1, 'same', 'NHWC', 2)));
    const [convInputGrad, convFilterGrad] = tf.grads((i: tf.Tensor, f: tf.Tensor) => convLoss(i as tf.Tensor4D, f as tf.Tensor4D))([image, filter]);
    return {
      backend: tf.getBackend(),
      mu: Array.from(result.mu.dataSync()),
      elbo,
      gradX: Array.from(gradX.dataSync()),
      convFilterGrad: Array.from((convFilterGrad as tf.Tensor).dataSync()),
      convInputGrad: Array.from((convInputGrad as tf.Tensor).dataSync()),
    };
  });
}
