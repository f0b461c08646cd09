import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { HemHead } from '../layers/hemHead.js';
import { assertClose } from '../../test/helpers.js';
import { saveAndLoad } from '../../test/layers.js';
import { buildSegmentationModel, countParameters, defaultModelConfig, summarizeModel, validateModelConfig, type SegmentationModelConfig } from './zoo.js';

/** Small models for tests: 32×32 inputs, width 8. */
const SMALL: Partial<SegmentationModelConfig> = {
  inputSize: [32, 32],
  numClasses: 5,
  width: 8,
  channels: 16,
  midChannels: 16,
  hem: { numBases: 8 },
  seed: 7,
};

function images(batch: number, seed: number): tf.Tensor4D {
  return tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', seed);
}

describe('buildSegmentationModel', () => {
  for (const head of ['hem', 'ema', 'fcn'] as const) {
    for (const outputStride of [4, 8]) {
      it(`${head} head at OS ${outputStride}: logits [B, H, W, numClasses]`, async () => {
        await setBackend('wasm');
        const built = buildSegmentationModel({ ...SMALL, head, outputStride });
        assert.equal(built.outputStride, outputStride);
        assert.equal(built.hemHead === null, head === 'fcn');
        if (built.hemHead !== null) {
          // The head name picks the preset of the same name; the config's HemHead options pass through.
          assert.equal(built.hemHead.options.preset, head);
          assert.equal(built.hemHead.options.stepSize, head === 'hem' ? 0.5 : 1);
          assert.equal(built.hemHead.options.numBases, 8);
        }
        const x = images(2, 1);
        const before = tf.memory().numTensors;
        const logits = built.model.predict(x) as tf.Tensor;
        assert.deepEqual(logits.shape, [2, 32, 32, 5]);
        assert.ok(logits.dataSync().every(Number.isFinite));
        const features = built.backbone.predict(x) as tf.Tensor;
        assert.deepEqual(features.shape, [2, 32 / outputStride, 32 / outputStride, 64]);
        tf.dispose([logits, features]);
        assert.equal(tf.memory().numTensors, before, 'predict leaked tensors');
        x.dispose();
        built.model.dispose();
      });
    }
  }

  it('adds the auxiliary FCN head as a second output', async () => {
    await setBackend('wasm');
    const { model } = buildSegmentationModel({ ...SMALL, auxiliaryHead: true, outputStride: 8 });
    assert.equal(model.outputs.length, 2);
    assert.ok(model.layers.some((layer) => layer.name === 'aux/classifier'));
    const x = images(1, 2);
    const [logits, aux] = model.predict(x) as tf.Tensor[];
    assert.deepEqual(logits?.shape, [1, 32, 32, 5]);
    assert.deepEqual(aux?.shape, [1, 32, 32, 5]);
    // Two different classifiers: the outputs differ.
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(logits!, aux!))).dataSync()[0] as number) > 1e-3);
    // Both outputs train: one SGD step on the sum of the two losses moves the aux classifier.
    const labels = tf.tidy(() => tf.oneHot(tf.randomUniform([1, 32, 32], 0, 5, 'int32', 9), 5));
    const auxKernel = model.getLayer('aux/classifier').getWeights()[0] as tf.Tensor;
    const kernelBefore = Array.from(auxKernel.dataSync());
    const optimizer = tf.train.sgd(0.1);
    const stepLoss = optimizer.minimize(() => {
      const [main, auxiliary] = model.apply(x, { training: true }) as tf.Tensor[];
      return tf.add(tf.losses.softmaxCrossEntropy(labels, main!), tf.mul(0.4, tf.losses.softmaxCrossEntropy(labels, auxiliary!))) as tf.Scalar;
    }, true);
    assert.ok(stepLoss !== null && Number.isFinite(stepLoss.dataSync()[0]));
    stepLoss.dispose();
    const kernelAfter = Array.from((model.getLayer('aux/classifier').getWeights()[0] as tf.Tensor).dataSync());
    assert.ok(kernelAfter.some((v, i) => Math.abs(v - (kernelBefore[i] as number)) > 1e-6), 'the aux classifier did not move');
    optimizer.dispose();
    tf.dispose([x, logits, aux, labels]);
    model.dispose();
  });

  it('is reproducible from its seed', async () => {
    await setBackend('wasm');
    const x = images(1, 3);
    const run = (seed: number): Float32Array => {
      const { model } = buildSegmentationModel({ ...SMALL, seed });
      const y = model.predict(x) as tf.Tensor;
      const values = y.dataSync() as Float32Array;
      y.dispose();
      model.dispose();
      return values;
    };
    const a = run(1);
    assertClose(Array.from(run(1)), Array.from(a), 0, 0, 'same seed');
    const c = run(2);
    assert.ok(c.some((v, i) => Math.abs(v - (a[i] as number)) > 1e-4), 'another seed gave the same model');
    x.dispose();
  });

  it('saves and loads the hem model with equal predictions and μ⁽⁰⁾', async () => {
    await setBackend('wasm');
    const { model, hemHead } = buildSegmentationModel({ ...SMALL, hem: { numBases: 8, evalIterations: 5 } });
    // One training-mode pass moves μ⁽⁰⁾ and the BN statistics off their initial values.
    tf.tidy(() => model.apply(images(2, 4), { training: true }) as tf.Tensor);
    const loaded = await saveAndLoad(model);
    const x = images(2, 5);
    const expected = model.predict(x) as tf.Tensor;
    const actual = loaded.predict(x) as tf.Tensor;
    assertClose(actual, expected, 1e-5, 0, 'predictions');
    const loadedHead = loaded.layers.find((layer): layer is HemHead => layer instanceof HemHead);
    assert.ok(loadedHead !== undefined && hemHead !== null);
    assert.equal(loadedHead.name, 'head/hem');
    assert.equal(loadedHead.evalIterations, 5);
    const bases = (head: HemHead): number[] => Array.from(head.weights.find((w) => w.originalName.endsWith('/bases'))!.read().dataSync());
    assertClose(bases(loadedHead), bases(hemHead), 0, 0, 'μ⁽⁰⁾');
    assert.deepEqual(loaded.layers.map((l) => l.name), model.layers.map((l) => l.name));
    tf.dispose([x, expected, actual]);
    model.dispose();
    loaded.dispose();
  });

  it('trains the hem model on wasm: SGD lowers the loss, tensor count flat per step', async () => {
    await setBackend('wasm');
    const { model } = buildSegmentationModel({ ...SMALL, dropout: 0 });
    const x = images(4, 6);
    const labels = tf.tidy(() => tf.oneHot(tf.randomUniform([4, 32, 32], 0, 5, 'int32', 8), 5));
    const optimizer = tf.train.sgd(0.1);
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 8; step++) {
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true);
      assert.ok(loss !== null);
      losses.push(loss.dataSync()[0] as number);
      loss.dispose();
      counts.push(tf.memory().numTensors);
    }
    const text = losses.map((v) => v.toFixed(4)).join(', ');
    assert.ok(losses.every(Number.isFinite), text);
    assert.ok((losses[7] as number) < (losses[0] as number) - 0.05, `loss did not fall: ${text}`);
    // Step 1 creates no optimizer state for plain SGD; the count must never move.
    assert.deepEqual(counts, counts.map(() => counts[0]), `tensor counts per step: ${counts.join(', ')}`);
    optimizer.dispose();
    tf.dispose([x, labels]);
    model.dispose();
  });
});

describe('model config', () => {
  it('fills defaults and merges hem options key by key', () => {
    const config = defaultModelConfig({ head: 'ema', hem: { stepSize: 0.8 } });
    assert.equal(config.backbone, 'compact');
    assert.equal(config.head, 'ema');
    assert.deepEqual(config.inputSize, [64, 64]);
    assert.equal(config.hem.stepSize, 0.8);
    assert.equal(config.hem.numBases, 16);
    assert.deepEqual(validateModelConfig(JSON.parse(JSON.stringify(config))), config);
  });

  it('pins the error messages', () => {
    assert.throws(
      () => buildSegmentationModel({ head: 'hemm' as 'hem' }),
      /^Error: buildSegmentationModel: 'head' must be one of 'hem', 'ema', 'fcn', received 'hemm'$/,
    );
    assert.throws(
      () => buildSegmentationModel({ backbone: 'resnet18' as 'compact' }),
      /^Error: buildSegmentationModel: 'backbone' must be one of 'compact', 'resnet50', 'resnet101', received 'resnet18'$/,
    );
    assert.throws(() => buildSegmentationModel({ numClass: 3 } as Partial<SegmentationModelConfig>), /buildSegmentationModel: unknown config key 'numClass' \(valid: backbone, head, numClasses,/);
    assert.throws(() => buildSegmentationModel({ outputStride: 16 }), /buildSegmentationModel: 'outputStride' must be one of 4, 8, received 16/);
    assert.throws(() => buildSegmentationModel({ backbone: 'resnet50', outputStride: 4 }), /'outputStride' must be one of 8, 16, received 4/);
    assert.throws(() => buildSegmentationModel({ backbone: 'resnet101', outputStride: 4 }), /'outputStride' must be one of 8, 16, received 4/);
    assert.throws(() => buildSegmentationModel({ inputSize: [60, 64] }), /buildSegmentationModel: 'inputSize' must be \[H, W\] of positive integers divisible by outputStride 8, received \[60,64\]/);
    assert.throws(() => buildSegmentationModel({ hem: { stepSize: 1.5 } }), /buildSegmentationModel: 'stepSize' must be in \(0, 1\], received 1.5/);
    assert.throws(() => buildSegmentationModel({ hem: { numBasis: 3 } as never }), /buildSegmentationModel: unknown key 'hem\.numBasis' \(valid: numBases, emChannels, /);
    assert.throws(() => defaultModelConfig({ dropout: 1 }), /defaultModelConfig: 'dropout' must be in \[0, 1\), received 1/);
    const { inputSize: _dropped, ...incomplete } = defaultModelConfig();
    assert.throws(() => validateModelConfig(incomplete), /buildSegmentationModel: config is missing 'inputSize'/);
  });

  it('counts parameters and summarises layers', () => {
    const { model } = buildSegmentationModel({ ...SMALL, outputStride: 8 });
    const total = countParameters(model);
    const trainable = countParameters(model, 'trainable');
    const expectedTotal = model.weights.reduce((sum, w) => sum + w.shape.reduce((p: number, d) => p * (d as number), 1), 0);
    assert.equal(total, expectedTotal);
    // Non-trainable: BN moving statistics (2 per channel) and μ⁽⁰⁾ [K, C] = [8, 16].
    const bnChannels = model.layers.filter((l) => l.getClassName() === 'BatchNormalization').reduce((s, l) => s + (l.weights[0]?.shape[0] as number), 0);
    assert.equal(total - trainable, 2 * bnChannels + 2 * 16 + 8 * 16);
    const summary = summarizeModel(model);
    assert.match(summary, /^model hemnet_compact_hem/);
    assert.match(summary, /head\/hem\s+HemHead\s+\[B, 4, 4, 16\]\s+\d+/);
    assert.match(summary, /head\/logits\s+BilinearUpsample\s+\[B, 32, 32, 5\]\s+0/);
    assert.match(summary, new RegExp(`total params: ${total} \\(trainable ${trainable}, non-trainable ${total - trainable}\\)`));
    assert.throws(() => countParameters(model, 'some' as 'all'), /countParameters: 'which' must be one of 'all', 'trainable', 'nonTrainable', received 'some'/);
    model.dispose();
  });

  it('builds resnet101 ([3, 4, 23, 3] bottlenecks) from the config', () => {
    const { model, config } = buildSegmentationModel({ ...SMALL, backbone: 'resnet101', width: 2, outputStride: 16, head: 'fcn' });
    assert.equal(config.backbone, 'resnet101');
    assert.equal(model.layers.filter((l) => /^backbone\/stage3\/block\d+\/add$/.test(l.name)).length, 23);
    model.dispose();
  });
});
