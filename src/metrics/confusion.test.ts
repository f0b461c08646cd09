import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { ConfusionMatrix } from './confusion.js';

test('ConfusionMatrix: hand-computed 3-class case with ignored pixels', () => {
  // truth:      0 0 0 1 1 2 255 255
  // prediction: 0 0 1 1 2 2  0   2
  const cm = new ConfusionMatrix(3).update(new Int32Array([0, 0, 1, 1, 2, 2, 0, 2]), new Uint8Array([0, 0, 0, 1, 1, 2, 255, 255]));
  assert.deepEqual(cm.toArray(), [
    [2, 1, 0],
    [0, 1, 1],
    [0, 0, 1],
  ]);
  assert.equal(cm.total(), 6);
  // IoU0 = 2/(3+2−2) = 2/3; IoU1 = 1/(2+2−1) = 1/3; IoU2 = 1/(1+2−1) = 1/2.
  const iou = cm.perClassIoU();
  assert.ok(Math.abs((iou[0] as number) - 2 / 3) < 1e-12);
  assert.ok(Math.abs((iou[1] as number) - 1 / 3) < 1e-12);
  assert.ok(Math.abs((iou[2] as number) - 1 / 2) < 1e-12);
  assert.ok(Math.abs(cm.meanIoU() - (2 / 3 + 1 / 3 + 1 / 2) / 3) < 1e-12);
  assert.ok(Math.abs(cm.pixelAccuracy() - 4 / 6) < 1e-12);
  // Recalls 2/3, 1/2, 1.
  assert.ok(Math.abs(cm.meanClassAccuracy() - (2 / 3 + 1 / 2 + 1) / 3) < 1e-12);
});

test('ConfusionMatrix: classes absent from truth and prediction are left out of mIoU', () => {
  const cm = new ConfusionMatrix(4).update([0, 0, 1, 1], [0, 0, 1, 0]);
  // IoU0 = 2/(3+2−2) = 2/3, IoU1 = 1/(1+2−1) = 1/2; classes 2, 3 absent.
  assert.deepEqual(cm.perClassIoU().slice(2), [null, null]);
  assert.ok(Math.abs(cm.meanIoU() - (2 / 3 + 1 / 2) / 2) < 1e-12);
  // A class predicted but never true counts with IoU 0 and no recall entry.
  cm.update([3], [1]);
  assert.equal(cm.perClassIoU()[3], 0);
  assert.ok(Math.abs(cm.meanClassAccuracy() - (2 / 3 + 1 / 2) / 2) < 1e-12);
  assert.ok(Number.isNaN(new ConfusionMatrix(2).meanIoU()));
});

test('ConfusionMatrix: accumulates across updates, merges, JSON round trip', () => {
  const a = new ConfusionMatrix(2, { classNames: ['bg', 'fg'] }).update([0, 1], [0, 1]).update([1], [0]);
  const b = new ConfusionMatrix(2).update([0], [1]);
  a.merge(b);
  assert.deepEqual(a.toArray(), [[1, 1], [1, 1]]);
  const json = a.toJSON();
  assert.equal(json.meanIoU, 1 / 3);
  assert.equal(json.pixelAccuracy, 0.5);
  assert.deepEqual(json.classNames, ['bg', 'fg']);
  const back = ConfusionMatrix.fromJSON(JSON.parse(JSON.stringify(json)));
  assert.deepEqual(back.toJSON(), json);
  assert.equal(a.reset().total(), 0);
});

test('ConfusionMatrix: updateFromTensors takes logits or indices and leaks nothing', async () => {
  await setBackend('cpu');
  const logits = tf.tensor4d([5, 0, 0, 0, 0, 9, 1, 2, 0, 0, 0, 3], [1, 2, 2, 3]); // argmax: 0, 2, 1, 2
  const labels = tf.tensor3d([0, 2, 255, 1], [1, 2, 2], 'int32');
  const before = tf.memory().numTensors;
  const cm = new ConfusionMatrix(3).updateFromTensors(logits, labels);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(cm.toArray(), [[1, 0, 0], [0, 0, 1], [0, 0, 1]]);
  const indices = tf.tensor3d([0, 2, 1, 2], [1, 2, 2], 'int32');
  const cm2 = new ConfusionMatrix(3).updateFromTensors(indices, new Int32Array([0, 2, 255, 1]));
  assert.deepEqual(cm2.toArray(), cm.toArray());
  assert.throws(() => cm.updateFromTensors(tf.zeros([1, 2, 2, 4]), labels), /ConfusionMatrix.updateFromTensors: 'output' must be class indices with 4 values or scores \[\.\.\., 3\]/);
  tf.dispose([logits, labels, indices]);
});

test('ConfusionMatrix: errors name the argument and value', () => {
  assert.throws(() => new ConfusionMatrix(0), /ConfusionMatrix: 'numClasses' must be a positive integer, received 0/);
  assert.throws(() => new ConfusionMatrix(3, { ignoreLabel: 1 }), /'ignoreLabel' must be an integer outside \[0, 2\], received 1/);
  const cm = new ConfusionMatrix(3);
  assert.throws(() => cm.update([0, 1], [0]), /ConfusionMatrix.update: 'prediction' has 2 pixels but 'label' has 1/);
  assert.throws(() => cm.update([0, 1], [0, 7]), /'label' must be in \[0, 2\] or 255, received 7 at pixel 1/);
  assert.throws(() => cm.update([3], [0]), /'prediction' must be in \[0, 2\], received 3 at pixel 0/);
});
