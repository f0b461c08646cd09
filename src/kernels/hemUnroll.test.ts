import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { unrollHem, type HemOptions } from '../em/unroll.js';
import { HEM_UNROLL_KERNEL, setFusedHem } from '../backends/native/hemUnroll.js';
import { withWasmFusedMultiplyAdd } from './fusedMultiplyAdd.js';
import { assertClose, assertNoLeak } from '../../test/helpers.js';

// The op suite (src/backends/native/native.test.ts) checks small odd shapes on wasm, where the
// products fall back to JS loops; these cover the shapes that take the SIMD block kernels.

interface Shapes {
  batch: number;
  pixels: number;
  channels: number;
  bases: number;
  batchedMu0?: boolean;
}

/** μ, γ, X̃ and the gradients of Σ(μ⊙r₁) + Σ(γ⊙r₂) + Σ(X̃⊙r₃) to x and μ⁽⁰⁾, as arrays. */
function unrollAndGradients(shapes: Shapes, options: HemOptions): number[][] {
  return tf.tidy(() => {
    const { batch, pixels, channels, bases } = shapes;
    const x = tf.randomNormal([batch, pixels, channels], 0, 1, 'float32', 31) as tf.Tensor3D;
    const mu0 = tf.randomNormal(shapes.batchedMu0 === true ? [batch, bases, channels] : [bases, channels], 0, 0.5, 'float32', 32);
    const weights = [[batch, bases, channels], [batch, pixels, bases], [batch, pixels, channels]].map((shape, i) => tf.randomNormal(shape, 0, 1, 'float32', 33 + i));
    const objective = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => {
      const r = unrollHem(a as tf.Tensor3D, b as tf.Tensor3D, options);
      return tf.addN([r.mu, r.gamma, r.reconstruction].map((t, i) => tf.sum(tf.mul(t, weights[i] as tf.Tensor)))) as tf.Scalar;
    };
    const r = unrollHem(x, mu0 as tf.Tensor3D, options);
    const grads = tf.grads(objective)([x, mu0]);
    return [r.mu, r.gamma, r.reconstruction, ...grads].map((t) => Array.from(t.dataSync()));
  });
}

const LABELS = ['μ', 'γ', 'X̃', 'dx', 'dμ⁽⁰⁾'];

/** The fused wasm kernels against the tfjs composition on cpu. */
async function compareWithCpu(shapes: Shapes, options: HemOptions, fma: boolean): Promise<void> {
  await setBackend('cpu');
  const expected = unrollAndGradients(shapes, options);
  await setBackend('wasm');
  assert.notEqual(tf.getKernel(HEM_UNROLL_KERNEL, 'wasm'), undefined, 'the fused kernel is registered on wasm');
  const actual = withWasmFusedMultiplyAdd(fma, () => unrollAndGradients(shapes, options));
  actual.forEach((values, i) => assertClose(values, expected[i] as number[], 1e-5, 1e-4, `${LABELS[i]} (fma ${fma})`));
}

describe('the fused HEM unroll on wasm (hemUnroll.ts)', () => {
  it('equals cpu at the default head size (B 2, N 64, C 64, K 16, T 3), with and without fused multiply-add', async () => {
    for (const fma of [true, false]) await compareWithCpu({ batch: 2, pixels: 64, channels: 64, bases: 16 }, { stepSize: 0.5, iterations: 3 }, fma);
  });

  it('equals cpu with batched μ⁽⁰⁾, η 1 and normalised bases (the EMANet step, with gradients)', async () => {
    await compareWithCpu({ batch: 3, pixels: 36, channels: 32, bases: 8, batchedMu0: true }, { stepSize: 1, normalizeBases: true, temperature: 1 }, true);
  });

  it('equals cpu with the rbf kernel', async () => {
    await compareWithCpu({ batch: 2, pixels: 20, channels: 16, bases: 12 }, { kernel: 'rbf', stepSize: 0.6, temperature: 3, iterations: 2 }, true);
  });

  it('equals cpu where the transposed operands are large enough to be transposed on the heap first (N·K > 2¹⁶)', async () => {
    await compareWithCpu({ batch: 1, pixels: 1100, channels: 8, bases: 64 }, { stepSize: 0.5, iterations: 2 }, true);
  });

  it('equals the composition on wasm itself in a HemHead-sized call, and leaks nothing', async () => {
    await setBackend('wasm');
    const shapes = { batch: 2, pixels: 64, channels: 64, bases: 16 };
    setFusedHem(false);
    let composed: number[][];
    try {
      composed = unrollAndGradients(shapes, {});
    } finally {
      setFusedHem(true);
    }
    const fused = unrollAndGradients(shapes, {});
    fused.forEach((values, i) => assertClose(values, composed[i] as number[], 1e-5, 1e-4, LABELS[i]));
    assertNoLeak(() => unrollAndGradients(shapes, {}), 'fused unroll and gradients');
  });

  it('refuses inputs that do not fit, naming the kernel', async () => {
    await setBackend('wasm');
    const x = tf.zeros([2, 4, 8]);
    const mu0 = tf.zeros([3, 6]);
    const fitting = tf.zeros([3, 8]);
    try {
      const attrs = { stepSize: 0.5, iterations: 2, temperature: 1, kernel: 'dot', normalizeBases: false } as unknown as tf.NamedAttrMap;
      assert.throws(() => tf.engine().runKernel(HEM_UNROLL_KERNEL, { x, mu0 }, attrs), /wasm HemnetHemUnroll: mu0 \[3, 6\] does not match x \[2, 4, 8\]/);
      assert.throws(() => tf.engine().runKernel(HEM_UNROLL_KERNEL, { x, mu0: fitting }, { ...attrs, iterations: 0 }), /iterations 0/);
    } finally {
      tf.dispose([x, mu0, fitting]);
    }
  });
});
