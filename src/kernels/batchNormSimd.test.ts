import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { BN_TRAINING_GRAD_KERNEL, BN_TRAINING_KERNEL } from '../backends/native/batchNormTraining.js';
import { simdBatchNorm, simdBatchNormModule } from './batchNormSimd.js';
import { setSimdBatchNormPasses } from './fusedTraining.js';

function lcg(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
}

describe('batch-norm row passes in WebAssembly SIMD (batchNormSimd.ts)', () => {
  for (const shared of [false, true]) {
    it(`assembles a valid module whose passes equal the JavaScript arithmetic bit for bit, on a ${shared ? 'shared' : 'plain'} memory`, () => {
      assert.ok(WebAssembly.validate(simdBatchNormModule(shared)), 'the module validates');
      const memory = shared ? new WebAssembly.Memory({ initial: 4, maximum: 16, shared: true }) : new WebAssembly.Memory({ initial: 4 });
      const simd = simdBatchNorm(memory);
      assert.ok(simd !== null, 'Node 20 runs WebAssembly SIMD');
      const rows = 37;
      const C = 12;
      const size = rows * C;
      const f32 = Math.fround;
      const heap = new Float32Array(memory.buffer);
      // Regions (in floats): x, dy, y, dx | per-channel mean, k, b, a, b2, e, f, h | accumulators (float64).
      const [X, DY, Y, DX] = [0, 1, 2, 3].map((i) => heap.subarray(i * size, (i + 1) * size)) as [Float32Array, Float32Array, Float32Array, Float32Array];
      const channelBase = 4 * size;
      const perChannel = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => heap.subarray(channelBase + i * C, channelBase + (i + 1) * C));
      const [M, K, B, A, B2, E, F, H] = perChannel as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
      const accFloat = channelBase + 8 * C; // a multiple of 2 floats: 8-byte aligned
      const acc = new Float64Array(memory.buffer, 4 * accFloat, 2 * C);
      const rand = lcg(3);
      for (let i = 0; i < size; i++) {
        X[i] = rand() * 3 + 0.5;
        DY[i] = rand() * (i % 11 === 0 ? 1e-6 : 1);
      }
      for (const v of perChannel) for (let j = 0; j < C; j++) v[j] = rand();
      const byte = (view: Float32Array): number => view.byteOffset;
      const n = 4 * size;
      const c = 4 * C;

      acc.fill(0.25); // accumulators are added to
      simd.colSum(byte(X), n, c, 4 * accFloat);
      for (let j = 0; j < C; j++) {
        let sum = 0.25;
        for (let i = j; i < size; i += C) sum += X[i] as number;
        assert.equal(acc[j], sum, `colSum channel ${j}`);
      }
      acc.fill(0);
      simd.colSqDev(byte(X), byte(M), n, c, 4 * accFloat);
      for (let j = 0; j < C; j++) {
        let squares = 0;
        for (let i = j; i < size; i += C) {
          const d = f32((X[i] as number) - (M[j] as number));
          squares += f32(d * d);
        }
        assert.equal(acc[j], squares, `colSqDev channel ${j}`);
      }
      simd.affine(byte(X), byte(K), byte(B), byte(Y), n, c);
      for (let i = 0; i < size; i++) assert.equal(Y[i], f32(f32((X[i] as number) * (K[i % C] as number)) + (B[i % C] as number)), `affine ${i}`);
      acc.fill(0);
      simd.colDyDev(byte(DY), byte(X), byte(M), n, c, 4 * accFloat, 4 * accFloat + 8 * C);
      for (let j = 0; j < C; j++) {
        let sumDy = 0;
        let sumDyDev = 0;
        for (let i = j; i < size; i += C) {
          sumDy += DY[i] as number;
          sumDyDev += (DY[i] as number) * f32((X[i] as number) - (M[j] as number));
        }
        assert.equal(acc[j], sumDy, `colDyDev Σdy channel ${j}`);
        assert.equal(acc[C + j], sumDyDev, `colDyDev Σdy(x − μ) channel ${j}`);
      }
      simd.bnDx(byte(DY), byte(X), byte(M), byte(A), byte(B2), byte(E), byte(F), byte(H), byte(DX), n, c);
      for (let i = 0; i < size; i++) {
        const j = i % C;
        const d = f32((X[i] as number) - (M[j] as number));
        const inner = f32(f32((DY[i] as number) - (B2[j] as number)) - f32(d * (E[j] as number)));
        assert.equal(DX[i], f32(f32(f32((A[j] as number) * inner) + f32(d * (F[j] as number))) + (H[j] as number)), `bnDx ${i}`);
      }
    });
  }

  it('the wasm kernels give the same values with the SIMD passes as with the JavaScript loops, bit for bit, and leak nothing', async () => {
    await setBackend('wasm');
    const shapes: number[][] = [[4, 6, 6, 8], [9, 16], [2, 5, 5, 64], [1, 4]];
    const before = tf.memory().numTensors;
    for (const shape of shapes) {
      const C = shape[shape.length - 1] as number;
      const x = tf.randomNormal(shape, 0.4, 1.7, 'float32', 11);
      const dy = tf.randomNormal(shape, 0, 1, 'float32', 12);
      const scale = tf.randomNormal([C], 1, 0.3, 'float32', 13);
      const offset = tf.randomNormal([C], 0, 0.5, 'float32', 14);
      const dMean = tf.randomNormal([C], 0, 1, 'float32', 15);
      const dVariance = tf.randomNormal([C], 0, 1, 'float32', 16);
      const run = (simd: boolean): number[][] => {
        setSimdBatchNormPasses(simd);
        try {
          const [y, mean, variance] = tf.engine().runKernel(BN_TRAINING_KERNEL, { x, scale, offset }, { epsilon: 1e-3 }) as tf.Tensor[];
          const inputs = { dy, x, mean: mean as tf.Tensor, variance: variance as tf.Tensor, scale };
          const plain = tf.engine().runKernel(BN_TRAINING_GRAD_KERNEL, inputs, { epsilon: 1e-3 }) as tf.Tensor[];
          const full = tf.engine().runKernel(BN_TRAINING_GRAD_KERNEL, { ...inputs, dMean, dVariance }, { epsilon: 1e-3 }) as tf.Tensor[];
          const out = [y, mean, variance, ...plain, ...full].map((t) => Array.from((t as tf.Tensor).dataSync()));
          tf.dispose([y, mean, variance, ...plain, ...full] as tf.Tensor[]);
          return out;
        } finally {
          setSimdBatchNormPasses(true);
        }
      };
      const js = run(false);
      const simd = run(true);
      assert.equal(simd.length, 9);
      simd.forEach((values, i) => assert.deepEqual(values, js[i], `shape [${shape.join(', ')}], output ${i}`));
      assert.ok(simd[0]?.some((v) => v !== 0), 'a non-trivial output');
      tf.dispose([x, dy, scale, offset, dMean, dVariance]);
    }
    assert.equal(tf.memory().numTensors, before, 'leaked tensors');
  });
});
