import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { broadcastBases, elbo, estep, nstep, rstep } from './steps.js';
import { TEST_BACKENDS, assertClose, assertNoLeak, randn, useBackend } from '../../test/helpers.js';

// Hand-computed case: B = 1, N = 3, C = 2, K = 2, σ² = 1.
// x = [[1,0],[0,1],[1,1]], μ = [[1,0],[0,1]] → dot logits are x itself.
const X = [[[1, 0], [0, 1], [1, 1]]];
const MU = [[[1, 0], [0, 1]]];
const E = Math.E;
const A = E / (1 + E); // softmax([1, 0])[0]
const B = 1 / (1 + E);
const GAMMA = [A, B, B, A, 0.5, 0.5];
// N_k = a + b + 0.5 = 1.5 for both bases.
const NK = 1.5 + 1e-6;
const F1 = [(A + 0.5) / NK, (B + 0.5) / NK]; // (γ_11 x_1 + γ_21 x_2 + γ_31 x_3) / N_1
const F2 = [(B + 0.5) / NK, (A + 0.5) / NK];
const ETA = 0.5;
const MU1 = [ETA * 1 + ETA * F1[0]!, ETA * F1[1]!, ETA * F2[0]!, ETA * 1 + ETA * F2[1]!]; // Eq. 13

for (const backend of TEST_BACKENDS) {
  describe(`EM steps on ${backend}`, () => {
    it('E-step: dot kernel gives softmax(x·μᵀ/σ²) on the hand-computed case', async () => {
      await useBackend(backend);
      tf.tidy(() => {
        assertClose(estep(tf.tensor3d(X), tf.tensor3d(MU), { temperature: 1 }), GAMMA, 1e-6);
        // σ² = 2 halves the logits.
        const half = 1 / (1 + Math.exp(-0.5));
        assertClose(estep(tf.tensor3d(X), tf.tensor2d(MU[0]!), { temperature: 2 }), [half, 1 - half, 1 - half, half, 0.5, 0.5], 1e-6);
      });
    });

    it('E-step: rbf kernel gives softmax(−‖x−μ‖²/σ²)', async () => {
      await useBackend(backend);
      tf.tidy(() => {
        // ‖x1−μ1‖² = 0, ‖x1−μ2‖² = 2 → softmax([0, −2]); x3 is equidistant.
        const near = 1 / (1 + Math.exp(-2));
        assertClose(estep(tf.tensor3d(X), tf.tensor3d(MU), { temperature: 1, kernel: 'rbf' }), [near, 1 - near, 1 - near, near, 0.5, 0.5], 1e-6);
      });
    });

    it('N-step: μ ← (1 − η)μ + η·γ̄ᵀx (Eq. 13) on the hand-computed case', async () => {
      await useBackend(backend);
      tf.tidy(() => {
        const gamma = tf.tensor3d([[[A, B], [B, A], [0.5, 0.5]]]);
        assertClose(nstep(tf.tensor3d(X), tf.tensor3d(MU), gamma, { stepSize: ETA }), MU1, 1e-6);
        // η = 1 is the M-step of Eq. 5: μ = F.
        assertClose(nstep(tf.tensor3d(X), tf.tensor3d(MU), gamma, { stepSize: 1 }), [...F1, ...F2], 1e-6);
        // normalizeBases: unit norm over C.
        const normalized = nstep(tf.tensor3d(X), tf.tensor3d(MU), gamma, { stepSize: ETA, normalizeBases: true });
        assertClose(tf.norm(normalized, 'euclidean', 2), [1, 1], 1e-5);
      });
    });

    it('R-step: X̃ = γ·μ', async () => {
      await useBackend(backend);
      tf.tidy(() => {
        const gamma = tf.tensor3d([[[A, B], [B, A], [0.5, 0.5]]]);
        const mu1 = tf.tensor3d(MU1, [1, 2, 2]);
        const expected = [
          A * MU1[0]! + B * MU1[2]!, A * MU1[1]! + B * MU1[3]!,
          B * MU1[0]! + A * MU1[2]!, B * MU1[1]! + A * MU1[3]!,
          0.5 * (MU1[0]! + MU1[2]!), 0.5 * (MU1[1]! + MU1[3]!),
        ];
        assertClose(rstep(gamma, mu1), expected, 1e-6);
      });
    });

    it('ELBO: Σ γ(−‖x−μ‖²/σ²) − γ ln γ (Eq. 3), and the N-step raises it', async () => {
      await useBackend(backend);
      tf.tidy(() => {
        const gamma = tf.tensor3d([[[A, B], [B, A], [0.5, 0.5]]]);
        const entropy = -2 * (A * Math.log(A) + B * Math.log(B)) - 2 * 0.5 * Math.log(0.5);
        // Distances from μ⁽⁰⁾: x1→(0, 2), x2→(2, 0), x3→(1, 1).
        const expected0 = -(B * 2 + B * 2 + 0.5 + 0.5) + entropy;
        assertClose(elbo(tf.tensor3d(X), tf.tensor3d(MU), gamma, { temperature: 1 }), [expected0], 1e-5);
        const m = MU1;
        const sq = (p: number[], q: number[]) => (p[0]! - q[0]!) ** 2 + (p[1]! - q[1]!) ** 2;
        const mu1a = [m[0]!, m[1]!];
        const mu1b = [m[2]!, m[3]!];
        const expected1 =
          -(A * sq([1, 0], mu1a) + B * sq([1, 0], mu1b) + B * sq([0, 1], mu1a) + A * sq([0, 1], mu1b) + 0.5 * sq([1, 1], mu1a) + 0.5 * sq([1, 1], mu1b)) +
          entropy;
        const after = elbo(tf.tensor3d(X), tf.tensor3d(MU1, [1, 2, 2]), gamma, { temperature: 1 });
        assertClose(after, [expected1], 1e-5);
        assert.ok(expected1 > expected0);
        // 0·ln 0 counts as 0, not NaN.
        const oneHot = tf.tensor3d([[[1, 0], [0, 1], [1, 0]]]);
        assert.ok(Number.isFinite(elbo(tf.tensor3d(X), tf.tensor3d(MU), oneHot).dataSync()[0]!));
      });
    });

    it('broadcastBases: [K, C] copied to every batch item exactly, and its gradient sums over the batch', async () => {
      await useBackend(backend);
      tf.tidy(() => {
        const mu = randn([3, 4], 5) as tf.Tensor2D;
        const values = Array.from(mu.dataSync());
        const broadcast = broadcastBases(mu, 2);
        assert.deepEqual(broadcast.shape, [2, 3, 4]);
        assert.deepEqual(Array.from(broadcast.dataSync()), [...values, ...values]);
        assert.equal(broadcastBases(broadcast, 2), broadcast, 'a [B, K, C] tensor passes through');
        // d/dμ Σ_b w_b·μ_b = Σ_b w_b.
        const weights = randn([2, 3, 4], 6);
        const grad = tf.grad((m: tf.Tensor) => tf.sum(tf.mul(broadcastBases(m as tf.Tensor2D, 2), weights)))(mu);
        assertClose(grad, Array.from(tf.sum(weights, 0).dataSync()), 1e-6);
      });
    });

    it('leaks no tensors', async () => {
      await useBackend(backend);
      const x = randn([2, 6, 4], 1) as tf.Tensor3D;
      const mu = randn([3, 4], 2) as tf.Tensor2D;
      const gamma = estep(x, mu);
      assertNoLeak(() => estep(x, mu, { kernel: 'rbf' }), 'estep');
      assertNoLeak(() => nstep(x, mu, gamma, { stepSize: 0.3, normalizeBases: true }), 'nstep');
      assertNoLeak(() => rstep(gamma, mu), 'rstep');
      assertNoLeak(() => elbo(x, mu, gamma), 'elbo');
      tf.dispose([x, mu, gamma]);
    });
  });
}

describe('EM step input validation', () => {
  it('names the function, argument, expectation and received value', async () => {
    await useBackend('cpu');
    const x = tf.zeros([1, 3, 2]) as tf.Tensor3D;
    const mu = tf.zeros([2, 2]) as tf.Tensor2D;
    const gamma = tf.zeros([1, 3, 2]) as tf.Tensor3D;
    assert.throws(() => estep(tf.zeros([3, 2]) as unknown as tf.Tensor3D, mu), /estep: 'x' must be rank 3 \[B, N, C\], received shape \[3, 2\]/);
    assert.throws(() => estep(x, tf.zeros([2, 5]) as tf.Tensor2D), /estep: 'mu' must have C = 2 channels like 'x' \[1, 3, 2\], received shape \[2, 5\]/);
    assert.throws(() => estep(x, mu, { temperature: 0 }), /estep: 'temperature' must be a finite number > 0, received 0/);
    assert.throws(() => estep(x, mu, { kernel: 'cosine' as 'dot' }), /estep: 'kernel' must be one of 'dot', 'rbf', received 'cosine'/);
    assert.throws(() => nstep(x, mu, gamma, { stepSize: 0 }), /nstep: 'stepSize' must be in \(0, 1\], received 0/);
    assert.throws(() => nstep(x, mu, tf.zeros([1, 3, 4]) as tf.Tensor3D, { stepSize: 1 }), /nstep: 'gamma' must have shape \[1, 3, 2\] to match 'x' and 'mu', received \[1, 3, 4\]/);
    assert.throws(() => rstep(gamma, tf.zeros([3, 2]) as tf.Tensor2D), /rstep: 'mu' must be \[1, 2, C\] or \[2, C\] to match 'gamma' \[1, 3, 2\], received \[3, 2\]/);
    assert.throws(() => elbo(x, tf.zeros([2, 2, 2]) as tf.Tensor3D, gamma), /elbo: 'mu' batch size must match 'x' \(B = 1\), received shape \[2, 2, 2\]/);
    tf.dispose([x, mu, gamma]);
  });
});
