/**
 * `hemnet elbo`: unrolled HEM on built-in data (MNIST test digits as points,
 * C = 784), printing the ELBO (Eq. 3) after each iteration for several step
 * sizes η — the forward-pass trade-off of the paper's Fig. 3a.
 */
import * as tf from '@tensorflow/tfjs';
import { loadMnist, MNIST_PIXELS } from '../data/mnist.js';
import { unrollHem, disposeHemResult } from '../em/unroll.js';
import type { Kernel } from '../em/validate.js';

export interface ElboDemoOptions {
  /** Number of digits (points) per batch item; μ⁽⁰⁾ starts on K further digits plus noise. */
  points: number;
  /** Batch items. */
  batch: number;
  /** K bases. */
  bases: number;
  /** T iterations. */
  iterations: number;
  stepSizes: number[];
  kernel: Kernel;
  /** σ²; undefined = √C. */
  temperature?: number;
  seed: number;
}

export interface ElboDemoResult {
  /** elbo[i][t]: mean over the batch of L(μ⁽ᵗ⁾, γ⁽ᵗ⁾) for stepSizes[i]; t = 0 is L(μ⁽⁰⁾, γ⁽¹⁾). */
  elbo: number[][];
  stepSizes: number[];
}

export function runElboDemo(options: ElboDemoOptions): ElboDemoResult {
  const count = options.points * options.batch;
  const digits = loadMnist('test', count + options.bases);
  const elbo = tf.tidy(() => {
    const x = tf.tensor3d(digits.images.subarray(0, count * MNIST_PIXELS), [options.batch, options.points, MNIST_PIXELS]);
    // μ⁽⁰⁾: K other digits, picked by seed, so the bases start on the data.
    const pool = tf.tensor2d(digits.images.subarray(count * MNIST_PIXELS), [options.bases, MNIST_PIXELS]);
    const noise = tf.randomNormal([options.bases, MNIST_PIXELS], 0, 0.05, 'float32', options.seed);
    const mu0 = tf.add(pool, noise) as tf.Tensor2D;
    return options.stepSizes.map((stepSize) => {
      const result = unrollHem(x, mu0, { stepSize, iterations: options.iterations, kernel: options.kernel, temperature: options.temperature ?? Math.sqrt(MNIST_PIXELS), trace: true });
      const trace = result.trace ?? [];
      const curve = [tf.mean(trace[0]!.elboBefore).dataSync()[0]!, ...trace.map((s) => tf.mean(s.elboAfter).dataSync()[0]!)];
      disposeHemResult(result);
      return curve;
    });
  });
  return { elbo, stepSizes: options.stepSizes };
}

export function formatElboTable(result: ElboDemoResult): string {
  const iterations = (result.elbo[0]?.length ?? 1) - 1;
  const header = ['η', ...Array.from({ length: iterations + 1 }, (_, t) => `t=${t}`)];
  const rows = result.elbo.map((curve, i) => [String(result.stepSizes[i]), ...curve.map((v) => v.toFixed(1))]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padStart(widths[c] ?? 0)).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
