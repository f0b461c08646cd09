/**
 * How many of the K Gaussian bases an EM attention head actually uses.
 *
 * With p_k = (1 / (B·N)) Σ_b Σ_n γ_{bnk} the mean responsibility of basis k
 * (Σ_k p_k = 1 because every row of γ sums to 1, Eq. 7/8), the effective
 * number of bases is exp(H(p)) = exp(−Σ_k p_k ln p_k): K when every basis takes
 * the same share, 1 when one basis takes everything (collapse). It is the
 * perplexity of the bases' usage, a standard "effective number" (Hill number
 * of order 1).
 *
 * The mean usage cannot tell uniform responsibilities (every pixel spread over
 * all K bases) from sharp ones that are evenly spread (every pixel on one
 * basis, each basis on 1/K of the pixels): both give K. The per-pixel number
 * exp((1 / (B·N)) Σ_{b,n} H(γ_{bn·})) separates them: K for uniform rows, 1
 * for one-hot rows, whatever the mean usage.
 */
import * as tf from '@tensorflow/tfjs';

export interface BasesUsage {
  /** exp of the entropy of the mean responsibility per basis, in [1, K]. */
  effectiveBases: number;
  /** Mean responsibility per basis p_k, length K, summing to 1. */
  share: number[];
  /** exp of the mean per-pixel entropy of γ, in [1, K]: 1 when every pixel is assigned to one basis. */
  pixelBases: number;
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
  const [mean, pixelEntropy] = tf.tidy((): [tf.Tensor1D, tf.Scalar] => {
    const rows = tf.reshape(gamma, [-1, k]);
    // Σ_k γ ln γ with 0·ln 0 = 0 (γ clamped away from 0 inside the log only).
    const entropy = tf.neg(tf.sum(tf.mul(rows, tf.log(tf.maximum(rows, 1e-30))), 1));
    return [tf.mean(rows, 0), tf.mean(entropy)];
  });
  const share = Array.from(mean.dataSync());
  const meanPixelEntropy = pixelEntropy.dataSync()[0] as number;
  tf.dispose([mean, pixelEntropy]);
  if (share.some((v) => !Number.isFinite(v) || v < 0)) throw new Error(`${fn}: 'gamma' must hold finite responsibilities ≥ 0`);
  const total = share.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-3) throw new Error(`${fn}: the rows of 'gamma' must sum to 1 (responsibilities), their mean sums to ${total.toFixed(6)}`);
  return { effectiveBases: effectiveNumber(share), share, pixelBases: Math.exp(meanPixelEntropy) };
}

/** exp(−Σ p ln p) of a probability vector (0·ln 0 = 0). */
export function effectiveNumber(probabilities: readonly number[]): number {
  let entropy = 0;
  for (const p of probabilities) if (p > 0) entropy -= p * Math.log(p);
  return Math.exp(entropy);
}

/** Bases whose cosine similarity is at least this are counted as one by `distinctBases`. */
export const DISTINCT_BASES_COSINE = 0.999;

/**
 * The number of distinct bases among the rows of μ `[K, C]`: rows are merged
 * greedily (in order) into the first earlier representative whose cosine
 * similarity with them is ≥ `cosine`. Collapse in the literal sense: with the
 * dot kernel, identical μ_k get identical responsibilities (Eq. 7), so they
 * stay identical through every N-step (Eq. 13) and through μ⁽⁰⁾'s moving
 * average — an absorbing state that the mean-usage number (K identical bases
 * sharing a region count as K) does not show. A zero row counts as its own base.
 */
export function distinctBases(mu: tf.Tensor2D, cosine = DISTINCT_BASES_COSINE): number {
  const fn = 'distinctBases';
  if (mu.rank !== 2 || mu.shape.some((d) => d === 0)) throw new Error(`${fn}: 'mu' must be a non-empty [K, C] matrix, received [${mu.shape.join(', ')}]`);
  if (!(cosine > -1 && cosine <= 1)) throw new Error(`${fn}: 'cosine' must be in (−1, 1], received ${cosine}`);
  const [k, c] = mu.shape;
  const values = mu.dataSync();
  if (values.some((v) => !Number.isFinite(v))) throw new Error(`${fn}: 'mu' must be finite`);
  const norms = Array.from({ length: k }, (_, i) => Math.hypot(...values.subarray(i * c, (i + 1) * c)));
  const representatives: number[] = [];
  for (let i = 0; i < k; i++) {
    const same = representatives.some((j) => {
      const ni = norms[i] as number;
      const nj = norms[j] as number;
      if (ni === 0 || nj === 0) return ni === 0 && nj === 0;
      let dot = 0;
      for (let d = 0; d < c; d++) dot += (values[i * c + d] as number) * (values[j * c + d] as number);
      return dot / (ni * nj) >= cosine;
    });
    if (!same) representatives.push(i);
  }
  return representatives.length;
}
