import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { segmentationCrossEntropy } from './loss.js';
import { polyLearningRate } from './schedule.js';
import { batchIndices, decayedVariables, trainSegmentation, type TrainEvent, type TrainOptions } from './loop.js';
import { captureCheckpoint, restoreModel, restoreOptimizer } from './checkpoint.js';
import { createOptimizer } from './optimizer.js';
import { loadModelFromFiles, readLatestCheckpoint, saveModelToFiles, writeCheckpoint } from './checkpointFiles.js';
import { hemHead } from '../layers/hemHead.js';
import { Dropout } from '../layers/dropout.js';
import type { SegmentationDataset, SegmentationSample } from '../data/types.js';
import { assertClose, useBackend } from '../../test/helpers.js';

/** Squares on a 12×12 canvas: class 1 or 2 by brightness, background 0, a ring of ignore labels. */
function squaresDataset(size: number): SegmentationDataset {
  const side = 12;
  return {
    numClasses: 3,
    ignoreLabel: 255,
    classNames: ['background', 'dim', 'bright'],
    size,
    get(index: number): SegmentationSample {
      const image = new Float32Array(side * side * 3);
      const label = new Uint8Array(side * side);
      const cls = (index % 2) + 1;
      const top = index % 5;
      const left = (index * 3) % 5;
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const inside = y >= top + 1 && y < top + 6 && x >= left + 1 && x < left + 6;
          const edge = !inside && y >= top && y < top + 7 && x >= left && x < left + 7;
          label[y * side + x] = inside ? cls : edge ? 255 : 0;
          for (let c = 0; c < 3; c++) image[(y * side + x) * 3 + c] = inside ? cls - 1 : edge ? 0.2 : -1;
        }
      }
      return { image, label, height: side, width: side, channels: 3, id: `square-${index}` };
    },
  };
}

function smallModel(seed: number): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed }), name: 'stem' }).apply(input) as tf.SymbolicTensor;
  x = hemHead({ numBases: 4, seed, name: 'hem' }).apply(x) as tf.SymbolicTensor;
  // Dropout as the zoo heads have it: a resumed run must draw the masks the uninterrupted one drew.
  x = new Dropout({ rate: 0.2, seed: seed + 2, name: 'dropout' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }), name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

const OPTIONS: TrainOptions = { optimizer: 'sgd', steps: 6, batchSize: 4, learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4, lrPower: 0.9, seed: 3, checkpointEvery: 3 };

describe('segmentation loss and schedule', () => {
  it('cross-entropy matches a hand computation and skips the ignore label', async () => {
    await useBackend('wasm');
    tf.tidy(() => {
      // Two pixels: logits (0, ln 3) with label 1 → −ln(3/4); logits (0, 0) with label 255 → ignored.
      const logits = tf.tensor4d([0, Math.log(3), 0, 0], [1, 1, 2, 2]);
      const labels = tf.tensor3d([1, 255], [1, 1, 2], 'int32');
      assertClose(segmentationCrossEntropy(logits, labels), [-Math.log(3 / 4)], 1e-6);
      const allIgnored = tf.tensor3d([255, 255], [1, 1, 2], 'int32');
      assertClose(segmentationCrossEntropy(logits, allIgnored), [0], 0);
      assert.throws(() => segmentationCrossEntropy(logits, tf.zeros([1, 2, 2], 'int32') as tf.Tensor3D), /segmentationCrossEntropy: 'labels' must have shape \[1, 1, 2\] to match 'logits', received \[1, 2, 2\]/);
    });
  });

  for (const backend of ['wasm', 'cpu'] as const) {
    it(`cross-entropy on ${backend}: value and gradient equal log-softmax autodiff (ignored pixels and labels outside [0, K) get none), no tensors left`, async () => {
      await useBackend(backend);
      const logits = tf.randomNormal([2, 3, 4, 5], 0, 3, 'float32', 7) as tf.Tensor4D;
      // 255 is ignored; 7 is outside the 5 classes: a zero one-hot row (as tf.oneHot), counted in the mean.
      const labelValues = Array.from({ length: 24 }, (_, i) => (i % 7 === 3 ? 255 : i === 8 || i === 20 ? 7 : (i * 3) % 5));
      const labels = tf.tensor3d(labelValues, [2, 3, 4], 'int32');
      const reference = (x: tf.Tensor) =>
        tf.tidy(() => {
          const flat = tf.reshape(x, [24, 5]);
          const scored = tf.tensor1d(labelValues.map((v) => (v === 255 ? 0 : 1)));
          const oneHot = tf.oneHot(tf.tensor1d(labelValues.map((v) => (v === 255 ? 0 : v)), 'int32'), 5);
          const perPixel = tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(flat)), 1));
          return tf.div(tf.sum(tf.mul(perPixel, scored)), tf.sum(scored)) as tf.Scalar;
        });
      const before = tf.memory().numTensors;
      const ours = tf.valueAndGrad((x: tf.Tensor) => segmentationCrossEntropy(x as tf.Tensor4D, labels))(logits);
      const theirs = tf.valueAndGrad(reference)(logits);
      assertClose(ours.value, Array.from(theirs.value.dataSync()), 1e-5);
      assertClose(ours.grad, Array.from(theirs.grad.dataSync()), 1e-5);
      const grad = ours.grad.dataSync();
      for (let i = 0; i < 24; i++) {
        if (labelValues[i] !== 255 && labelValues[i] !== 7) continue;
        for (let c = 0; c < 5; c++) assert.ok(grad[i * 5 + c] === 0, `pixel ${i} (label ${labelValues[i]}) gets no gradient (${grad[i * 5 + c]})`);
      }
      tf.dispose([ours.value, ours.grad, theirs.value, theirs.grad]);
      assert.equal(tf.memory().numTensors, before, 'no tensors left by the loss and its gradient');
      tf.dispose([logits, labels]);
    });
  }

  it('poly decay: base at 0, base·(1/2)^0.9 half-way, 0 at the end', () => {
    assert.equal(polyLearningRate(0.01, 0, 100), 0.01);
    assert.ok(Math.abs(polyLearningRate(0.01, 50, 100) - 0.01 * 0.5 ** 0.9) < 1e-12);
    assert.equal(polyLearningRate(0.01, 100, 100), 0);
    assert.throws(() => polyLearningRate(0.01, 0, 0), /polyLearningRate: 'totalSteps' must be > 0, received 0/);
  });

  it('batch order is a seeded permutation per epoch, reproducible from the step alone', () => {
    const seen = new Set<number>();
    for (let step = 0; step < 5; step++) batchIndices(step, 2, 10, 7).indices.forEach((i) => seen.add(i));
    assert.equal(seen.size, 10, 'one epoch covers every sample once');
    assert.deepEqual(batchIndices(7, 3, 10, 7), batchIndices(7, 3, 10, 7));
    assert.notDeepEqual(batchIndices(0, 10, 10, 7).indices, batchIndices(0, 10, 10, 8).indices);
    assert.deepEqual(batchIndices(3, 4, 10, 1).epochs, [1, 1, 1, 1]);
  });
});

describe('trainSegmentation', () => {
  it('lowers the loss, decays only kernels, emits events, and keeps numTensors flat per step', async () => {
    await useBackend('wasm');
    const model = smallModel(1);
    const decayed = decayedVariables(model).map((v) => v.originalName);
    assert.ok(decayed.some((n) => n.includes('stem/kernel')) && decayed.some((n) => n.includes('in_kernel')));
    assert.ok(!decayed.some((n) => /bias|gamma|beta|bases|moving/.test(n)), `decayed ${decayed.join(', ')}`);
    const counts: number[] = [];
    const events: TrainEvent[] = [];
    const afterSteps: number[] = [];
    const result = await trainSegmentation({
      model,
      dataset: squaresDataset(16),
      options: { ...OPTIONS, steps: 20, checkpointEvery: 0 },
      onEvent: (event) => {
        events.push(event);
        if (event.type === 'step') counts.push(tf.memory().numTensors);
      },
      afterStep: async (step) => {
        await new Promise((resolve) => setTimeout(resolve, 0));
        afterSteps.push(step);
        assert.equal(events.at(-1)?.type === 'step' ? events.at(-1)?.step : -1, step, 'afterStep runs after the step event of the same step');
      },
    });
    assert.deepEqual(afterSteps, Array.from({ length: 20 }, (_, i) => i + 1), 'afterStep is awaited once per step, in order');
    const first = result.losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = result.losses.slice(-3).reduce((a, b) => a + b) / 3;
    assert.ok(last < 0.7 * first, `loss ${first} → ${last}`);
    // After the optimizer has created its accumulators (step 1), the count is flat.
    assert.deepEqual(counts.slice(1), new Array(counts.length - 1).fill(counts[1]), `numTensors per step ${counts.join(' ')}`);
    assert.equal(events[0]?.type, 'start');
    assert.equal(events.at(-1)?.type, 'done');
    const steps = events.filter((e) => e.type === 'step');
    assert.equal(steps.length, 20);
    assert.ok(steps.every((e) => e.type === 'step' && e.learningRate <= OPTIONS.learningRate && e.imagesPerSecond > 0));
    result.optimizer.dispose();
  });

  for (const optimizer of ['sgd', 'adam'] as const) {
  it(`resumes from a checkpoint on disk and continues exactly as an uninterrupted run (${optimizer})`, async () => {
    await useBackend('wasm');
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-ckpt-'));
    try {
      const config = { note: 'full run config goes here' };
      const dataset = squaresDataset(10);
      const options = { ...OPTIONS, optimizer, learningRate: optimizer === 'adam' ? 0.01 : OPTIONS.learningRate };
      const straight = await trainSegmentation({ model: smallModel(5), dataset, options });

      // Interrupted run: stop after step 3 (signal), with checkpoints to disk.
      const controller = new AbortController();
      const interruptedModel = smallModel(5);
      const first = await trainSegmentation({
        model: interruptedModel,
        dataset,
        options,
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'step' && e.step === 3) controller.abort('test stop');
        },
        saveCheckpoint: async (step, optimizer) => {
          await writeCheckpoint(dir, await captureCheckpoint(interruptedModel, optimizer, step, config));
        },
      });
      assert.equal(first.step, 3);
      const checkpoint = await readLatestCheckpoint(dir);
      assert.ok(checkpoint !== null);
      assert.equal(checkpoint.manifest.step, 3);
      assert.deepEqual(checkpoint.manifest.config, config);
      const resumedModel = await restoreModel(checkpoint);
      const restored = await restoreOptimizer(checkpoint);
      assert.equal(checkpoint.manifest.optimizer.kind, optimizer);
      const rest = await trainSegmentation({ model: resumedModel, dataset, options, optimizer: restored, startStep: checkpoint.manifest.step });
      assertClose([...first.losses, ...rest.losses], straight.losses, 1e-5, 1e-5, 'losses');
      const files = await readdir(dir);
      assert.ok(files.includes('latest.json') && !files.some((f) => f.includes('.tmp-')), files.join(', '));
      for (const o of [straight.optimizer, first.optimizer, rest.optimizer]) o.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  }

  it('frees every optimizer tensor on dispose, for both optimizers', async () => {
    await useBackend('wasm');
    const model = smallModel(2);
    for (const optimizer of ['sgd', 'adam'] as const) {
      const before = tf.memory().numTensors;
      const result = await trainSegmentation({ model, dataset: squaresDataset(8), options: { ...OPTIONS, optimizer, steps: 2, checkpointEvery: 0 } });
      result.optimizer.dispose();
      assert.equal(tf.memory().numTensors, before, `${optimizer} optimizer leaked`);
    }
    model.dispose();
  });

  it('saves models as model.json + weights.bin that load back with equal outputs', async () => {
    await useBackend('wasm');
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-model-'));
    try {
      const model = smallModel(9);
      await saveModelToFiles(dir, model);
      const loaded = await loadModelFromFiles(dir);
      const x = tf.randomNormal([2, 12, 12, 3], 0, 1, 'float32', 4);
      assertClose(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor, 1e-6);
      tf.dispose(x);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports unreadable and foreign checkpoints clearly', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-bad-'));
    try {
      assert.equal(await readLatestCheckpoint(dir), null);
      await writeFile(join(dir, 'latest.json'), '{ not json');
      await assert.rejects(readLatestCheckpoint(dir), /loadCheckpoint: '.*latest.json' is not valid JSON/);
      await writeFile(join(dir, 'latest.json'), JSON.stringify({ manifest: 'm.json', data: 'd.bin' }));
      await writeFile(join(dir, 'm.json'), JSON.stringify({ format: 'something-else' }));
      await assert.rejects(readLatestCheckpoint(dir), /loadCheckpoint: '.*m.json' is not a hemnet checkpoint \(format 'something-else'\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('captureCheckpoint', () => {
  it('leaks no tensor (Adam makes a fresh iteration scalar in getWeights)', async () => {
    await useBackend('wasm');
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    const optimizer = createOptimizer('adam', 1e-3, 0.9);
    const x = tf.ones([1, 3]);
    optimizer.minimize(() => tf.sum(model.apply(x) as tf.Tensor) as tf.Scalar, false);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) await captureCheckpoint(model, optimizer, i, {});
    assert.equal(tf.memory().numTensors, before);
    const restored = await restoreOptimizer(await captureCheckpoint(model, optimizer, 4, {}));
    assert.equal(restored.iterations, optimizer.iterations);
    tf.dispose([x]);
    restored.dispose();
    optimizer.dispose();
    model.dispose();
  });
});
