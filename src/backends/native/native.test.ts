/**
 * The op suite of the models on every backend present: `cpu` is the
 * reference; `wasm` always runs; `native` runs when its addon is built
 * (`npm run build:native`; CI builds it). Each case compares values and
 * gradients to 1e-4 relative (to the largest magnitude of the reference).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { availableBackends, setBackend } from '../../backend.js';
import { batchMatMul } from '../../ops/batchMatMul.js';
import { unrollHem } from '../../em/unroll.js';
import { hemHead } from '../../layers/hemHead.js';
import { assertClose, assertNoLeak } from '../../../test/helpers.js';
import { NativeBackend, registerNativeBackend } from './index.js';
import { ScheduledAdam } from '../../train/optimizer.js';
import { batchNormTraining, setFusedBatchNorm } from './batchNormTraining.js';
import { setFusedHem } from './hemUnroll.js';
import { setFusedCrossEntropy } from './crossEntropy.js';
import { segmentationCrossEntropy } from '../../train/loss.js';
import { setFusedSumOfSquares, sumOfSquares } from './sumOfSquares.js';
import { setSharedSaves } from './sharedSaves.js';
import { setFusedReluGrad } from './reluGrad.js';
import { setFusedPreluGrad } from './preluGrad.js';

const RTOL = 1e-4;
const nativeStatus = registerNativeBackend();
const present = await availableBackends();
const COMPARED = ['wasm', ...(present.includes('native') ? ['native'] : [])];
if (!present.includes('native')) {
  console.log(`# native backend absent, its cases are not generated: ${nativeStatus.available ? 'unavailable' : nativeStatus.reason}`);
}

type Arrays = { shape: number[]; values: number[] }[];
type Case = {
  name: string;
  /** Input shapes (drawn from a seeded normal) or explicit inputs. */
  inputs: number[][];
  /** Makes the inputs valid for the op (e.g. positive for log). */
  prepare?: (x: tf.Tensor, index: number) => tf.Tensor;
  /** The op; its gradient w.r.t. every input is also compared (unless noGrad). */
  op: (...xs: tf.Tensor[]) => tf.Tensor;
  noGrad?: boolean;
};

/** Values and gradients of sum(op(xs) ⊙ r) for a fixed random r. */
function evaluate(c: Case, inputs: Arrays): number[][] {
  return tf.tidy(() => {
    const xs = inputs.map(({ shape, values }) => tf.tensor(values, shape));
    const y = c.op(...xs);
    const r = tf.randomNormal(y.shape, 0, 1, 'float32', 99);
    const out = [Array.from(y.dataSync())];
    if (c.noGrad !== true) {
      const grads = tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(c.op(...args), r)))(xs);
      for (const g of grads) out.push(Array.from(g.dataSync()));
    }
    return out;
  });
}

function drawInputs(c: Case): Arrays {
  return tf.tidy(() =>
    c.inputs.map((shape, index) => {
      let x = tf.randomNormal(shape, 0, 1, 'float32', 17 + index);
      if (c.prepare !== undefined) x = c.prepare(x, index);
      return { shape, values: Array.from(x.dataSync()) };
    }),
  );
}

const positive = (x: tf.Tensor): tf.Tensor => tf.add(tf.abs(x), 0.5);
const conv = (strides: number, pad: 'same' | 'valid', dilation: number) => (x: tf.Tensor, w: tf.Tensor) =>
  tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad, 'NHWC', dilation);

const CASES: Case[] = [
  { name: 'conv2d 3×3 same', inputs: [[2, 7, 7, 5], [3, 3, 5, 6]], op: conv(1, 'same', 1) },
  { name: 'conv2d 3×3 stride 2 same', inputs: [[2, 8, 8, 4], [3, 3, 4, 5]], op: conv(2, 'same', 1) },
  { name: 'conv2d 1×1 stride 2 valid', inputs: [[2, 8, 8, 4], [1, 1, 4, 8]], op: conv(2, 'valid', 1) },
  // Native: the filter gradient of a strided 1×1 conv runs on the subsampled input (conv.cc).
  { name: 'conv2d 1×1 stride 2 same, odd map', inputs: [[2, 7, 7, 4], [1, 1, 4, 8]], op: conv(2, 'same', 1) },
  { name: 'conv2d 1×1 strides [2, 1] valid', inputs: [[1, 6, 5, 3], [1, 1, 3, 5]], op: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, [2, 1], 'valid') },
  { name: 'conv2d 3×3 dilation 2 same', inputs: [[2, 9, 9, 3], [3, 3, 3, 4]], op: conv(1, 'same', 2) },
  { name: 'conv2d 5×5 valid', inputs: [[1, 9, 8, 2], [5, 5, 2, 3]], op: conv(1, 'valid', 1) },
  {
    name: 'fused conv2d + bias + relu',
    inputs: [[2, 6, 6, 4], [3, 3, 4, 5], [5]],
    op: (x, w, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation: 'relu' }),
  },
  { name: 'matMul', inputs: [[5, 7], [7, 3]], op: (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D) },
  { name: 'matMul transposeA', inputs: [[7, 5], [7, 3]], op: (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false) },
  { name: 'matMul transposeB', inputs: [[5, 7], [3, 7]], op: (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true) },
  { name: 'batched matMul transpose both', inputs: [[3, 7, 5], [3, 4, 7]], op: (a, b) => tf.matMul(a, b, true, true) },
  // tfjs-core's BatchMatMul and SquaredDifference gradients do not reduce broadcast batch axes (on every backend): values only.
  { name: 'batched matMul broadcast batch', inputs: [[3, 5, 7], [1, 7, 4]], op: (a, b) => tf.matMul(a, b), noGrad: true },
  { name: 'fused matMul + bias + relu', inputs: [[5, 7], [7, 3], [3]], op: (a, b, c) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c, activation: 'relu' }) },
  { name: "hemnet batchMatMul (Aᵀ·B)", inputs: [[2, 9, 4], [2, 9, 6]], op: (a, b) => batchMatMul(a as tf.Tensor3D, b as tf.Tensor3D, { transposeA: true }) },
  { name: 'add broadcast [2,3,4,5]+[5]', inputs: [[2, 3, 4, 5], [5]], op: (a, b) => tf.add(a, b) },
  { name: 'sub broadcast [2,3,4,5]-[1,1,1,5]', inputs: [[2, 3, 4, 5], [1, 1, 1, 5]], op: (a, b) => tf.sub(a, b) },
  { name: 'mul broadcast [4,1,5]·[3,1]', inputs: [[4, 1, 5], [3, 1]], op: (a, b) => tf.mul(a, b) },
  { name: 'mul by scalar', inputs: [[6, 5], []], op: (a, b) => tf.mul(a, b) },
  { name: 'div broadcast', inputs: [[3, 4, 5], [3, 1, 5]], prepare: (x, i) => (i === 1 ? positive(x) : x), op: (a, b) => tf.div(a, b) },
  { name: 'squaredDifference broadcast', inputs: [[2, 4, 4, 3], [1, 1, 1, 3]], op: (a, b) => tf.squaredDifference(a, b), noGrad: true },
  { name: 'squaredDifference', inputs: [[2, 4, 4, 3], [2, 4, 4, 3]], op: (a, b) => tf.squaredDifference(a, b) },
  { name: 'maximum / minimum', inputs: [[4, 5], [4, 5]], op: (a, b) => tf.add(tf.maximum(a, b), tf.mul(tf.minimum(a, b), 0.5)) },
  { name: 'relu', inputs: [[3, 40]], op: (x) => tf.relu(x) },
  { name: 'relu6 / sigmoid / abs / neg', inputs: [[3, 40]], op: (x) => tf.addN([tf.relu6(tf.mul(x, 4)), tf.sigmoid(x), tf.abs(x), tf.neg(x)]) },
  { name: 'exp / log / sqrt / rsqrt / square', inputs: [[3, 40]], prepare: positive, op: (x) => tf.addN([tf.exp(x), tf.log(x), tf.sqrt(x), tf.rsqrt(x), tf.square(x)]) },
  // Prelu (native: the addon) and its tfjs gradient's Greater(x, 0) and Select (native: JS on the arrays).
  { name: 'prelu, scalar slope', inputs: [[2, 5, 5, 3], []], op: (x, a) => tf.prelu(x, a) },
  { name: 'prelu, per-channel slopes [1, 1, C]', inputs: [[2, 5, 5, 3], [1, 1, 3]], op: (x, a) => tf.prelu(x, a) },
  // (tfjs has no gradient for Greater, so no gradient through a where on x itself: the prelu cases cover the gradient's path.)
  { name: 'where(x > 0.3, x, 3x)', inputs: [[4, 6]], op: (a) => tf.where(tf.greater(a, 0.3), a, tf.mul(a, 3)), noGrad: true },
  { name: 'greater of two tensors (the cpu kernel on native)', inputs: [[4, 6], [4, 6]], op: (a, b) => tf.cast(tf.greater(a, b), 'float32'), noGrad: true },
  { name: 'sum over leading axes (channel sums)', inputs: [[3, 4, 5, 6]], op: (x) => tf.sum(x, [0, 1, 2]) },
  { name: 'sum over the last axis, keepDims', inputs: [[3, 4, 5]], op: (x) => tf.sum(x, -1, true) },
  { name: 'sum over non-contiguous axes', inputs: [[3, 4, 5]], op: (x) => tf.sum(x, [0, 2]) },
  { name: 'sum over every axis', inputs: [[3, 4, 5]], op: (x) => tf.sum(x) },
  { name: 'mean over middle axes', inputs: [[3, 4, 5, 6]], op: (x) => tf.mean(x, [1, 2]) },
  { name: 'max / min over axes', inputs: [[3, 4, 5]], op: (x) => tf.add(tf.max(x, 1), tf.min(x, 1)) },
  { name: 'moments [0,1,2] (batch statistics)', inputs: [[2, 5, 5, 4]], op: (x) => { const m = tf.moments(x, [0, 1, 2]); return tf.concat([m.mean, m.variance]); } },
  {
    name: 'batchNorm (per-channel)',
    inputs: [[2, 4, 4, 6], [6], [6], [6], [6]],
    prepare: (x, i) => (i === 2 ? positive(x) : x),
    op: (x, mean, variance, offset, scale) => tf.batchNorm(x, mean as tf.Tensor1D, variance as tf.Tensor1D, offset as tf.Tensor1D, scale as tf.Tensor1D, 1e-3),
  },
  {
    name: 'batchNormTraining: y, batch mean and variance (gradients through all three)',
    inputs: [[2, 5, 5, 6], [6], [6]],
    prepare: (x, i) => (i === 0 ? tf.add(tf.mul(x, 2), 0.7) : x),
    op: (x, s, o) => {
      const r = batchNormTraining(x, s as tf.Tensor1D, o as tf.Tensor1D, 1e-3);
      return tf.concat([tf.reshape(r.y, [-1]), r.mean, r.variance]);
    },
  },
  {
    name: 'batchNormTraining: y only, rank 2, 70 channels',
    inputs: [[9, 70], [70], [70]],
    op: (x, s, o) => batchNormTraining(x, s as tf.Tensor1D, o as tf.Tensor1D, 1e-5).y,
  },
  { name: 'transpose [1,0,2,3] (merged inner run)', inputs: [[3, 4, 5, 6]], op: (x) => tf.transpose(x, [1, 0, 2, 3]) },
  { name: 'transpose [2,1,0,3] and [3,0,2,1]', inputs: [[3, 4, 5, 6]], op: (x) => tf.add(tf.reshape(tf.transpose(x, [2, 1, 0, 3]), [-1]), tf.reshape(tf.transpose(x, [3, 0, 2, 1]), [-1])) },
  { name: 'transpose with size-1 axes, rank 5', inputs: [[2, 1, 3, 1, 4]], op: (x) => tf.transpose(x, [4, 3, 0, 2, 1]) },
  { name: 'transpose rank 2', inputs: [[7, 9]], op: (x) => tf.transpose(x) },
  { name: 'transpose of 2²⁰+ elements (threaded)', inputs: [[4, 520, 520]], op: (x) => tf.transpose(x, [2, 0, 1]), noGrad: true },
  { name: 'softmax last axis', inputs: [[4, 3, 7]], op: (x) => tf.softmax(x) },
  { name: 'logSoftmax', inputs: [[6, 11]], op: (x) => tf.logSoftmax(x) },
  { name: 'resizeBilinear ×2 halfPixelCenters', inputs: [[2, 4, 4, 3]], op: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [8, 8], false, true) },
  { name: 'resizeBilinear alignCorners', inputs: [[1, 3, 3, 2]], op: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [7, 7], true) },
  // tfjs's cpu gradient swaps height and width in its output shape: values only for a non-square image.
  { name: 'resizeBilinear non-square', inputs: [[1, 3, 5, 2]], op: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [7, 9], true), noGrad: true },
  // Pooling (src/kernels/pooling.ts: the gradients on wasm; native/src/pool.cc on native, forward passes too).
  { name: 'maxPool 2×2 stride 2 valid', inputs: [[2, 8, 8, 5]], op: (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid') },
  { name: 'maxPool 3×3 stride 2 same, odd sizes (overlapping windows)', inputs: [[2, 9, 7, 4]], op: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same') },
  // After a ReLU most windows hold ties at 0: the gradient goes to the first of them, as tfjs's cpu kernel.
  { name: 'maxPool 3×3 stride 1 same of relu (ties)', inputs: [[2, 6, 6, 3]], prepare: (x) => tf.relu(tf.sub(x, 0.8)), op: (x) => tf.maxPool(x as tf.Tensor4D, 3, 1, 'same') },
  { name: 'maxPool 3×3 stride 2 pad 1', inputs: [[1, 8, 8, 2]], op: (x) => tf.maxPool(x as tf.Tensor4D, [3, 3], [2, 2], 1) },
  { name: 'avgPool 2×2 stride 2 valid', inputs: [[2, 8, 8, 5]], op: (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid') },
  { name: 'avgPool 3×3 stride 2 same, odd sizes', inputs: [[2, 9, 7, 4]], op: (x) => tf.avgPool(x as tf.Tensor4D, 3, 2, 'same') },
  { name: 'avgPool [2,3] stride [1,2] same, 33 channels', inputs: [[1, 5, 6, 33]], op: (x) => tf.avgPool(x as tf.Tensor4D, [2, 3], [1, 2], 'same') },
  { name: 'unrolled HEM (T=2)', inputs: [[2, 12, 8], [4, 8]], op: (x, mu) => unrollHem(x as tf.Tensor3D, mu as tf.Tensor2D, { stepSize: 0.5, iterations: 2 }).reconstruction },
  // On native these run the fused HEM kernels (hemUnroll.ts): every output, every option of the fused path.
  { name: 'unrolled HEM: μ, γ and X̃, batched μ⁽⁰⁾, η 0.3, T=4', inputs: [[3, 10, 6], [3, 4, 6]], op: (x, mu) => hemOutputs(unrollHem(x as tf.Tensor3D, mu as tf.Tensor3D, { stepSize: 0.3, iterations: 4 })) },
  { name: 'unrolled HEM: η 1, normalised bases', inputs: [[2, 9, 5], [3, 5]], op: (x, mu) => hemOutputs(unrollHem(x as tf.Tensor3D, mu as tf.Tensor2D, { stepSize: 1, normalizeBases: true })) },
  { name: 'unrolled HEM: rbf kernel, σ² 2, normalised bases, η 0.7', inputs: [[2, 9, 5], [3, 5]], op: (x, mu) => hemOutputs(unrollHem(x as tf.Tensor3D, mu as tf.Tensor2D, { kernel: 'rbf', temperature: 2, normalizeBases: true, stepSize: 0.7 })) },
  // On native the fused loss kernel (crossEntropy.ts): ignored pixels, a label outside [0, K) (a zero one-hot row, as tf.oneHot).
  { name: 'segmentation cross-entropy with ignore label', inputs: [[2, 3, 4, 5]], op: (x) => segmentationCrossEntropy(x as tf.Tensor4D, crossEntropyLabels()) },
  // On native one kernel (sumOfSquares.ts); its gradient 2·w.
  { name: 'sum of squares of several tensors (weight decay)', inputs: [[3, 3, 4, 5], [7], [2, 6]], op: (a, b, c) => tf.mul(sumOfSquares([a, b, c]), 0.3) },
];

/** Labels [2, 3, 4] in [0, 5), with 255 (ignored) at every 5th pixel and one label 7 (outside the classes). */
function crossEntropyLabels(): tf.Tensor3D {
  const values = Array.from({ length: 24 }, (_, i) => (i % 5 === 0 ? 255 : i === 7 ? 7 : (i * 3) % 5));
  return tf.tensor3d(values, [2, 3, 4], 'int32');
}

/** μ, γ and X̃ of an unroll as one flat tensor (so that gradients reach all three). */
function hemOutputs(r: { mu: tf.Tensor; gamma: tf.Tensor; reconstruction: tf.Tensor }): tf.Tensor {
  return tf.concat([tf.reshape(r.mu, [-1]), tf.reshape(r.gamma, [-1]), tf.reshape(r.reconstruction, [-1])]);
}

describe('op suite: every backend present against cpu (values and gradients, 1e-4 relative)', () => {
  for (const c of CASES) {
    for (const backend of COMPARED) {
      it(`${c.name} on ${backend}`, async () => {
        await setBackend('cpu');
        const inputs = drawInputs(c);
        const expected = evaluate(c, inputs);
        await setBackend(backend);
        const actual = evaluate(c, inputs);
        assert.equal(actual.length, expected.length);
        actual.forEach((values, i) => assertClose(values, expected[i] as number[], 1e-6, RTOL, `${c.name} ${i === 0 ? 'value' : `grad ${i - 1}`}`));
      });
    }
  }
});

describe('pooling gradients on every backend present', () => {
  for (const backend of COMPARED) {
    it(`refuse a dy that is not the pooled shape (dimRoundingMode, dropped by tfjs's gradients) on ${backend}, and leak nothing`, async () => {
      await setBackend(backend);
      const x = tf.randomNormal([1, 8, 8, 2], 0, 1, 'float32', 3) as tf.Tensor4D;
      // (tfjs's tape leaves the tensors of an aborted gradient behind: the leak check is on the good calls.)
      for (const pool of [tf.maxPool, tf.avgPool]) {
        assert.throws(() => tf.grad((v: tf.Tensor) => pool(v as tf.Tensor4D, [3, 3], [2, 2], 1, 'ceil'))(x), /dimRoundingMode/);
      }
      const before = tf.memory().numTensors;
      for (const pool of [tf.maxPool, tf.avgPool]) tf.grad((v: tf.Tensor) => pool(v as tf.Tensor4D, [3, 3], [2, 2], 1))(x).dispose();
      assert.equal(tf.memory().numTensors, before, 'leaked tensors');
      x.dispose();
    });
  }
  if (COMPARED.includes('native')) {
    it('the addon refuses buffers that do not match the geometry', async () => {
      await setBackend('native');
      const { addon } = tf.backend() as NativeBackend;
      const geometry = Int32Array.from([1, 4, 4, 1, 2, 2, 2, 2, 2, 2, 0, 0]);
      assert.throws(() => addon.pool(0, new Float32Array(15), null, new Float32Array(4), geometry), /pool: buffer sizes/);
      assert.throws(() => addon.pool(1, new Float32Array(16), new Float32Array(3), new Float32Array(16), geometry), /pool: buffer sizes/);
      assert.throws(() => addon.pool(4, new Float32Array(16), null, new Float32Array(4), geometry), /pool: mode/);
      assert.throws(() => addon.pool(0, new Float32Array(16), null, new Float32Array(4), geometry.subarray(0, 11)), /pool: params/);
    });
  }
});

/** A tiny segmentation net: conv → BN → ReLU → strided conv → HEM head → 1×1 conv → bilinear up. */
function tinyModel(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.heNormal({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 2 }) }).apply(x) as tf.SymbolicTensor;
  x = hemHead({ numBases: 4, seed: 3, name: 'hem' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x });
}

function trainLosses(steps: number): number[] {
  const model = tinyModel();
  const images = tf.randomNormal([4, 12, 12, 3], 0, 1, 'float32', 5);
  const labels = tf.tidy(() => tf.oneHot(tf.argMax(tf.concat([images, tf.fill([4, 12, 12, 1], 0.2)], 3), 3).toInt(), 3));
  const optimizer = tf.train.adam(0.01);
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(images, { training: true }) as tf.Tensor) as tf.Scalar, true);
    losses.push(loss?.dataSync()[0] ?? NaN);
    loss?.dispose();
  }
  optimizer.dispose();
  model.dispose();
  tf.dispose([images, labels]);
  return losses;
}

/** Shapes of the variables in the Adam tests: below and above the pool's 64-element threshold, a conv kernel, a scalar. */
const ADAM_SHAPES = [[11], [3, 3, 16, 16], [40, 7], []];

/**
 * `steps` Adam steps of fresh variables (seeded) with seeded gradients, the
 * learning rate changed midway; returns the variables and the optimizer's
 * state (getWeights: iterations, then every m, then every v) as arrays.
 */
async function adamRun(fused: boolean, steps: number, tag: string): Promise<number[][]> {
  const variables = ADAM_SHAPES.map((shape, i) => tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 30 + i), true, `adam-${tag}-${i}`)));
  const optimizer = new ScheduledAdam(0.01, 0.9, 0.999, 1e-7);
  optimizer.fused = fused;
  for (let step = 0; step < steps; step++) {
    if (step === 2) optimizer.setLearningRate(0.003);
    const grads = ADAM_SHAPES.map((shape, i) => ({ name: `adam-${tag}-${i}`, tensor: tf.randomNormal(shape, 0, step === 1 ? 1e-3 : 1, 'float32', 100 * step + i + 1) }));
    optimizer.applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
  }
  const state = await optimizer.getWeights();
  const out = [...variables.map((v) => Array.from(v.dataSync())), ...state.map((w) => Array.from(w.tensor.dataSync()))];
  state[0]?.tensor.dispose(); // the iterations scalar (the others are the optimizer's variables)
  optimizer.dispose();
  tf.dispose(variables);
  return out;
}

describe('ScheduledAdam: the fused update where the backend has one, tfjs\'s elsewhere', () => {
  for (const backend of ['cpu', ...COMPARED]) {
    it(`equals tfjs's Adam over 5 steps on ${backend} (weights, moments, iterations)`, async () => {
      await setBackend(backend);
      const before = tf.memory().numTensors;
      const stock = await adamRun(false, 5, `stock-${backend}`);
      const fused = await adamRun(true, 5, `fused-${backend}`);
      assert.equal(tf.memory().numTensors, before, 'Adam steps leaked tensors');
      assert.equal(fused.length, stock.length);
      assert.deepEqual(stock[ADAM_SHAPES.length], [5], 'iterations');
      fused.forEach((values, i) => assertClose(values, stock[i] as number[], 0, 1e-6, `array ${i}`));
    });
  }
});

// The training-step fusions both backends have (native in C++, wasm in JS on the heap: src/kernels/fusedTraining.ts).
for (const backend of COMPARED) {
  describe(`fused batch-norm training on ${backend}`, () => {
    const layerStep = (): number[][] => {
      const layer = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3, gammaInitializer: tf.initializers.randomNormal({ seed: 5, mean: 1 }), betaInitializer: tf.initializers.randomNormal({ seed: 6 }) });
      const x = tf.randomNormal([4, 6, 6, 8], 0.5, 2, 'float32', 7);
      const r = tf.randomNormal([4, 6, 6, 8], 0, 1, 'float32', 8);
      const grads = tf.grads((input: tf.Tensor) => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, r)))([x]);
      const y = layer.apply(x, { training: true }) as tf.Tensor;
      const out = [y, ...grads, ...layer.getWeights()].map((t) => Array.from(t.dataSync()));
      tf.dispose([x, r, y, ...grads]);
      layer.dispose();
      return out;
    };

    it('tf.layers.batchNormalization in training: output, input gradient and moving statistics equal cpu', async () => {
      await setBackend('cpu');
      const expected = layerStep();
      await setBackend(backend);
      const before = tf.memory().numTensors;
      const actual = layerStep();
      assert.equal(tf.memory().numTensors, before, 'leaked tensors');
      assert.equal(actual.length, expected.length);
      actual.forEach((values, i) => assertClose(values, expected[i] as number[], 1e-6, RTOL, `array ${i}`));
    });

    it('batchNormTraining: gradients through y, the mean and the variance outputs equal the tfjs composition', async () => {
      await setBackend(backend);
      const x = tf.randomNormal([3, 5, 5, 6], -0.3, 1.5, 'float32', 31);
      const scale = tf.randomNormal([6], 1, 0.2, 'float32', 32) as tf.Tensor1D;
      const offset = tf.randomNormal([6], 0, 0.5, 'float32', 33) as tf.Tensor1D;
      const ry = tf.randomNormal([3, 5, 5, 6], 0, 1, 'float32', 34);
      const rm = tf.randomNormal([6], 0, 1, 'float32', 35);
      const rv = tf.randomNormal([6], 0, 1, 'float32', 36);
      const run = (fused: boolean): number[][] => {
        setFusedBatchNorm(fused);
        try {
          return tf.tidy(() => {
            const f = (xi: tf.Tensor, si: tf.Tensor, oi: tf.Tensor): tf.Scalar => {
              const { y, mean, variance } = batchNormTraining(xi, si as tf.Tensor1D, oi as tf.Tensor1D, 1e-3);
              return tf.addN([tf.sum(tf.mul(y, ry)), tf.sum(tf.mul(mean, rm)), tf.sum(tf.mul(variance, rv))]) as tf.Scalar;
            };
            const { y, mean, variance } = batchNormTraining(x, scale, offset, 1e-3);
            return [y, mean, variance, ...tf.grads(f)([x, scale, offset])].map((t) => Array.from(t.dataSync()));
          });
        } finally {
          setFusedBatchNorm(true);
        }
      };
      const stock = run(false);
      const before = tf.memory().numTensors;
      run(true).forEach((values, i) => assertClose(values, stock[i] as number[], 1e-6, RTOL, `array ${i}`));
      assert.equal(tf.memory().numTensors, before, 'leaked tensors');
      tf.dispose([x, scale, offset, ry, rm, rv]);
    });

    it('rejects inputs of the wrong shape or dtype, naming the kernel', async () => {
      await setBackend(backend);
      const x = tf.zeros([2, 3]);
      const four = tf.ones([4]);
      const three = tf.ones([3]);
      assert.throws(() => tf.engine().runKernel('HemnetBatchNormTraining', { x, scale: four, offset: four }, { epsilon: 1e-3 }), /batchNormTrain/i);
      const ints = tf.zeros([2, 3], 'int32');
      assert.throws(() => tf.engine().runKernel('HemnetBatchNormTraining', { x: ints, scale: three, offset: three }, { epsilon: 1e-3 }), /batchNormTrain/i);
      const wide = tf.zeros([2, 4]);
      assert.throws(() => tf.engine().runKernel('HemnetBatchNormTrainingGrad', { dy: wide, x, mean: three, variance: three, scale: three }, { epsilon: 1e-3 }), /batchNormTrain/i);
      tf.dispose([x, four, three, ints, wide]);
    });

    it('runs the layer in training as one forward and one gradient kernel', async () => {
      await setBackend(backend);
      const layer = tf.layers.batchNormalization();
      const x = tf.randomNormal([2, 4, 4, 8], 0, 1, 'float32', 9);
      layer.apply(x, { training: true });
      const profile = await tf.profile(() => tf.grads((input: tf.Tensor) => tf.sum(layer.apply(input, { training: true }) as tf.Tensor))([x]));
      const names = profile.kernels.map((k) => k.name);
      assert.equal(names.filter((n) => n === 'HemnetBatchNormTraining').length, 1, names.join(' '));
      assert.equal(names.filter((n) => n === 'HemnetBatchNormTrainingGrad').length, 1, names.join(' '));
      assert.ok(!names.includes('Mean') && !names.includes('FusedBatchNorm'), names.join(' '));
      tf.dispose(profile.result as tf.Tensor[]);
      tf.dispose(x);
      layer.dispose();
    });
  });

  describe(`fused weight decay and kernel-free saves on ${backend}`, () => {
    it('weight decay: Σ‖w‖² is one kernel forward, one product per tensor backward, and equals the tfjs composition', async () => {
      await setBackend(backend);
      const ws = [tf.randomNormal([3, 3, 8, 8], 0, 1, 'float32', 26), tf.randomNormal([40], 0, 1, 'float32', 27)];
      const run = (fused: boolean): number[][] => {
        setFusedSumOfSquares(fused);
        try {
          return tf.tidy(() => {
            const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => tf.mul(sumOfSquares([a, b]), 5e-5))(ws);
            return [value, ...grads].map((t) => Array.from(t.dataSync()));
          });
        } finally {
          setFusedSumOfSquares(true);
        }
      };
      const stock = run(false);
      const before = tf.memory().numTensors;
      run(true).forEach((values, i) => assertClose(values, stock[i] as number[], 0, 1e-6, `array ${i}`));
      assert.equal(tf.memory().numTensors, before, 'leaked tensors');
      const profile = await tf.profile(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => sumOfSquares([a, b]))(ws));
      const names = profile.kernels.map((k) => k.name).filter((n) => n !== 'Identity');
      assert.deepEqual(names, ['HemnetSumOfSquares', 'Multiply', 'Multiply', 'Multiply'], names.join(' '));
      tf.dispose([...(profile.result as tf.Tensor[]), ...ws]);
    });

    it('saves tensors for gradients without Identity kernels: same gradients as tfjs\'s clones, no leaks', async () => {
      await setBackend(backend);
      const x = tf.randomNormal([2, 6, 6, 4], 0, 1, 'float32', 41);
      const w = tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', 42);
      const b = tf.randomNormal([5], 0, 1, 'float32', 43);
      const v = tf.variable(tf.randomNormal([5, 3], 0, 1, 'float32', 44));
      // A registered gradient (matMul, relu, sum) and a customGrad (tf.fused.conv2d saves filter, x, y, bias).
      const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor): tf.Scalar => tf.tidy(() => {
        const y = tf.fused.conv2d({ x: xi as tf.Tensor4D, filter: wi as tf.Tensor4D, bias: bi, strides: 1, pad: 'same', activation: 'relu' });
        return tf.sum(tf.relu(tf.matMul(tf.reshape(y, [-1, 5]), v)));
      });
      const gradients = (): tf.Tensor[] => {
        const { value, grads } = tf.variableGrads(() => f(x, w, b), [v]);
        value.dispose();
        return [...tf.grads(f)([x, w, b]), grads[v.name] as tf.Tensor];
      };
      setSharedSaves(false);
      // Identity dispatches, counted on the registered kernel itself.
      const identity = tf.getKernel('Identity', backend) as { kernelFunc: tf.KernelFunc };
      const stock = identity.kernelFunc;
      let identities = 0;
      identity.kernelFunc = (args) => {
        identities++;
        return stock(args);
      };
      const run = (): number[][] => gradients().map((t) => { const values = Array.from(t.dataSync()); t.dispose(); return values; });
      try {
        const expected = run();
        assert.ok(identities > 0, 'the comparison should clone');
        setSharedSaves(true);
        identities = 0;
        const actual = run();
        assert.equal(identities, 0, 'Identity kernels with shared saves');
        actual.forEach((values, i) => assert.deepEqual(values, expected[i], `gradient ${i}`));
      } finally {
        identity.kernelFunc = stock;
        setSharedSaves(true);
      }
      assertNoLeak(gradients, 'shared saves');
      tf.dispose([x, w, b, v]);
    });
  });

  describe(`fused HEM unroll on ${backend}`, () => {
    /** Loss value, input gradient, every trainable weight's gradient and the updated μ⁽⁰⁾ of one HemHead training call. */
    const headStep = (fused: boolean, options: Parameters<typeof hemHead>[0]): number[][] => {
      setFusedHem(fused);
      try {
        return tf.tidy(() => {
          const layer = hemHead({ numBases: 5, seed: 11, ...options });
          const x = tf.randomNormal([3, 4, 4, 8], 0, 1, 'float32', 12);
          // Around 1, not 0: the head's output is ≥ 0 (a ReLU), so the loss Σ y·r does not cancel and a relative tolerance fits it.
          const r = tf.randomNormal([3, 4, 4, 8], 1, 1, 'float32', 13);
          layer.apply(x); // builds the weights
          const f = (input: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, r));
          const { value, grads } = tf.variableGrads(() => f(x), layer.trainableWeights.map((w) => w.read() as tf.Variable));
          const dx = tf.grad(f)(x);
          const out = [value, dx, ...layer.trainableWeights.map((w) => grads[(w.read() as tf.Variable).name] as tf.Tensor), ...layer.getWeights()].map((t) => Array.from(t.dataSync()));
          layer.dispose();
          return out;
        });
      } finally {
        setFusedHem(true);
      }
    };

    for (const [label, options] of [
      ['hem preset (the default head)', {}],
      ['rbf kernel, normalised bases, η 0.8', { kernel: 'rbf', normalizeBases: true, stepSize: 0.8 }],
      ['ema preset (detached EM: the fused forward, zero gradient through the unroll)', { preset: 'ema' }],
    ] as const) {
      it(`HemHead in training, ${label}: loss, input and weight gradients, μ⁽⁰⁾ update equal the tfjs composition`, async () => {
        await setBackend(backend);
        const expected = headStep(false, options);
        const before = tf.memory().numTensors;
        const actual = headStep(true, options);
        assert.equal(tf.memory().numTensors, before, 'leaked tensors');
        assert.equal(actual.length, expected.length);
        actual.forEach((values, i) => assertClose(values, expected[i] as number[], 1e-6, RTOL, `array ${i}`));
      });
    }

    const kernelNames = async (options: Parameters<typeof unrollHem>[2]): Promise<string[]> => {
      const x = tf.randomNormal([2, 10, 6], 0, 1, 'float32', 14) as tf.Tensor3D;
      const mu = tf.randomNormal([4, 6], 0, 1, 'float32', 15) as tf.Tensor2D;
      const profile = await tf.profile(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => {
        const r = unrollHem(a as tf.Tensor3D, b as tf.Tensor2D, options);
        return tf.sum(r.reconstruction);
      })([x, mu]));
      tf.dispose(profile.result as tf.Tensor[]);
      tf.dispose([x, mu]);
      return profile.kernels.map((k) => k.name);
    };

    it('runs the unroll and its gradient as one kernel each, without leaking', async () => {
      await setBackend(backend);
      const names = await kernelNames({ iterations: 3 });
      assert.equal(names.filter((n) => n === 'HemnetHemUnroll').length, 1, names.join(' '));
      assert.equal(names.filter((n) => n === 'HemnetHemUnrollGrad').length, 1, names.join(' '));
      assert.ok(!names.includes('Softmax') && !names.includes('BatchMatMul'), names.join(' '));
      const x = tf.randomNormal([2, 10, 6], 0, 1, 'float32', 16) as tf.Tensor3D;
      const mu = tf.randomNormal([4, 6], 0, 1, 'float32', 17) as tf.Tensor2D;
      assertNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(unrollHem(a as tf.Tensor3D, b as tf.Tensor2D).reconstruction))([x, mu]), 'fused grads');
      assertNoLeak(() => { const r = unrollHem(x, mu); return [r.mu, r.gamma, r.reconstruction]; }, 'fused forward');
      tf.dispose([x, mu]);
    });

    it('runs a detached unroll (EMANet) as the fused forward kernel alone: no gradient kernel, zero gradients, no leak', async () => {
      await setBackend(backend);
      const names = await kernelNames({ detachEm: true, normalizeBases: true });
      assert.equal(names.filter((n) => n === 'HemnetHemUnroll').length, 1, names.join(' '));
      assert.ok(!names.includes('HemnetHemUnrollGrad') && !names.includes('Softmax'), names.join(' '));
      const x = tf.randomNormal([2, 10, 6], 0, 1, 'float32', 18) as tf.Tensor3D;
      const mu = tf.randomNormal([4, 6], 0, 1, 'float32', 19) as tf.Tensor2D;
      const detachedGrads = () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(unrollHem(a as tf.Tensor3D, b as tf.Tensor2D, { detachEm: true }).reconstruction))([x, mu]);
      const grads = detachedGrads();
      for (const g of grads) assert.ok(Array.from(g.dataSync()).every((v) => v === 0), 'zero gradient through a detached unroll');
      tf.dispose(grads);
      assertNoLeak(detachedGrads, 'detached grads');
      assertNoLeak(() => { const r = unrollHem(x, mu, { detachEm: true }); return [r.mu, r.gamma, r.reconstruction]; }, 'detached forward');
      tf.dispose([x, mu]);
    });

    it('keeps the tfjs composition where a call needs each iteration (trace, stopped γ gradient, detached with a trace) or when turned off', async () => {
      await setBackend(backend);
      for (const options of [{ trace: true }, { stopGammaGradient: true }, { detachEm: true, trace: true }]) {
        const names = await kernelNames(options);
        assert.ok(!names.includes('HemnetHemUnroll'), `${JSON.stringify(options)}: ${names.join(' ')}`);
        assert.ok(names.includes('Softmax'), `${JSON.stringify(options)}: ${names.join(' ')}`);
      }
      setFusedHem(false);
      try {
        assert.ok(!(await kernelNames({})).includes('HemnetHemUnroll'));
      } finally {
        setFusedHem(true);
      }
    });
  });
}

if (present.includes('native')) {
  describe('native fused Adam', () => {
    it('runs one step of every variable without tfjs kernels (the two β-power updates only)', async () => {
      await setBackend('native');
      const w = tf.variable(tf.randomNormal([3, 3, 16, 16], 0, 1, 'float32', 1), true, 'adam-count');
      const optimizer = new ScheduledAdam(0.01, 0.9, 0.999, 1e-7);
      const g = tf.randomNormal([3, 3, 16, 16], 0, 1, 'float32', 2);
      const kernels = async (): Promise<string[]> => (await tf.profile(() => optimizer.applyGradients([{ name: 'adam-count', tensor: g }]))).kernels.map((k) => k.name);
      await kernels(); // creates m and v
      assert.deepEqual(await kernels(), ['Multiply', 'Multiply']);
      optimizer.fused = false;
      assert.equal((await kernels()).length, 18, 'the stock update: 14 kernels per variable, 2 for 1 − βᵗ, 2 for βᵗ');
      optimizer.dispose();
      tf.dispose([w, g]);
    });

    it('updates in place only what nothing else observes (clones, slices, dataSync arrays keep their values)', async () => {
      await setBackend('native');
      const w = tf.variable(tf.randomNormal([40, 7], 0, 1, 'float32', 3), true, 'adam-alias');
      const optimizer = new ScheduledAdam(0.1, 0.9, 0.999, 1e-7);
      const g = tf.ones([40, 7]);
      const step = (): void => optimizer.applyGradients([{ name: 'adam-alias', tensor: g }]);
      step();
      step(); // w, m, v now live in buffers of the backend's own: updated in place from here
      const id = w.dataId;
      step();
      assert.equal(w.dataId, id, 'an unobserved variable is updated in place');
      const clone = tf.clone(w);
      const slice = tf.slice(w, [0, 0], [1, 7]);
      const before = Array.from(clone.dataSync());
      const sliceBefore = Array.from(slice.dataSync());
      step();
      assert.deepEqual(Array.from(clone.dataSync()), before, 'a clone keeps its values');
      assert.deepEqual(Array.from(slice.dataSync()), sliceBefore, 'a slice keeps its values');
      assert.notEqual(w.dataSync()[0], before[0], 'the variable moved');
      tf.dispose([clone, slice]);
      const read = w.dataSync();
      const readBefore = Array.from(read);
      step();
      assert.deepEqual(Array.from(read), readBefore, 'an array handed out by dataSync keeps its values');
      assert.notEqual(w.dataSync()[0], readBefore[0], 'the variable moved');
      optimizer.dispose();
      tf.dispose([w, g]);
    });

    it('checkpoints like tfjs: state from fused steps continues with the stock update, and back', async () => {
      await setBackend('native');
      const run = async (fusedFirst: boolean, fusedThen: boolean): Promise<number[]> => {
        const w = tf.tidy(() => tf.variable(tf.randomNormal([5, 13], 0, 1, 'float32', 4), true, `adam-ckpt-${fusedFirst}-${fusedThen}`));
        const first = new ScheduledAdam(0.01, 0.9, 0.999, 1e-7);
        first.fused = fusedFirst;
        const grad = (seed: number) => [{ name: w.name, tensor: tf.randomNormal([5, 13], 0, 1, 'float32', seed + 10) }]; // (seed 0 means unseeded)
        for (let s = 0; s < 3; s++) { const gs = grad(s); first.applyGradients(gs); tf.dispose(gs.map((x) => x.tensor)); }
        const saved = (await first.getWeights()).map((x) => ({ name: x.name, tensor: tf.tensor(x.tensor.dataSync(), x.tensor.shape) }));
        first.dispose();
        const second = new ScheduledAdam(0.01, 0.9, 0.999, 1e-7);
        second.fused = fusedThen;
        await second.setWeights(saved);
        assert.equal(second.getClassName(), 'Adam');
        for (let s = 3; s < 6; s++) { const gs = grad(s); second.applyGradients(gs); tf.dispose(gs.map((x) => x.tensor)); }
        const out = Array.from(w.dataSync());
        second.dispose();
        tf.dispose([w, ...saved.map((x) => x.tensor)]);
        return out;
      };
      const stock = await run(false, false);
      assertClose(await run(true, false), stock, 0, 1e-6, 'fused then stock');
      assertClose(await run(false, true), stock, 0, 1e-6, 'stock then fused');
    });
  });

  describe('native fused segmentation loss', () => {
    const lossAndGradient = (fused: boolean, labels: tf.Tensor3D): number[][] => {
      setFusedCrossEntropy(fused);
      try {
        return tf.tidy(() => {
          const logits = tf.mul(tf.randomNormal([2, 8, 8, 11], 0, 1, 'float32', 21), 3);
          const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => segmentationCrossEntropy(x as tf.Tensor4D, labels))([logits]);
          return [value, ...grads].map((t) => Array.from(t.dataSync()));
        });
      } finally {
        setFusedCrossEntropy(true);
      }
    };

    it('equals the tfjs composition in value and gradient (some pixels ignored, and all of them)', async () => {
      await setBackend('native');
      const some = tf.tidy(() => tf.where(tf.less(tf.randomUniform([2, 8, 8], 0, 1, 'float32', 22), 0.2), tf.fill([2, 8, 8], 255, 'int32'), tf.randomUniform([2, 8, 8], 0, 11, 'int32', 23))) as tf.Tensor3D;
      const all = tf.fill([2, 8, 8], 255, 'int32') as tf.Tensor3D;
      for (const labels of [some, all]) {
        const expected = lossAndGradient(false, labels);
        const before = tf.memory().numTensors;
        const actual = lossAndGradient(true, labels);
        assert.equal(tf.memory().numTensors, before, 'leaked tensors');
        actual.forEach((values, i) => assertClose(values, expected[i] as number[], 1e-7, RTOL, i === 0 ? 'loss' : 'gradient'));
      }
      assert.deepEqual(lossAndGradient(true, all)[0], [0], 'no pixel scored: loss 0');
      tf.dispose([some, all]);
    });

    it('runs the loss as one kernel and its gradient as one product', async () => {
      await setBackend('native');
      const logits = tf.randomNormal([2, 4, 4, 5], 0, 1, 'float32', 24);
      const labels = tf.randomUniform([2, 4, 4], 0, 5, 'int32', 25) as tf.Tensor3D;
      const profile = await tf.profile(() => tf.grad((x: tf.Tensor) => segmentationCrossEntropy(x as tf.Tensor4D, labels))(logits));
      const names = profile.kernels.map((k) => k.name);
      assert.equal(names.filter((n) => n === 'HemnetSoftmaxCrossEntropy').length, 1, names.join(' '));
      assert.ok(!names.includes('OneHot') && !names.includes('Exp') && !names.includes('Log'), names.join(' '));
      assert.equal(names.filter((n) => n === 'Multiply').length, 1, names.join(' '));
      tf.dispose(profile.result as tf.Tensor);
      // The loss alone (no tape) and its gradient leave nothing behind (the kernel's gradient output included).
      assertNoLeak(() => segmentationCrossEntropy(logits as tf.Tensor4D, labels), 'loss');
      assertNoLeak(() => tf.grad((x: tf.Tensor) => segmentationCrossEntropy(x as tf.Tensor4D, labels))(logits), 'loss gradient');
      tf.dispose([logits, labels]);
    });
  });

  describe('native backend', () => {
    it('trains a tiny HEM model with the same losses as cpu (Adam, 6 steps)', async () => {
      await setBackend('cpu');
      const reference = trainLosses(6);
      await setBackend('native');
      const before = tf.memory().numTensors;
      const native = trainLosses(6);
      assert.equal(tf.memory().numTensors, before, 'training leaked tensors');
      assert.ok((reference[5] as number) < (reference[0] as number), `the loss should fall: ${reference.join(', ')}`);
      assertClose(native, reference, 1e-6, 1e-4, 'losses');
    });

    it('trains data-parallel on 2 worker threads through the CLI, run after run (no state shared between threads in the addon)', () => {
      // The addon's oneDNN plan cache and stream were process-wide: two
      // workers' concurrent convolutions corrupted each other's plans, and
      // 3 of 4 such runs ended in a segfault. They are per thread now.
      const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
      for (let run = 0; run < 3; run++) {
        const out = mkdtempSync(join(tmpdir(), 'hemnet-native-workers-'));
        try {
          const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--backend', 'native', '--workers', '2', '--steps', '4',
            '--train-size', '40', '--val-size', '8', '--out', out, '--overwrite', '--quiet'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
          assert.equal(result.status, 0, `run ${run + 1}: exit ${String(result.status)} signal ${String(result.signal)}\n${result.stderr}`);
          const log = readFileSync(join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { type?: string; loss?: number });
          const losses = log.filter((r) => r.type === 'step' && typeof r.loss === 'number').map((r) => r.loss as number);
          assert.equal(losses.length, 4, 'one record per step');
          assert.ok(losses.every(Number.isFinite), `finite losses: ${losses.join(', ')}`);
        } finally {
          rmSync(out, { recursive: true, force: true });
        }
      }
    });

    it('does not leak tensors in a conv/BN/matMul step', async () => {
      await setBackend('native');
      const x = tf.randomNormal([2, 6, 6, 4]);
      const w = tf.randomNormal([3, 3, 4, 4]);
      assertNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => {
        const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same');
        const m = tf.moments(y, [0, 1, 2]);
        return tf.sum(tf.relu(tf.batchNorm(y, m.mean, m.variance, tf.zeros([4]), tf.ones([4]), 1e-3)));
      })([x, w]), 'native grads');
      tf.dispose([x, w]);
    });

    it('runs the ReLU gradient as one kernel, equal to tfjs\'s Step · Cast · Multiply (zeros and NaN included)', async () => {
      await setBackend('native');
      const x = tf.tensor([-2, -0, 0, 0.5, 3, NaN, -1e-30, 1e-30]);
      const dy = tf.tensor([1, 2, 3, 4, -5, 6, 7, Infinity]);
      const gradient = (): number[] => tf.tidy(() => Array.from(tf.grad((a: tf.Tensor) => tf.relu(a))(x, dy).dataSync()));
      setFusedReluGrad(false);
      const expected = gradient();
      setFusedReluGrad(true);
      assert.deepEqual(gradient(), expected);
      const profile = await tf.profile(() => tf.grad((a: tf.Tensor) => tf.relu(a))(x, dy));
      const names = profile.kernels.map((k) => k.name);
      assert.ok(names.includes('HemnetReluGrad') && !names.includes('Step') && !names.includes('Cast'), names.join(' '));
      tf.dispose(profile.result as tf.Tensor);
      assertNoLeak(() => tf.grad((a: tf.Tensor) => tf.relu(a))(x, dy), 'relu gradient');
      tf.dispose([x, dy]);
    });

    it('runs the one-slope PReLU gradient (GReLU) as one kernel per part, equal to tfjs\'s Greater · Select composition (zeros and NaN included)', async () => {
      await setBackend('native');
      const x = tf.tensor2d([-2, -0, 0, 0.5, 3, NaN, -1e-30, 1e-30, -7, 2.5, -0.25, 1], [3, 4]);
      const dy = tf.tensor2d([1, 2, 3, 4, -5, 6, 7, 8, -1, 0.5, 2, -3], [3, 4]);
      const grads = (alpha: tf.Tensor): number[][] =>
        tf.tidy(() => tf.grads((a: tf.Tensor, s: tf.Tensor) => tf.prelu(a, s))([x, alpha], dy).map((g) => Array.from(g.dataSync())));
      for (const alpha of [tf.scalar(0.3), tf.tensor1d([-1.5]), tf.scalar(0)]) {
        setFusedPreluGrad(false);
        const expected = grads(alpha);
        setFusedPreluGrad(true);
        assert.deepEqual(grads(alpha), expected, `alpha ${alpha.toString()}`);
        alpha.dispose();
      }
      // A per-channel α keeps tfjs's composition (and its numbers).
      const perChannel = tf.tensor1d([0.1, 0.2, 0.3, 0.4]);
      setFusedPreluGrad(false);
      const expected = grads(perChannel);
      setFusedPreluGrad(true);
      assert.deepEqual(grads(perChannel), expected);
      perChannel.dispose();
      const slope = tf.scalar(0.3);
      const profile = await tf.profile(() => tf.grads((a: tf.Tensor, s: tf.Tensor) => tf.prelu(a, s))([x, slope], dy));
      const names = profile.kernels.map((k) => k.name);
      assert.ok(names.filter((n) => n === 'HemnetPreluGrad').length === 2 && !names.includes('Greater') && !names.includes('Select'), names.join(' '));
      tf.dispose(profile.result as tf.Tensor[]);
      assertNoLeak(() => tf.grads((a: tf.Tensor, s: tf.Tensor) => tf.prelu(a, s))([x, slope], dy), 'prelu gradient');
      tf.dispose([x, dy, slope]);
    });

    it('gives the same convolutions, gradients and products on one thread and on all (the work threshold)', async () => {
      await setBackend('native');
      const { addon } = tf.backend() as NativeBackend;
      const [threads, parallelWork] = addon.threads(0, 0);
      assert.ok(threads >= 1 && parallelWork > 0, `threads ${threads}, parallelWork ${parallelWork}`);
      const run = (): number[][] => tf.tidy(() => {
        const x = tf.randomNormal([2, 12, 12, 16], 0, 1, 'float32', 31);
        const w = tf.randomNormal([3, 3, 16, 24], 0, 1, 'float32', 32);
        const a = tf.randomNormal([96, 80], 0, 1, 'float32', 33);
        const b = tf.randomNormal([80, 72], 0, 1, 'float32', 34);
        const f = (xi: tf.Tensor, wi: tf.Tensor): tf.Scalar => tf.sum(tf.square(tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, 'same')));
        const [dx, dw] = tf.grads(f)([x, w]);
        return [tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'), dx as tf.Tensor, dw as tf.Tensor, tf.matMul(a, b)].map((t) => Array.from(t.dataSync()));
      });
      try {
        addon.threads(1, parallelWork);
        const single = run();
        // Every convolution and product above the threshold: the multi-threaded paths (on a machine with more than one core).
        addon.threads(Math.max(2, threads), 1);
        const multi = run();
        single.forEach((values, i) => assertClose(multi[i] as number[], values, 1e-6, 1e-5, `array ${i}`));
      } finally {
        addon.threads(threads, parallelWork);
      }
      assert.deepEqual(addon.threads(0, 0), [threads, parallelWork]);
    });

    it('flushes subnormal floats to zero in its kernels by default, on every pool thread, and leaves JavaScript arithmetic alone', async () => {
      await setBackend('native');
      const { addon } = tf.backend() as NativeBackend;
      assert.equal(addon.flushDenormals(-1), process.env['HEMNET_FLUSH_DENORMALS'] !== '0' && process.arch === 'x64');
      assert.match(addon.info(), process.arch === 'x64' ? /denormals (flushed to zero|kept)/ : /denormals/);
      const tiny = 1e-39; // a float32 subnormal (the smallest normal is 1.18e-38)
      const [threads, parallelWork] = addon.threads(0, 0);
      const previous = addon.flushDenormals(-1);
      // A multiply and a 1×1 convolution of subnormal inputs, the convolution large enough and the
      // threshold low enough that oneDNN splits it over the OpenMP pool.
      const run = (): { product: number[]; conv: Float32Array } => tf.tidy(() => ({
        product: Array.from(tf.mul(tf.fill([8], tiny), tf.scalar(1)).dataSync()),
        conv: tf.conv2d(tf.fill([4, 32, 32, 16], tiny) as tf.Tensor4D, tf.fill([1, 1, 16, 16], 1) as tf.Tensor4D, 1, 'same').dataSync() as Float32Array,
      }));
      try {
        addon.threads(Math.max(2, threads), 1);
        if (process.arch === 'x64') {
          assert.equal(addon.flushDenormals(1), true);
          const flushed = run();
          assert.deepEqual(flushed.product, new Array(8).fill(0));
          assert.ok(flushed.conv.every((v) => v === 0), `every output 0 with the flush, found ${flushed.conv.find((v) => v !== 0)}`);
          // JavaScript's doubles on this thread were not flushed by the call.
          assert.ok(Number.MIN_VALUE * 1 > 0 && 1e-310 * 3 > 1e-310);
        }
        assert.equal(addon.flushDenormals(0), false);
        const kept = run();
        assert.ok(kept.product.every((v) => v > 0 && Math.abs(v - Math.fround(tiny)) < 1e-45), kept.product.join(', '));
        assert.ok(kept.conv.every((v) => v > 0), 'IEEE subnormals without the flush');
      } finally {
        addon.flushDenormals(previous ? 1 : 0);
        addon.threads(threads, parallelWork);
      }
    });

    it('never recycles a buffer handed out by dataSync', async () => {
      await setBackend('native');
      const x = tf.fill([64, 64], 2);
      const first = tf.relu(x);
      const values = first.dataSync();
      first.dispose();
      const second = tf.neg(x); // same size: would reuse the buffer if it were pooled
      assert.equal(values[0], 2);
      assert.equal(second.dataSync()[0], -2);
      tf.dispose([x, second]);
    });
  });
}

describe('native backend selection', () => {
  it('reports native absent: auto falls back to wasm with a note, --backend native says how to build it', () => {
    // A child process: this one has already loaded the addon (when built).
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
    const script = [
      "import { setBackend, availableBackends } from './src/backend.ts';",
      'const auto = await setBackend("auto");',
      'let message = "";',
      'try { await setBackend("native"); } catch (e) { message = e.message; }',
      'console.log(JSON.stringify({ name: auto.name, notes: auto.notes, available: await availableBackends(), message }));',
    ].join('\n');
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, HEMNET_NATIVE: '0', HEMNET_BACKEND: '' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { name: string; notes: string[]; available: string[]; message: string };
    assert.equal(report.name, 'wasm');
    assert.ok(!report.available.includes('native'), `native should be absent: ${report.available.join(', ')}`);
    assert.match(report.notes.join('\n'), /^native: disabled by HEMNET_NATIVE=0; build it with: apt-get install -y libdnnl-dev libopenblas-dev build-essential && npm run build:native$/);
    assert.match(report.message, /setBackend: backend 'native' could not be initialised \(disabled by HEMNET_NATIVE=0; build it with: apt-get install -y libdnnl-dev libopenblas-dev build-essential && npm run build:native\)/);
  });
});
