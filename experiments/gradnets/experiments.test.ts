/**
 * Each GradNets experiment at a tiny size (a few steps): the result structure
 * and finite numbers, not the accuracy.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../../src/backend.js';
import { loadMnist } from '../../src/data/mnist.js';
import { CLUTTERED_QUICK, CLUTTERED_VARIANTS, clutteredTable, runCluttered } from './cluttered.js';
import { clutteredMnist } from './clutteredMnist.js';
import { meanStd, parseFlags } from './common.js';
import { DEEP_MLP_QUICK, MLP_ACTIVATIONS, deepMlpTable, runDeepMlp } from './deepMlp.js';
import { DROPOUT_QUICK, dropoutTable, runDropout } from './dropout.js';
import { orthogonalMatrix } from './fastDense.js';
import { HEM_QUICK, hemTable, runHemStepSize } from './hemStepSize.js';

function assertProbability(value: number, label: string): void {
  assert.ok(Number.isFinite(value) && value >= 0 && value <= 1, `${label}: ${value} is not in [0, 1]`);
}

describe('GradNets experiments at a tiny size', () => {
  it('deep MLP: one run per activation and seed, finite accuracy and loss', async () => {
    await setBackend('wasm');
    const before = tf.memory().numTensors;
    const results = runDeepMlp({ ...DEEP_MLP_QUICK, depths: [2], seeds: [0], trainSize: 128, testSize: 64, maxSteps: 2 });
    assert.equal(results.runs.length, MLP_ACTIVATIONS.length);
    for (const run of results.runs) {
      assertProbability(run.result.testAccuracy, `${run.activation}`);
      assert.equal(run.result.steps, 2);
      assert.ok(run.result.trainLossPerEpoch.every(Number.isFinite));
    }
    assert.equal(results.summary.length, MLP_ACTIVATIONS.length);
    assert.equal(deepMlpTable(results).rows.length, 1);
    assert.equal(tf.memory().numTensors, before, 'no tensors leak across runs');
  });

  it('dropout: none + static/gradual per rate, finite numbers', async () => {
    await setBackend('wasm');
    const results = runDropout({ ...DROPOUT_QUICK, seeds: [0], maxSteps: 2 });
    assert.deepEqual(
      results.runs.map((r) => `${r.mode}:${r.rate}`),
      ['none:0', 'static:0.5', 'gradual:0.5'],
    );
    for (const run of results.runs) assertProbability(run.result.testAccuracy, run.mode);
    assert.ok(results.summary.every((s) => Number.isFinite(s.meanFinalTrainLoss)));
    assert.equal(dropoutTable(results).rows.length, 2);
  });

  it('cluttered MNIST: every variant trains a step and reports a finite accuracy', async () => {
    await setBackend('wasm');
    const results = runCluttered({ ...CLUTTERED_QUICK, maxSteps: 1 });
    assert.deepEqual(results.runs.map((r) => r.variant), [...CLUTTERED_VARIANTS]);
    for (const run of results.runs) assertProbability(run.result.testAccuracy, run.variant);
    assert.equal(clutteredTable(results).rows.length, CLUTTERED_VARIANTS.length);
  });

  it('annealed HEM η: finite mIoU, and the annealed run ends at η_end', async () => {
    await setBackend('wasm');
    const results = await runHemStepSize(HEM_QUICK);
    assert.equal(results.runs.length, 2);
    for (const run of results.runs) {
      assertProbability(run.meanIoU, run.variant);
      assert.ok(Number.isFinite(run.finalLoss));
    }
    const annealed = results.runs.find((r) => r.variant.startsWith('annealed'));
    assert.equal(annealed?.evalStepSize, 0.2, 'τ = steps/2 has passed, so η = η_end');
    assert.equal(hemTable(results).rows.length, 2);
  });
});

describe('experiment helpers', () => {
  it('clutteredMnist is a pure function of the seed and contains the digit', () => {
    const digits = loadMnist('test', 20);
    const a = clutteredMnist(digits, { count: 5, seed: 3 });
    const b = clutteredMnist(digits, { count: 5, seed: 3 });
    const c = clutteredMnist(digits, { count: 5, seed: 4 });
    assert.deepEqual(a.images, b.images);
    assert.notDeepEqual(a.images, c.images);
    assert.deepEqual(Array.from(a.labels), Array.from(digits.labels.subarray(0, 5)));
    // Every pixel of digit 0 appears somewhere: the image's total ink is at least the digit's.
    const ink = (arr: Float32Array) => arr.reduce((s, v) => s + v, 0);
    assert.ok(ink(a.images.subarray(0, 3600)) >= ink(digits.images.subarray(0, 784)) - 1e-3);
    assert.throws(() => clutteredMnist(digits, { count: 1, seed: 0, canvas: 20 }), /clutteredMnist: 'canvas' must be ≥ 28, received 20/);
  });

  it('orthogonalMatrix has orthonormal columns (tall) and rows (wide)', async () => {
    await setBackend('wasm');
    for (const [rows, cols] of [[12, 5], [5, 12]] as const) {
      const q = orthogonalMatrix(rows, cols, 1);
      const gram = rows >= cols ? tf.matMul(q, q, true, false) : tf.matMul(q, q, false, true);
      const eye = tf.eye(Math.min(rows, cols));
      const error = tf.max(tf.abs(tf.sub(gram, eye))).dataSync()[0] as number;
      assert.ok(error < 1e-5, `QᵀQ = I within ${error}`);
      tf.dispose([q, gram, eye]);
    }
  });

  it('meanStd ignores non-finite values and uses the n − 1 deviation', () => {
    assert.deepEqual(meanStd([1, 3, NaN]), { mean: 2, std: Math.SQRT2, n: 2 });
    assert.deepEqual(meanStd([NaN]).n, 0);
  });

  it('parseFlags reads every flag and names the bad ones', () => {
    assert.deepEqual(parseFlags(['--only', '50', '--epochs', '8', '--activations', 'relu,grelu', '--seeds', '2']), {
      quick: false, probe: false, seeds: 2, only: ['50'], gain: null, epochs: 8, activations: ['relu', 'grelu'], learningRate: null,
    });
    assert.equal(parseFlags(['--lr', '3e-4']).learningRate, 3e-4);
    assert.throws(() => parseFlags(['--lr', '-1']), /--lr must be a positive number, received -1/);
    assert.throws(() => parseFlags(['--epochs', '0']), /--epochs must be a positive integer, received 0/);
    assert.throws(() => parseFlags(['--seeds', 'x']), /--seeds must be a positive integer, received NaN/);
    assert.throws(() => parseFlags(['--fast']), /unknown flag '--fast' \(known: --quick, --probe, --seeds N, --only a,b, --gain G, --epochs N, --activations a,b, --lr LR\)/);
  });
});
