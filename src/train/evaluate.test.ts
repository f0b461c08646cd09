import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { EvaluationRunner, evaluateSegmentation, findHemHeads, predictProbabilities, type EvaluationSettings } from './evaluate.js';
import { hemHead, HemHead } from '../layers/hemHead.js';
import type { SegmentationDataset } from '../data/types.js';
import { useBackend } from '../../test/helpers.js';

/** A 1×1 conv with identity weights: the logits are the input, so the prediction is argmax of the image channels. */
function identityModel(withHead: boolean): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] as unknown as number[] });
  let x = input;
  if (withHead) x = hemHead({ numBases: 2, trainIterations: 2, seed: 1, name: 'hem' }).apply(x) as tf.SymbolicTensor;
  const conv = tf.layers.conv2d({ filters: 3, kernelSize: 1, useBias: false, name: 'identity' });
  const output = conv.apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  conv.setWeights([tf.reshape(tf.eye(3), [1, 1, 3, 3])]);
  return model;
}

/** Images whose channel argmax is a chosen class; labels chosen to give a known confusion matrix. */
function fixedDataset(predicted: number[][], truth: number[][], side = 8): SegmentationDataset {
  return {
    numClasses: 3,
    ignoreLabel: 255,
    classNames: ['a', 'b', 'c'],
    size: predicted.length,
    get(index) {
      const pred = predicted[index]!;
      const label = truth[index]!;
      const image = new Float32Array(side * side * 3);
      const labels = new Uint8Array(side * side);
      for (let p = 0; p < side * side; p++) {
        const cls = pred[p % pred.length]!;
        image[p * 3 + cls] = 5;
        labels[p] = label[p % label.length]!;
      }
      return { image, label: labels, height: side, width: side, channels: 3, id: `img${index}` };
    },
  };
}

describe('evaluateSegmentation', () => {
  it('accumulates one confusion matrix over the dataset (hand-computed mIoU)', async () => {
    await useBackend('wasm');
    // Per 4-pixel pattern (repeated 16× over 8×8): image 0 predicts [0,0,1,1] for truth [0,1,1,255];
    // image 1 predicts [0,0,0,0] for truth [0,0,0,0].
    const dataset = fixedDataset([[0, 0, 1, 1], [0, 0, 0, 0]], [[0, 1, 1, 255], [0, 0, 0, 0]]);
    const result = await evaluateSegmentation(identityModel(false), dataset, { batchSize: 1 });
    // Counts /16: truth 0 → pred 0: 1 + 4 = 5; truth 1 → pred 0: 1, → pred 1: 1; ignore: 1 (excluded).
    assert.deepEqual(result.metrics.matrix, [[80, 0, 0], [16, 16, 0], [0, 0, 0]]);
    // IoU_0 = 80 / (80 + 16) ; IoU_1 = 16 / (16 + 16); class 2 absent from both → excluded.
    const iou0 = 80 / 96;
    const iou1 = 16 / 32;
    assert.deepEqual(result.metrics.perClassIoU.map((v) => (v === null ? null : Number(v.toFixed(6)))), [Number(iou0.toFixed(6)), 0.5, null]);
    assert.ok(Math.abs(result.metrics.meanIoU - (iou0 + iou1) / 2) < 1e-9);
    assert.ok(Math.abs(result.metrics.pixelAccuracy - 96 / 112) < 1e-9);
    assert.equal(result.samples, 2);
  });

  it('multi-scale + flip agrees with single scale on scale- and flip-invariant images', async () => {
    await useBackend('wasm');
    const dataset = fixedDataset([[2], [1]], [[2], [0]]);
    const model = identityModel(false);
    const single = await evaluateSegmentation(model, dataset);
    const multi = await evaluateSegmentation(model, dataset, { scales: [0.5, 1, 1.5], flip: true });
    assert.deepEqual(multi.metrics.matrix, single.metrics.matrix);
    assert.deepEqual(single.metrics.matrix, [[0, 64, 0], [0, 0, 0], [0, 0, 64]]);
  });

  it('evaluates a fixed-input-size model at several scales through a variable-size copy', async () => {
    await useBackend('wasm');
    const input = tf.input({ shape: [8, 8, 3] });
    const conv = tf.layers.conv2d({ filters: 3, kernelSize: 1, useBias: false, name: 'identity' });
    const model = tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
    conv.setWeights([tf.reshape(tf.eye(3), [1, 1, 3, 3])]);
    const dataset = fixedDataset([[2], [1]], [[2], [0]]);
    const before = tf.memory().numTensors;
    const multi = await evaluateSegmentation(model, dataset, { scales: [0.5, 2], flip: true });
    assert.deepEqual(multi.metrics.matrix, [[0, 64, 0], [0, 0, 0], [0, 0, 64]]);
    assert.equal(tf.memory().numTensors, before, 'the variable-size copy was not disposed');
  });

  it('applies the T_eval override during evaluation only, and leaks no tensors', async () => {
    await useBackend('wasm');
    const model = identityModel(true);
    const [head] = findHemHeads(model);
    assert.ok(head instanceof HemHead);
    const dataset = fixedDataset([[0, 1]], [[0, 1]]);
    let seen = 0;
    const before = tf.memory().numTensors;
    await evaluateSegmentation(model, dataset, {
      evalIterations: 7,
      onProgress: () => {
        seen = head.evalIterations;
      },
    });
    assert.equal(seen, 7);
    assert.equal(head.evalIterations, 2);
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(evaluateSegmentation(model, dataset, { scales: [] }), /evaluateSegmentation: 'scales' must be positive numbers, received \[\]/);
  });
});

describe('EvaluationRunner.predict', () => {
  it('gives the arg-max of the softmax probabilities, with or without a resize to the size multiple', async () => {
    await useBackend('wasm');
    const model = identityModel(true);
    const settings: EvaluationSettings = { scales: [1], flip: false, sizeMultiple: 8, fold: true, evalIterations: null, inference: null };
    const runner = await EvaluationRunner.create(model, settings);
    try {
      // 16×16 runs as it is (the logits' arg-max); 12×12 runs at 16×16 and is resized back.
      for (const side of [16, 12]) {
        const images = tf.randomNormal([2, side, side, 3], 0, 3, 'float32', side) as tf.Tensor4D;
        const classes = runner.predict(images, settings);
        const before = tf.memory().numTensors; // after the first pass, which may build what the runner keeps
        assert.deepEqual(runner.predict(images, settings), classes);
        assert.equal(tf.memory().numTensors, before);
        const expected = tf.tidy(() => tf.argMax(predictProbabilities(model, images), -1).dataSync());
        assert.equal(classes.length, 2 * side * side);
        assert.deepEqual(Array.from(classes), Array.from(expected));
        assert.ok(new Set(classes).size > 1, 'the test images should predict more than one class');
        images.dispose();
      }
    } finally {
      runner.dispose();
      model.dispose();
    }
  });
});
