/**
 * How many of the K Gaussian bases an EM attention head actually uses.
 *
 * With p_k = (1 / (B·N)) Σ_b Σ_n γ_{bnk} the mean responsibility of basis k
 * (Σ_k p_k = 1 because every row of γ sums to 1, Eq. 7/8), the effective
 * number of bases is exp(H(p)) = exp(−Σ_k p_k ln p_k): K when every basis takes
 * the same share, 1 when one basis takes everything (collapse). It is the
 * perplexity of the bases' usage, a standard "effective number" (Hill number
 * of order 1).
 */
import * as tf from '@tensorflow/tfjs';

export interface BasesUsage {
  /** exp of the entropy of the mean responsibility per basis, in [1, K]. */
  effectiveBases: number;
  /** Mean responsibility per basis p_k, length K, summing to 1. */
  share: number[];
}

function checkGamma(fn: string, gamma: tf.Tensor): void {
  if (gamma.rank !== 2 && gamma.rank !== 3) {
    throw new Error(`${fn}: 'gamma' must be [N, K] or [B, N, K], received rank ${gamma.rank} [${gamma.shape.join(', ')}]`);
  }
  if (gamma.shape.some((d) => d === 0)) throw new Error(`${fn}: 'gamma' must not be empty, received [${gamma.shape.join(', ')}]`);
}

/** Usage of the bases from responsibilities γ `[N, K]` or `[B, N, K]` (rows summing to 1). */
export function basesUsage(gamma: tf.Tensor2D | tf.Tensor3D): BasesUsage {
  const fn = 'basesUsage';
  checkGamma(fn, gamma);
  const k = gamma.shape[gamma.rank - 1] as number;
  const mean = tf.tidy(() => tf.mean(tf.reshape(gamma, [-1, k]), 0));
  const share = Array.from(mean.dataSync());
  mean.dispose();
  if (share.some((v) => !Number.isFinite(v) || v < 0)) throw new Error(`${fn}: 'gamma' must hold finite responsibilities ≥ 0`);
  const total = share.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-3) throw new Error(`${fn}: the rows of 'gamma' must sum to 1 (responsibilities), their mean sums to ${total.toFixed(6)}`);
  return { effectiveBases: effectiveNumber(share), share };
}

/** exp(−Σ p ln p) of a probability vector (0·ln 0 = 0). */
export function effectiveNumber(probabilities: readonly number[]): number {
  let entropy = 0;
  for (const p of probabilities) if (p > 0) entropy -= p * Math.log(p);
  return Math.exp(entropy);
}
