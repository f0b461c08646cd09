/**
 * The steps of one highway-EM iteration (HEMNet, Sec. 3-4), as pure tensor
 * functions. Shapes: x `[B, N, C]`, mu `[B, K, C]`, gamma `[B, N, K]`.
 * All products go through `batchMatMul`, which keeps wasm on its fast path.
 */
import * as tf from '@tensorflow/tfjs';
import { batchMatMul } from '../ops/batchMatMul.js';
import {
  checkBases,
  checkFeatures,
  checkKernel,
  checkResponsibilities,
  checkStepSize,
  checkTemperature,
  type Kernel,
} from './validate.js';

/** Denominator guard of the N-step normalisation, as in EMANet: gamma / (1e-6 + N_k). */
export const NK_EPSILON = 1e-6;
/** Guard of the L2 normalisation of the bases (EMANet's `_l2norm`). */
export const NORM_EPSILON = 1e-6;

export interface EStepOptions {
  /** σ² of Eq. 7/8; default √C. */
  temperature?: number;
  /** `'dot'`: logits x·μᵀ (Eq. 8, default); `'rbf'`: logits −‖x − μ‖² (Eq. 7). */
  kernel?: Kernel;
}

export interface NStepOptions {
  /** η of Eq. 13, in (0, 1]; η = 1 is the plain M-step (Eq. 5/9). */
  stepSize: number;
  /** L2-normalise each basis over C after the step (EMANet). Default false. */
  normalizeBases?: boolean;
}

/** Default temperature σ² = √C (Sec. 5.1, following the Transformer). */
export function defaultTemperature(channels: number): number {
  return Math.sqrt(channels);
}

/**
 * Broadcasts bases `[K, C]` to `[B, K, C]`; passes `[B, K, C]` through.
 * As ones `[B, 1, 1]` · μ (exact: a product by 1), not `tf.broadcastTo`:
 * wasm runs that as its generic `Tile` kernel, ≈ 0.4 ms for [8, 16, 64]
 * against ≈ 0.01 ms for the broadcasting multiply.
 */
export function broadcastBases(mu: tf.Tensor2D | tf.Tensor3D, batch: number): tf.Tensor3D {
  if (mu.rank === 3) return mu as tf.Tensor3D;
  return tf.tidy(() => tf.mul(tf.ones([batch, 1, 1]), tf.expandDims(mu, 0)) as tf.Tensor3D);
}

/** Unvalidated E-step (used inside the unrolled loop). */
export function estepUnchecked(x: tf.Tensor3D, mu: tf.Tensor3D, temperature: number, kernel: Kernel): tf.Tensor3D {
  return tf.tidy(() => {
    const dot = batchMatMul(x, mu, { transposeB: true }); // [B, N, K] = x·μᵀ
    let logits: tf.Tensor3D;
    if (kernel === 'dot') {
      logits = dot;
    } else {
      // −‖x_n − μ_k‖² = 2 x_n·μ_k − ‖μ_k‖² − ‖x_n‖²; the last term is the same
      // for every k, so the softmax over k does not see it (Eq. 7).
      const basisNorms = tf.expandDims(tf.sum(tf.square(mu), 2), 1); // [B, 1, K]
      logits = tf.sub(tf.mul(dot, 2), basisNorms);
    }
    return tf.softmax(tf.div(logits, temperature)) as tf.Tensor3D;
  });
}

/** Unvalidated N-step. */
export function nstepUnchecked(
  x: tf.Tensor3D,
  mu: tf.Tensor3D,
  gamma: tf.Tensor3D,
  stepSize: number,
  normalizeBases: boolean,
): tf.Tensor3D {
  return tf.tidy(() => {
    const nk = tf.sum(gamma, 1, true); // N_k = Σ_n γ_nk, [B, 1, K]
    const normalized = tf.div(gamma, tf.add(nk, NK_EPSILON)) as tf.Tensor3D; // γ̄ of Eq. 9
    const emUpdate = batchMatMul(normalized, x, { transposeA: true }); // F^EM = γ̄ᵀ·X, [B, K, C]
    // Eq. 13: μ⁽ᵗ⁺¹⁾ = (1 − η)·μ⁽ᵗ⁾ + η·F^EM(μ⁽ᵗ⁾, X). η = 1 skips the highway term exactly.
    let next: tf.Tensor = stepSize === 1 ? emUpdate : tf.add(tf.mul(mu, 1 - stepSize), tf.mul(emUpdate, stepSize));
    if (normalizeBases) {
      next = tf.div(next, tf.add(tf.norm(next, 'euclidean', 2, true), NORM_EPSILON));
    }
    return next as tf.Tensor3D;
  });
}

/** Unvalidated R-step. */
export function rstepUnchecked(gamma: tf.Tensor3D, mu: tf.Tensor3D): tf.Tensor3D {
  return batchMatMul(gamma, mu); // Eq. 10: X̃ = γ·μ, [B, N, C]
}

/** Unvalidated ELBO. */
export function elboUnchecked(x: tf.Tensor3D, mu: tf.Tensor3D, gamma: tf.Tensor3D, temperature: number): tf.Tensor1D {
  return tf.tidy(() => {
    // Σ_k γ_nk‖x_n − μ_k‖² = ‖x_n‖²·Σ_kγ_nk − 2 Σ_k γ_nk x_n·μ_k + Σ_k γ_nk‖μ_k‖²
    const dot = batchMatMul(x, mu, { transposeB: true }); // [B, N, K]
    const featureNorms = tf.expandDims(tf.sum(tf.square(x), 2), 2); // [B, N, 1]
    const basisNorms = tf.expandDims(tf.sum(tf.square(mu), 2), 1); // [B, 1, K]
    const squaredDistance = tf.add(tf.sub(featureNorms, tf.mul(dot, 2)), basisNorms);
    const expectedLogLikelihood = tf.div(tf.mul(gamma, squaredDistance), -temperature);
    // Entropy term −γ ln γ, with 0·ln 0 = 0.
    const entropy = tf.neg(tf.mul(gamma, tf.log(tf.maximum(gamma, 1e-30))));
    return tf.sum(tf.add(expectedLogLikelihood, entropy), [1, 2]) as tf.Tensor1D;
  });
}

/**
 * E-step (Eq. 7/8): responsibilities γ = softmax_k(logits / σ²).
 * @param x features `[B, N, C]`
 * @param mu bases `[B, K, C]` or `[K, C]`
 * @returns gamma `[B, N, K]`
 */
export function estep(x: tf.Tensor3D, mu: tf.Tensor2D | tf.Tensor3D, options: EStepOptions = {}): tf.Tensor3D {
  checkFeatures('estep', x);
  checkBases('estep', 'mu', mu, x);
  const temperature = options.temperature ?? defaultTemperature(x.shape[2]);
  checkTemperature('estep', temperature);
  const kernel = options.kernel ?? 'dot';
  checkKernel('estep', kernel);
  return tf.tidy(() => estepUnchecked(x, broadcastBases(mu, x.shape[0]), temperature, kernel));
}

/**
 * N-step (Eq. 13): N_k = Σ_n γ_nk; F = (γ / (1e-6 + N_k))ᵀ·x;
 * μ ← (1 − η)·μ + η·F, then optionally L2-normalised over C.
 * @param x features `[B, N, C]`
 * @param mu bases `[B, K, C]` or `[K, C]`
 * @param gamma responsibilities `[B, N, K]`
 * @returns new bases `[B, K, C]`
 */
export function nstep(
  x: tf.Tensor3D,
  mu: tf.Tensor2D | tf.Tensor3D,
  gamma: tf.Tensor3D,
  options: NStepOptions,
): tf.Tensor3D {
  checkFeatures('nstep', x);
  checkBases('nstep', 'mu', mu, x);
  checkResponsibilities('nstep', gamma, x, mu.shape[mu.rank - 2] as number);
  checkStepSize('nstep', options.stepSize);
  return tf.tidy(() =>
    nstepUnchecked(x, broadcastBases(mu, x.shape[0]), gamma, options.stepSize, options.normalizeBases ?? false),
  );
}

/**
 * R-step (Eq. 10): reconstruction X̃ = γ·μ. Pair the final μ with the γ of the
 * last E-step (computed from the previous μ).
 * @param gamma `[B, N, K]`
 * @param mu `[B, K, C]` or `[K, C]`
 * @returns `[B, N, C]`
 */
export function rstep(gamma: tf.Tensor3D, mu: tf.Tensor2D | tf.Tensor3D): tf.Tensor3D {
  checkFeatures('rstep', gamma);
  if (!(mu instanceof tf.Tensor) || (mu.rank !== 2 && mu.rank !== 3)) {
    throw new Error(`rstep: 'mu' must be rank 2 or 3 [B, K, C] or [K, C], received ${mu instanceof tf.Tensor ? `shape [${mu.shape.join(', ')}]` : typeof mu}`);
  }
  const numBases = mu.shape[mu.rank - 2];
  if (numBases !== gamma.shape[2] || (mu.rank === 3 && mu.shape[0] !== gamma.shape[0])) {
    throw new Error(
      `rstep: 'mu' must be [${gamma.shape[0]}, ${gamma.shape[2]}, C] or [${gamma.shape[2]}, C] to match 'gamma' [${gamma.shape.join(', ')}], received [${mu.shape.join(', ')}]`,
    );
  }
  return tf.tidy(() => rstepUnchecked(gamma, broadcastBases(mu, gamma.shape[0])));
}

/**
 * ELBO of Eq. 3 per batch item, with the Gaussian log-likelihood scaled by the
 * temperature: Σ_n Σ_k γ·(−‖x_n − μ_k‖² / σ²) − γ·ln γ.
 * @returns `[B]`
 */
export function elbo(
  x: tf.Tensor3D,
  mu: tf.Tensor2D | tf.Tensor3D,
  gamma: tf.Tensor3D,
  options: { temperature?: number } = {},
): tf.Tensor1D {
  checkFeatures('elbo', x);
  checkBases('elbo', 'mu', mu, x);
  checkResponsibilities('elbo', gamma, x, mu.shape[mu.rank - 2] as number);
  const temperature = options.temperature ?? defaultTemperature(x.shape[2]);
  checkTemperature('elbo', temperature);
  return tf.tidy(() => elboUnchecked(x, broadcastBases(mu, x.shape[0]), gamma, temperature));
}
