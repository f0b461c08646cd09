/**
 * A faster `FusedBatchNorm` gradient for the common case of per-channel
 * statistics (mean, variance, scale, offset of shape `[C]`, x `[..., C]`).
 *
 * y = (x − μ) · γ · r + β,  r = (σ² + ε)^(−1/2). With per-channel sums
 * S[t] = Σ_{all but C} t, written as a rank-2 product 1ᵀ[1, N] · t[N, C]
 * (the fast matMul path on wasm; tfjs's stock gradient tiles r to the full
 * shape and reduces leading axes through transposes, ~5x slower on wasm):
 *   dx = dy · (γ r)                 dβ = S[dy]
 *   dμ = −γ r · S[dy]              dγ = r · S[dy ⊙ (x − μ)]
 *   dσ² = −½ γ r³ · S[dy ⊙ (x − μ)]
 * On wasm both sums come from one kernel (`HemnetBatchNormSums`, batchNormSums.ts).
 * Other shapes use tfjs-core's stock gradient unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_SUMS } from './batchNormSums.js';

/** Per-channel sums over every axis but the last: `[..., C] → [C]`. */
function channelSums(t: tf.Tensor, channels: number): tf.Tensor1D {
  // The native backend reduces leading axes directly (no ones vector to build).
  if (tf.getBackend() === 'native') return tf.reshape(tf.sum(t, t.shape.map((_, i) => i).slice(0, -1)), [channels]);
  const rows = t.size / channels;
  return tf.reshape(tf.matMul(tf.ones([1, rows]), tf.reshape(t, [rows, channels])), [channels]);
}

/** S[dy] and S[dy ⊙ (x − μ)]: one kernel on wasm (batchNormSums.ts), else tf ops. */
function channelSumPair(dy: tf.Tensor, x: tf.Tensor, mean: tf.Tensor, channels: number): [tf.Tensor1D, tf.Tensor1D] {
  if (dy.dtype === 'float32' && x.dtype === 'float32' && mean.dtype === 'float32' && tf.getKernel(BATCH_NORM_SUMS, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(BATCH_NORM_SUMS, { dy, x, mean }, {}) as unknown as [tf.Tensor1D, tf.Tensor1D];
  }
  return [channelSums(dy, channels), channelSums(tf.mul(dy, tf.sub(x, mean)), channels)];
}

/** Builds the config around the stock one (kept for the shapes we do not handle). */
export function batchNormGradConfig(stock: tf.GradConfig | undefined): tf.GradConfig {
  return {
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
      const channels = x.shape[x.rank - 1] ?? 0;
      const perChannel = (t: tf.Tensor | undefined | null): boolean =>
        t === undefined || t === null || (t.rank === 1 && t.shape[0] === channels);
      if (!(mean.rank === 1 && perChannel(mean) && perChannel(variance) && perChannel(scale)) || stock === undefined) {
        if (stock === undefined) throw new Error('FusedBatchNorm gradient: no stock gradient to fall back on');
        return stock.gradFunc(dy, saved, attrs);
      }
      const grad = dy as tf.Tensor;
      const epsilon = typeof attrs['varianceEpsilon'] === 'number' ? attrs['varianceEpsilon'] : 0.001;
      const gamma = scale === undefined || scale === null ? tf.ones([channels]) : scale;
      const r = tf.rsqrt(tf.add(variance, epsilon));
      const gammaR = tf.mul(gamma, r);
      // Computed here, not inside the closures: tfjs runs each closure in its own
      // tidy, so a tensor shared between closures must live in this outer scope.
      const [dySum, dyCenteredSum] = channelSumPair(grad, x, mean, channels);
      return {
        x: () => tf.mul(grad, gammaR),
        mean: () => tf.neg(tf.mul(gammaR, dySum)),
        variance: () => tf.mul(tf.mul(tf.mul(gammaR, tf.square(r)), -0.5), dyCenteredSum),
        scale: () => tf.mul(r, dyCenteredSum),
        offset: () => tf.reshape(dySum, [channels]),
      };
    },
  };
}
