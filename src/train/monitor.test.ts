import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadMnistScenes } from '../data/mnistScenes.js';
import { disposeHemResult } from '../em/unroll.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { effectiveNumber } from '../metrics/bases.js';
import { segmentationCrossEntropy } from './loss.js';
import { trainSegmentation, type TrainEvent } from './loop.js';
import { applyFrom, backboneGradientNorm, backboneOutput, datasetBasesUsage, disposeProbe, disposeValidationProbe, fitSample, formatBasesUsage, headBasesUsage, measureTraining, probeBatch, validationMetrics, validationProbe } from './monitor.js';
import { evaluateSegmentation, findHemHeads } from './evaluate.js';
import '../data/builtinDatasets.js';
import { mergeRunConfig, defaultRunConfig } from './runConfig.js';
import { useBackend } from '../../test/helpers.js';

const TINY_MODEL = { inputSize: [32, 32] as [number, number], width: 4, channels: 8, midChannels: 8, hem: { numBases: 4 }, seed: 3 };

function scenes(size: number) {
  return loadMnistScenes({ split: 'val', size, canvasSize: 32, digitScale: [0.8, 1.1], seed: 5 });
}

describe('training monitor', () => {
  it('runs on wasm (dilated-conv gradients registered)', async () => {
    await useBackend('wasm');
  });

  it('bases usage of a HEM head: exp(H) of the mean γ the head computes, shares summing to 1', async () => {
    const { model } = buildSegmentationModel({ ...TINY_MODEL, head: 'hem' });
    const probe = await probeBatch(scenes(3), 3);
    const before = tf.memory().numTensors;
    const [usage, ...rest] = headBasesUsage(model, probe.images);
    assert.equal(tf.memory().numTensors, before, 'no tensor leak');
    assert.equal(rest.length, 0);
    assert.ok(usage !== undefined);
    assert.equal(usage.share.length, 4);
    assert.ok(Math.abs(usage.share.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    // Independently: γ from the head's own attend on the features, averaged by hand.
    const head = findHemHeads(model)[0]!;
    const features = tf.model({ inputs: model.inputs, outputs: head.input as tf.SymbolicTensor }).predict(probe.images) as tf.Tensor4D;
    const result = head.attend(features);
    const gamma = result.gamma.arraySync();
    const share = [0, 0, 0, 0];
    let rows = 0;
    for (const item of gamma) for (const row of item) { row.forEach((g, k) => (share[k]! += g)); rows++; }
    const expected = Math.exp(-share.map((s) => s / rows).reduce((h, p) => h + (p > 0 ? p * Math.log(p) : 0), 0));
    assert.ok(Math.abs(usage.effectiveBases - expected) < 1e-4, `${usage.effectiveBases} vs ${expected}`);
    assert.ok(usage.effectiveBases >= 1 && usage.effectiveBases <= 4);
    // Per pixel: exp of the mean row entropy, by hand; never above the mean-usage number (concavity of H).
    let rowEntropy = 0;
    for (const item of gamma) for (const row of item) rowEntropy -= row.reduce((h, g) => h + (g > 0 ? g * Math.log(g) : 0), 0);
    assert.ok(Math.abs(usage.pixelBases - Math.exp(rowEntropy / rows)) < 1e-4, `${usage.pixelBases} vs ${Math.exp(rowEntropy / rows)}`);
    assert.ok(usage.pixelBases >= 1 && usage.pixelBases <= usage.effectiveBases + 1e-6);
    assert.match(formatBasesUsage([usage]), /^bases head\/hem: effective \d\.\d\d of 4 \(top shares [\d. ]+; per pixel \d\.\d\d; distinct μ⁽⁰⁾ 4\)$/);
    assert.equal(usage.distinctBases, 4, 'a fresh head has 4 different random bases');
    disposeHemResult(result);
    features.dispose();
    disposeProbe(probe);
    model.dispose();
  });

  it('datasetBasesUsage averages over all images whatever the batch size; fcn has no heads', async () => {
    const { model } = buildSegmentationModel({ ...TINY_MODEL, head: 'ema' });
    const data = scenes(4);
    const [a] = await datasetBasesUsage(model, data, { batchSize: 4 });
    const [b] = await datasetBasesUsage(model, data, { batchSize: 3 });
    assert.ok(a !== undefined && b !== undefined);
    a.share.forEach((p, k) => assert.ok(Math.abs(p - (b.share[k] as number)) < 1e-5));
    assert.ok(Math.abs(a.effectiveBases - effectiveNumber(a.share)) < 1e-9);
    assert.ok(Math.abs(a.pixelBases - b.pixelBases) < 1e-4, `per pixel ${a.pixelBases} vs ${b.pixelBases}`);
    const [two] = await datasetBasesUsage(model, data, { batchSize: 4, limit: 2 });
    const probe = await probeBatch(data, 2);
    const [direct] = headBasesUsage(model, probe.images);
    assert.ok(Math.abs(two!.effectiveBases - direct!.effectiveBases) < 1e-5);
    disposeProbe(probe);
    model.dispose();
    const fcn = buildSegmentationModel({ ...TINY_MODEL, head: 'fcn' }).model;
    assert.deepEqual(await datasetBasesUsage(fcn, data), []);
    fcn.dispose();
  });

  it('applyFrom replays the head from the backbone output exactly', async () => {
    for (const head of ['hem', 'fcn'] as const) {
      const { model, backbone } = buildSegmentationModel({ ...TINY_MODEL, head });
      const from = backboneOutput(model);
      assert.ok(from !== null);
      assert.deepEqual(from.shape, backbone.outputs[0]!.shape);
      const probe = await probeBatch(scenes(2), 2);
      const [full, replayed] = tf.tidy(() => [model.predict(probe.images) as tf.Tensor, applyFrom(model, from, backbone.predict(probe.images) as tf.Tensor)]);
      assert.ok(tf.max(tf.abs(tf.sub(full!, replayed!))).dataSync()[0]! < 1e-4, head);
      tf.dispose([full!, replayed!]);
      disposeProbe(probe);
      model.dispose();
    }
  });

  it('‖∂loss/∂backbone output‖ matches a finite difference along the gradient', async () => {
    for (const head of ['hem', 'ema', 'fcn'] as const) {
      const { model, backbone } = buildSegmentationModel({ ...TINY_MODEL, head });
      const probe = await probeBatch(scenes(2), 2);
      const norm = backboneGradientNorm(model, probe);
      assert.ok(norm !== null && norm > 0, `${head}: ${String(norm)}`);
      const from = backboneOutput(model)!;
      const loss = (f: tf.Tensor) => segmentationCrossEntropy(applyFrom(model, from, f) as tf.Tensor4D, probe.labels, probe.ignoreLabel);
      const slope = tf.tidy(() => {
        const f = backbone.predict(probe.images) as tf.Tensor;
        const g = tf.grad(loss)(f);
        const direction = tf.div(g, tf.norm(g));
        const eps = 1e-2;
        const plus = loss(tf.add(f, tf.mul(direction, eps))).dataSync()[0]!;
        const minus = loss(tf.sub(f, tf.mul(direction, eps))).dataSync()[0]!;
        return (plus - minus) / (2 * eps);
      });
      assert.ok(Math.abs(slope - norm) / norm < 0.05, `${head}: finite difference ${slope} vs ‖g‖ ${norm}`);
      disposeProbe(probe);
      model.dispose();
    }
  });

  it("trainSegmentation emits 'monitor' events after step 1 and every `every` steps", async () => {
    const { model } = buildSegmentationModel({ ...TINY_MODEL, head: 'hem' });
    const data = scenes(4);
    const probe = await probeBatch(data, 2);
    const events: TrainEvent[] = [];
    await trainSegmentation({
      model,
      dataset: data,
      options: { optimizer: 'adam', steps: 4, batchSize: 2, learningRate: 1e-3, momentum: 0.9, weightDecay: 0, lrPower: 0.9, seed: 0, checkpointEvery: 0 },
      monitor: { every: 3, measure: () => measureTraining(model, probe, { gradient: true }) },
      onEvent: (e) => events.push(e),
    });
    const monitors = events.filter((e): e is Extract<TrainEvent, { type: 'monitor' }> => e.type === 'monitor');
    assert.deepEqual(monitors.map((e) => e.step), [1, 3]);
    for (const e of monitors) {
      assert.equal(e.bases.length, 1);
      assert.ok(e.bases[0]!.effectiveBases >= 1 && e.bases[0]!.effectiveBases <= 4);
      assert.ok(typeof e.backboneGradientNorm === 'number' && e.backboneGradientNorm > 0);
    }
    disposeProbe(probe);
    model.dispose();
  });

  it('rejects a bad probe size', async () => {
    await assert.rejects(probeBatch(scenes(1), 0), /probeBatch: 'count' must be an integer ≥ 1, received 0/);
    await assert.rejects(validationProbe(scenes(1), 0), /validationProbe: 'count' must be an integer ≥ 1, received 0/);
    await assert.rejects(validationProbe(scenes(1), 1, null, 0), /validationProbe: 'batchSize' must be an integer ≥ 1, received 0/);
  });

  it('validation metrics on the first N images equal evaluateSegmentation limited to N, in any batching, without leaks', async () => {
    for (const head of ['hem', 'fcn'] as const) {
      const { model } = buildSegmentationModel({ ...TINY_MODEL, head });
      const data = scenes(7);
      const expected = (await evaluateSegmentation(model, data, { limit: 5, batchSize: 2 })).metrics;
      for (const batchSize of [2, 5, 8]) {
        const probe = await validationProbe(data, 5, [32, 32], batchSize);
        assert.equal(probe.samples, 5);
        assert.equal(probe.batches.length, Math.ceil(5 / batchSize));
        const before = tf.memory().numTensors;
        const got = validationMetrics(model, probe);
        assert.equal(tf.memory().numTensors, before, 'no tensor leak');
        assert.equal(got.samples, 5);
        assert.ok(Math.abs(got.meanIoU - expected.meanIoU) < 1e-9, `${head} batch ${batchSize}: ${got.meanIoU} vs ${expected.meanIoU}`);
        assert.ok(Math.abs(got.pixelAccuracy - expected.pixelAccuracy) < 1e-9);
        disposeValidationProbe(probe);
      }
      // More than the split holds: all of it.
      const all = await validationProbe(data, 100, null, 4);
      assert.equal(all.samples, 7);
      disposeValidationProbe(all);
      model.dispose();
    }
  });

  it("monitor events carry the validation curve when asked, null otherwise; 'train.monitorValidation' is validated", async () => {
    const { model } = buildSegmentationModel({ ...TINY_MODEL, head: 'fcn' });
    const data = scenes(4);
    const probe = await probeBatch(data, 2);
    const validation = await validationProbe(data, 3);
    const events: TrainEvent[] = [];
    await trainSegmentation({
      model,
      dataset: data,
      options: { optimizer: 'adam', steps: 2, batchSize: 2, learningRate: 1e-3, momentum: 0.9, weightDecay: 0, lrPower: 0.9, seed: 0, checkpointEvery: 0 },
      monitor: { every: 2, measure: (step) => measureTraining(model, probe, { gradient: false, validation: step === 2 ? validation : null }) },
      onEvent: (e) => events.push(e),
    });
    const monitors = events.filter((e): e is Extract<TrainEvent, { type: 'monitor' }> => e.type === 'monitor');
    assert.deepEqual(monitors.map((e) => e.step), [1, 2]);
    assert.equal(monitors[0]!.validation, null);
    const v = monitors[1]!.validation!;
    assert.equal(v.samples, 3);
    const direct = validationMetrics(model, validation);
    assert.equal(v.meanIoU, direct.meanIoU, 'measured on the trained weights, inference mode (deterministic)');
    assert.ok(v.pixelAccuracy >= 0 && v.pixelAccuracy <= 1);
    disposeValidationProbe(validation);
    disposeProbe(probe);
    model.dispose();
    assert.equal(defaultRunConfig().train.monitorValidation, 0, 'off by default');
    assert.equal(mergeRunConfig(defaultRunConfig(), { train: { monitorValidation: 50 } }).train.monitorValidation, 50);
    assert.throws(() => mergeRunConfig(defaultRunConfig(), { train: { monitorValidation: -1 } }, 'c.json'), /c\.json: 'train\.monitorValidation' must be .*≥ 0.*-1|monitorValidation.*-1/);
  });
});

describe('fitSample (validation images at their own size into a fixed-size model)', () => {
  it('centre-crops larger images and pads smaller ones with the ignore label', () => {
    // 2×4 image, 1 channel, values = pixel index; labels = 10 + index.
    const sample = { image: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), label: Uint8Array.from([10, 11, 12, 13, 14, 15, 16, 17]), height: 2, width: 4, channels: 1, id: 's' };
    const cropped = fitSample(sample, [2, 2], 255);
    assert.deepEqual(Array.from(cropped.image), [1, 2, 5, 6]);
    assert.deepEqual(Array.from(cropped.label), [11, 12, 15, 16]);
    const padded = fitSample(sample, [4, 4], 255);
    assert.deepEqual(Array.from(padded.label), [255, 255, 255, 255, 10, 11, 12, 13, 14, 15, 16, 17, 255, 255, 255, 255]);
    assert.equal(padded.image[0], 0);
    assert.equal(fitSample(sample, [2, 4], 255), sample, 'unchanged when the size matches');
  });
});
