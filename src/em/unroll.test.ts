import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { disposeHemResult, gradientFlow, unrollHem, type HemResult } from './unroll.js';
import { NK_EPSILON } from './steps.js';
import { TEST_BACKENDS, assertClose, assertNoLeak, randn, useBackend } from '../../test/helpers.js';

/** Plain EM written out with stock tfjs ops, independent of the library (Eq. 8, 9, 10). */
function plainEm(x: tf.Tensor3D, mu0: tf.Tensor3D, iterations: number, temperature: number): { mu: tf.Tensor; gamma: tf.Tensor; reconstruction: tf.Tensor } {
  return tf.tidy(() => {
    let mu: tf.Tensor = mu0;
    let gamma: tf.Tensor = tf.zeros([1]);
    for (let t = 0; t < iterations; t++) {
      gamma = tf.softmax(tf.div(tf.matMul(x, mu, false, true), temperature));
      const weights = tf.div(gamma, tf.add(tf.sum(gamma, 1, true), 1e-6));
      mu = tf.matMul(weights, x, true, false);
    }
    return { mu, gamma, reconstruction: tf.matMul(gamma, mu) };
  });
}

/** ELBO in float64 from raw arrays (Eq. 3 with σ²-scaled log-likelihood). */
function elbo64(x: Float32Array, mu: Float32Array, gamma: Float32Array, n: number, k: number, c: number, temperature: number, item: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const g = gamma[item * n * k + i * k + j]!;
      let d = 0;
      for (let ch = 0; ch < c; ch++) {
        const diff = x[item * n * c + i * c + ch]! - mu[item * k * c + j * c + ch]!;
        d += diff * diff;
      }
      total += g * (-d / temperature) - (g > 0 ? g * Math.log(g) : 0);
    }
  }
  return total;
}

const FAST_BACKEND = 'wasm';

describe('unrollHem', () => {
  it('η = 1 reproduces plain EM to 1e-5', async () => {
    await useBackend(FAST_BACKEND);
    tf.tidy(() => {
      for (const seed of [1, 2, 3]) {
        const x = randn([2, 40, 8], seed) as tf.Tensor3D;
        const mu0 = randn([2, 5, 8], seed + 100) as tf.Tensor3D;
        const ours = unrollHem(x, mu0, { stepSize: 1, iterations: 4, temperature: 1.5 });
        const reference = plainEm(x, mu0, 4, 1.5);
        assertClose(ours.mu, reference.mu, 1e-5, 0, 'mu');
        assertClose(ours.gamma, reference.gamma, 1e-5, 0, 'gamma');
        assertClose(ours.reconstruction, reference.reconstruction, 1e-5, 0, 'reconstruction');
      }
    });
  });

  it('Proposition 1: every N-step raises the ELBO for the fixed γ (many seeds, several η)', async () => {
    await useBackend(FAST_BACKEND);
    let strictRaises = 0;
    let steps = 0;
    for (let seed = 0; seed < 12; seed++) {
      for (const stepSize of [0.1, 0.3, 0.5, 0.8, 1]) {
        tf.tidy(() => {
          const [n, k, c] = [30, 4, 6];
          const x = randn([2, n, c], seed) as tf.Tensor3D;
          const mu0 = randn([k, c], seed + 50) as tf.Tensor2D;
          const temperature = Math.sqrt(c);
          const result = unrollHem(x, mu0, { stepSize, iterations: 4, trace: true });
          const xData = x.dataSync() as Float32Array;
          let muBefore = (tf.broadcastTo(tf.expandDims(mu0, 0), [2, k, c]).dataSync()) as Float32Array;
          for (const step of result.trace ?? []) {
            const gamma = step.gamma.dataSync() as Float32Array;
            const muAfter = step.mu.dataSync() as Float32Array;
            const libraryBefore = step.elboBefore.dataSync();
            const libraryAfter = step.elboAfter.dataSync();
            for (let item = 0; item < 2; item++) {
              const before = elbo64(xData, muBefore, gamma, n, k, c, temperature, item);
              const after = elbo64(xData, muAfter, gamma, n, k, c, temperature, item);
              // The library's float32 ELBO agrees with the float64 one.
              assert.ok(Math.abs(libraryBefore[item]! - before) < 1e-3 * Math.max(1, Math.abs(before)), `elboBefore ${libraryBefore[item]} vs ${before}`);
              assert.ok(Math.abs(libraryAfter[item]! - after) < 1e-3 * Math.max(1, Math.abs(after)), `elboAfter ${libraryAfter[item]} vs ${after}`);
              assert.ok(after >= before - 1e-6 * Math.abs(before), `seed ${seed} η ${stepSize}: ELBO fell ${before} → ${after}`);
              if (after > before) strictRaises++;
              steps++;
            }
            muBefore = muAfter;
          }
          disposeHemResult(result);
        });
      }
    }
    // Equality only happens when μ no longer moves; on random data nearly every step is strict.
    assert.ok(strictRaises >= steps * 0.9, `${strictRaises} of ${steps} N-steps raised the ELBO strictly`);
  });

  it("with kernel 'rbf' the whole iteration is GEM: the ELBO never falls across iterations", async () => {
    await useBackend(FAST_BACKEND);
    for (let seed = 0; seed < 10; seed++) {
      for (const stepSize of [0.2, 0.5, 1]) {
        tf.tidy(() => {
          const x = randn([2, 50, 5], seed) as tf.Tensor3D;
          const mu0 = randn([6, 5], seed + 7) as tf.Tensor2D;
          const result = unrollHem(x, mu0, { stepSize, iterations: 6, kernel: 'rbf', trace: true });
          const trace = result.trace ?? [];
          assert.equal(trace.length, 6);
          for (let t = 0; t < trace.length; t++) {
            const before = trace[t]!.elboBefore.dataSync();
            const after = trace[t]!.elboAfter.dataSync();
            for (let item = 0; item < 2; item++) {
              const tolerance = 1e-5 * Math.abs(before[item]!);
              assert.ok(after[item]! >= before[item]! - tolerance, `N-step at t=${t + 1}`);
              if (t > 0) {
                // The E-step of iteration t maximises the ELBO over γ for μ⁽ᵗ⁻¹⁾.
                const previous = trace[t - 1]!.elboAfter.dataSync();
                assert.ok(before[item]! >= previous[item]! - tolerance, `E-step at t=${t + 1}: ${previous[item]} → ${before[item]}`);
              }
            }
          }
        });
      }
    }
  });

  it('Eq. 15: with γ stopped, ∂μ⁽ᵀ⁾/∂μ⁽ᵗ⁾ = (1 − η)^(T−t)·I', async () => {
    await useBackend(FAST_BACKEND);
    tf.tidy(() => {
      const x = randn([1, 20, 4], 3) as tf.Tensor3D;
      const muT = randn([1, 3, 4], 4) as tf.Tensor3D;
      const upstream = randn([1, 3, 4], 5);
      for (const stepSize of [0.25, 0.5, 0.9]) {
        for (const remaining of [1, 2, 4]) {
          // μ⁽ᵗ⁾ is the input; T − t iterations follow.
          const gradient = tf.grad((mu: tf.Tensor) =>
            tf.sum(tf.mul(unrollHem(x, mu as tf.Tensor3D, { stepSize, iterations: remaining, stopGammaGradient: true }).mu, upstream)),
          )(muT);
          assertClose(gradient, tf.mul(upstream, (1 - stepSize) ** remaining), 1e-6, 0, `η=${stepSize} T−t=${remaining}`);
        }
      }
    });
  });

  it('matches a finite-difference gradient (float64 central differences on cpu)', async () => {
    await useBackend('cpu');
    tf.tidy(() => {
      const x = randn([1, 5, 3], 8) as tf.Tensor3D;
      const mu0 = randn([2, 3], 9) as tf.Tensor2D;
      const weights = randn([1, 5, 3], 10);
      const loss = (xIn: tf.Tensor, muIn: tf.Tensor) =>
        tf.sum(tf.mul(unrollHem(xIn as tf.Tensor3D, muIn as tf.Tensor2D, { stepSize: 0.6, iterations: 2, temperature: 1 }).reconstruction, weights));
      const [gradX, gradMu] = tf.grads(loss)([x, mu0]);
      const eps = 1e-2;
      for (const [which, tensor, analytic] of [['x', x, gradX!], ['mu0', mu0, gradMu!]] as const) {
        const base = Array.from(tensor.dataSync());
        const numeric = base.map((_, i) => {
          const plus = base.slice();
          const minus = base.slice();
          plus[i]! += eps;
          minus[i]! -= eps;
          const at = (values: number[]) =>
            which === 'x' ? loss(tf.tensor(values, x.shape), mu0).dataSync()[0]! : loss(x, tf.tensor(values, mu0.shape)).dataSync()[0]!;
          return (at(plus) - at(minus)) / (2 * eps);
        });
        assertClose(analytic, numeric, 2e-3, 2e-2, `d loss / d ${which}`);
      }
    });
  });

  it('handles extremes: huge logits without NaN, K = 1, N = 1', async () => {
    await useBackend(FAST_BACKEND);
    tf.tidy(() => {
      const huge = tf.mul(randn([2, 10, 4], 1), 1e4) as tf.Tensor3D;
      const result = unrollHem(huge, randn([3, 4], 2) as tf.Tensor2D, { iterations: 3, trace: true });
      for (const t of [result.mu, result.gamma, result.reconstruction, ...(result.trace ?? []).flatMap((s) => [s.elboBefore, s.elboAfter])]) {
        assert.ok(Array.from(t.dataSync()).every(Number.isFinite), 'non-finite value with huge logits');
      }
      const g = tf.grad((x: tf.Tensor) => tf.sum(unrollHem(x as tf.Tensor3D, randn([3, 4], 2) as tf.Tensor2D).reconstruction))(huge);
      assert.ok(Array.from(g.dataSync()).every(Number.isFinite), 'non-finite gradient with huge logits');

      // K = 1: γ ≡ 1 and with η = 1 the basis is the mean of x.
      const x = randn([2, 7, 3], 3) as tf.Tensor3D;
      const single = unrollHem(x, randn([1, 3], 4) as tf.Tensor2D, { stepSize: 1, iterations: 2 });
      assertClose(single.gamma, tf.onesLike(single.gamma), 1e-6);
      assertClose(single.mu, tf.div(tf.sum(x, 1, true), 7 + NK_EPSILON), 1e-5);

      // N = 1: with η = 1 every basis with γ > 0 moves onto the only point.
      const point = randn([1, 1, 3], 5) as tf.Tensor3D;
      const lonely = unrollHem(point, randn([2, 3], 6) as tf.Tensor2D, { stepSize: 1, iterations: 1 });
      const gamma = lonely.gamma.dataSync();
      const mu = lonely.mu.dataSync();
      const p = point.dataSync();
      for (let k = 0; k < 2; k++) {
        for (let c = 0; c < 3; c++) {
          assert.ok(Math.abs(mu[k * 3 + c]! - (gamma[k]! / (gamma[k]! + NK_EPSILON)) * p[c]!) < 1e-5);
        }
      }
    });
  });

  it('gives the same numbers on cpu and wasm', async () => {
    const outputs: Record<string, number[][]> = {};
    for (const backend of TEST_BACKENDS) {
      await useBackend(backend);
      outputs[backend] = tf.tidy(() => {
        const x = randn([2, 33, 16], 21) as tf.Tensor3D;
        const mu0 = randn([2, 8, 16], 22) as tf.Tensor3D;
        const result = unrollHem(x, mu0, { stepSize: 0.5, iterations: 3, kernel: 'rbf', trace: true });
        const grad = tf.grad((xIn: tf.Tensor) => tf.sum(tf.square(unrollHem(xIn as tf.Tensor3D, mu0).reconstruction)))(x);
        return [result.mu, result.gamma, result.reconstruction, result.trace![2]!.elboAfter, grad].map((t) => Array.from(t.dataSync()));
      });
    }
    const names = ['mu', 'gamma', 'reconstruction', 'elbo', 'grad'];
    outputs['cpu']!.forEach((values, i) => assertClose(outputs['wasm']![i]!, values, 1e-5, 1e-5, names[i]));
  });

  it('detachEm (EMANet) gives no gradient to x or μ⁽⁰⁾; the default does', async () => {
    await useBackend(FAST_BACKEND);
    tf.tidy(() => {
      const x = randn([2, 12, 4], 1) as tf.Tensor3D;
      const mu0 = randn([3, 4], 2) as tf.Tensor2D;
      const loss = (detachEm: boolean) => (xIn: tf.Tensor, muIn: tf.Tensor) =>
        tf.sum(tf.square(unrollHem(xIn as tf.Tensor3D, muIn as tf.Tensor2D, { detachEm, stepSize: 1, normalizeBases: detachEm }).reconstruction));
      const [dxDetached, dmuDetached] = tf.grads(loss(true))([x, mu0]);
      assert.equal(tf.max(tf.abs(dxDetached!)).dataSync()[0], 0);
      assert.equal(tf.max(tf.abs(dmuDetached!)).dataSync()[0], 0);
      const [dx] = tf.grads(loss(false))([x, mu0]);
      assert.ok(tf.max(tf.abs(dx!)).dataSync()[0]! > 1e-3);
      // The forward values do not depend on detaching.
      const a = unrollHem(x, mu0, { detachEm: true, trace: true });
      const b = unrollHem(x, mu0, { trace: true });
      assertClose(a.reconstruction, b.reconstruction, 1e-6);
      assertClose(a.trace![1]!.elboAfter, b.trace![1]!.elboAfter, 1e-4);
    });
  });

  it('leaks no tensors, with and without trace, detached and in gradients', async () => {
    await useBackend(FAST_BACKEND);
    const x = randn([2, 10, 4], 1) as tf.Tensor3D;
    const mu0 = randn([3, 4], 2) as tf.Tensor2D;
    const asList = (r: HemResult) => [r.mu, r.gamma, r.reconstruction, ...(r.trace ?? []).flatMap((s) => [s.gamma, s.mu, s.elboBefore, s.elboAfter])];
    assertNoLeak(() => asList(unrollHem(x, mu0)), 'plain');
    assertNoLeak(() => asList(unrollHem(x, mu0, { trace: true, kernel: 'rbf' })), 'trace');
    assertNoLeak(() => asList(unrollHem(x, mu0, { detachEm: true, trace: true })), 'detached');
    assertNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(unrollHem(a as tf.Tensor3D, b as tf.Tensor2D).reconstruction))([x, mu0]), 'grad');
    assertNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(unrollHem(a as tf.Tensor3D, b as tf.Tensor2D, { detachEm: true }).reconstruction))([x, mu0]), 'grad detached');
    const before = tf.memory().numTensors;
    gradientFlow(x, mu0, (r) => tf.sum(r.reconstruction));
    gradientFlow(x, mu0, (r) => tf.sum(r.reconstruction), { detachEm: true });
    assert.equal(tf.memory().numTensors, before, 'gradientFlow leaked');
    tf.dispose([x, mu0]);
  });

  it('rejects bad input with messages that name the argument and what was received', async () => {
    await useBackend('cpu');
    const x = tf.zeros([2, 5, 3]) as tf.Tensor3D;
    const mu = tf.zeros([4, 3]) as tf.Tensor2D;
    assert.throws(() => unrollHem(tf.zeros([5, 3]) as unknown as tf.Tensor3D, mu), /unrollHem: 'x' must be rank 3 \[B, N, C\], received shape \[5, 3\]/);
    assert.throws(() => unrollHem(x, tf.zeros([4]) as unknown as tf.Tensor2D), /unrollHem: 'mu0' must be rank 2 or 3 \[B, K, C\] or \[K, C\], received shape \[4\]/);
    assert.throws(() => unrollHem(x, tf.zeros([4, 2]) as tf.Tensor2D), /unrollHem: 'mu0' must have C = 3 channels like 'x' \[2, 5, 3\], received shape \[4, 2\]/);
    assert.throws(() => unrollHem(x, tf.zeros([3, 4, 3]) as tf.Tensor3D), /unrollHem: 'mu0' batch size must match 'x' \(B = 2\), received shape \[3, 4, 3\]/);
    assert.throws(() => unrollHem(x, mu, { stepSize: 0 }), /unrollHem: 'stepSize' must be in \(0, 1\], received 0/);
    assert.throws(() => unrollHem(x, mu, { stepSize: 1.5 }), /unrollHem: 'stepSize' must be in \(0, 1\], received 1.5/);
    assert.throws(() => unrollHem(x, mu, { stepSize: -0.1 }), /received -0.1/);
    assert.throws(() => unrollHem(x, mu, { iterations: 0 }), /unrollHem: 'iterations' must be an integer ≥ 1, received 0/);
    assert.throws(() => unrollHem(x, mu, { iterations: 2.5 }), /unrollHem: 'iterations' must be an integer ≥ 1, received 2.5/);
    assert.throws(() => unrollHem(x, mu, { temperature: -1 }), /unrollHem: 'temperature' must be a finite number > 0, received -1/);
    assert.throws(() => unrollHem(x, mu, { temperature: Infinity }), /received Infinity/);
    assert.throws(() => unrollHem(x, mu, { stepsize: 0.5 } as never), /unrollHem: unknown option 'stepsize'/);
    const withNaN = tf.tensor3d([[[1, NaN, 0]]]);
    assert.throws(() => unrollHem(withNaN, mu, { checkFinite: true }), /unrollHem: 'x' must contain only finite values, received NaN at flat index 1/);
    const infBases = tf.fill([4, 3], Infinity) as tf.Tensor2D;
    assert.throws(() => unrollHem(x, infBases, { checkFinite: true }), /unrollHem: 'mu0' must contain only finite values, received Infinity at flat index 0/);
    // Documented default: without checkFinite, NaN propagates instead of throwing.
    const propagated = unrollHem(withNaN, mu);
    assert.ok(Number.isNaN(propagated.reconstruction.dataSync()[0]!));
    disposeHemResult(propagated);
    assert.throws(() => gradientFlow(x, mu, (r) => r.reconstruction as unknown as tf.Scalar), /gradientFlow: 'loss' must return a scalar tensor, received shape \[2, 5, 3\]/);
    tf.dispose([x, mu, withNaN, infBases]);
  });
});

describe('gradientFlow', () => {
  it("matches Eq. 18's N-step prediction exactly when γ's gradient is stopped", async () => {
    await useBackend(FAST_BACKEND);
    tf.tidy(() => {
      const [n, k, c, iterations] = [24, 4, 6, 4];
      const x = randn([2, n, c], 31) as tf.Tensor3D;
      const mu0 = randn([k, c], 32) as tf.Tensor2D;
      const upstream = randn([2, k, c], 33); // ∂E/∂μ⁽ᵀ⁾ for E = Σ upstream ⊙ μ⁽ᵀ⁾
      const growth = new Map<number, number>();
      for (const stepSize of [0.3, 0.7]) {
        const options = { stepSize, iterations, stopGammaGradient: true };
        const report = gradientFlow(x, mu0, (r) => tf.sum(tf.mul(r.mu, upstream)), options);
        const trace = unrollHem(x, mu0, { ...options, trace: true }).trace!;
        // Eq. 18: ∂E/∂x_n via the N-step of layer t = Σ_k (1−η)^(T−t) ∂E/∂μ_k⁽ᵀ⁾ · η γ_nk⁽ᵗ⁾ / N_k⁽ᵗ⁾.
        const predicted = trace.map((step, index) => {
          const t = index + 1;
          const weights = tf.div(step.gamma, tf.add(tf.sum(step.gamma, 1, true), NK_EPSILON)); // γ/N_k
          const scale = stepSize * (1 - stepSize) ** (iterations - t);
          return tf.mean(tf.abs(tf.mul(tf.matMul(weights, upstream), scale))).dataSync()[0]!;
        });
        assertClose(report.nstep, predicted, 1e-7, 1e-4, `η=${stepSize}`);
        assert.deepEqual(report.estep, [0, 0, 0, 0]);
        // Eq. 18: share ∝ η(1 − η)^(T−t), so the shares grow towards the last layer ...
        const shares = report.nstepShare;
        for (let t = 1; t < iterations; t++) assert.ok(shares[t]! > shares[t - 1]!, `η=${stepSize}: share of layer ${t + 1} ${shares[t]} ≤ layer ${t} ${shares[t - 1]}`);
        growth.set(stepSize, shares[iterations - 1]! / shares[0]!);
      }
      // ... by about (1 − η)^−(T−1) from the first to the last: steeper for large η, flatter for small η.
      assert.ok(growth.get(0.7)! > 3 * growth.get(0.3)!, `last/first share: η=0.7 ${growth.get(0.7)}, η=0.3 ${growth.get(0.3)}`);
    });
  });

  it("gives Eq. 18's shares η(1 − η)^(T−t) / Σ exactly when γ cannot change (K = 1)", async () => {
    await useBackend(FAST_BACKEND);
    tf.tidy(() => {
      // With one basis γ ≡ 1 in every iteration, so γ/N_k is the same in every layer and only (1 − η)^(T−t) differs.
      const x = randn([2, 20, 5], 51) as tf.Tensor3D;
      const mu0 = randn([1, 5], 52) as tf.Tensor2D;
      const loss = (r: HemResult): tf.Scalar => tf.sum(tf.square(r.mu));
      // The paper's numbers, by hand: η = 0.5, T = 3 → ∝ 0.125, 0.25, 0.5 → 1/7, 2/7, 4/7.
      const half = gradientFlow(x, mu0, loss, { stepSize: 0.5, iterations: 3, stopGammaGradient: true });
      assertClose(half.nstepShare, [1 / 7, 2 / 7, 4 / 7], 1e-5, 1e-4, 'η=0.5, T=3');
      for (const [stepSize, iterations] of [[0.2, 5], [0.8, 4]] as const) {
        const report = gradientFlow(x, mu0, loss, { stepSize, iterations, stopGammaGradient: true });
        const eq18 = Array.from({ length: iterations }, (_, i) => stepSize * (1 - stepSize) ** (iterations - (i + 1)));
        const total = eq18.reduce((a, b) => a + b, 0);
        assertClose(report.nstepShare, eq18.map((v) => v / total), 1e-5, 1e-4, `η=${stepSize}, T=${iterations}`);
      }
    });
  });

  it('splits the gradient into paths that add up to the total ∂E/∂x', async () => {
    await useBackend(FAST_BACKEND);
    tf.tidy(() => {
      const x = randn([1, 30, 5], 41) as tf.Tensor3D;
      const mu0 = randn([3, 5], 42) as tf.Tensor2D;
      const loss = (r: HemResult): tf.Scalar => tf.sum(tf.square(r.reconstruction));
      const report = gradientFlow(x, mu0, loss, { stepSize: 0.5, iterations: 3 });
      const direct = tf.grad((xIn: tf.Tensor) => loss(unrollHem(xIn as tf.Tensor3D, mu0, { stepSize: 0.5, iterations: 3 })))(x);
      assertClose([report.total], [tf.mean(tf.abs(direct)).dataSync()[0]!], 1e-6, 1e-5, 'total');
      assert.equal(report.nstep.length, 3);
      assert.ok(report.estep.some((v) => v > 0), 'E-step paths carry some gradient without the stop');
    });
  });
});
