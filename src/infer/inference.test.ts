import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { executeLogits, inferProbabilities, resolveInference, slidingWindows } from './inference.js';

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

describe('inference at any size (whole image, sliding window)', () => {
  let model: tf.LayersModel;
  before(async () => {
    await setBackend('wasm');
    ({ model } = buildSegmentationModel({ inputSize: [16, 16], width: 8, channels: 16, midChannels: 16, numClasses: 5, hem: { numBases: 4 }, seed: 7 }));
  });

  it("slidingWindows follows mmseg's slide_inference (last window shifted to the border)", () => {
    // 500 wide, 320 crop, 214 stride: ceil((500 − 320) / 214) + 1 = 2 columns; the second ends at 500.
    assert.deepEqual(slidingWindows(375, 500, [320, 320], [214, 214]), [
      [0, 0, 320, 320],
      [0, 180, 320, 500],
      [55, 0, 375, 320],
      [55, 180, 375, 500],
    ]);
    // Smaller than a crop: one window, the image itself.
    assert.deepEqual(slidingWindows(10, 12, [16, 16], [11, 11]), [[0, 0, 10, 12]]);
  });

  it('execute at the training size equals predict; whole and slide agree with it there', () => {
    const image = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const viaPredict = tf.tidy(() => tf.softmax(model.predict(image) as tf.Tensor).dataSync());
    const viaExecute = tf.tidy(() => tf.softmax(executeLogits(model, image)).dataSync());
    assert.ok(maxDifference(viaPredict, viaExecute) < 1e-6);
    for (const mode of ['whole', 'slide', 'resize'] as const) {
      const p = inferProbabilities(model, image, { mode });
      assert.deepEqual(p.shape, [1, 16, 16, 5]);
      assert.ok(maxDifference(p.dataSync(), viaPredict) < 1e-5, mode);
      p.dispose();
    }
    image.dispose();
  });

  it('whole: any size (padded to the output stride and cropped back), probabilities at the image size', () => {
    const image = tf.randomNormal([1, 21, 30, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const p = inferProbabilities(model, image, { mode: 'whole' });
    assert.deepEqual(p.shape, [1, 21, 30, 5]);
    // The top-left 16×16 region of the padded 24×32 pass, by hand: pad, execute, crop.
    const byHand = tf.tidy(() => tf.softmax(tf.slice(executeLogits(model, tf.pad(image, [[0, 0], [0, 3], [0, 2], [0, 0]])), [0, 0, 0, 0], [1, 21, 30, 5])).dataSync());
    assert.ok(maxDifference(p.dataSync(), byHand) < 1e-6);
    const sums = tf.tidy(() => tf.sum(p, -1).dataSync());
    for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-5);
    tf.dispose([image, p]);
  });

  it('slide: overlapping windows average their logits (checked against the windows run one by one)', () => {
    const image = tf.randomNormal([1, 16, 24, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    // Windows 16×16 every 8 px: x ∈ [0,16) and [8,24); the middle columns 8..15 are covered twice.
    const p = inferProbabilities(model, image, { mode: 'slide', cropSize: [16, 16], stride: [8, 8] });
    const left = tf.tidy(() => executeLogits(model, tf.slice(image, [0, 0, 0, 0], [1, 16, 16, 3])).arraySync()[0] as number[][][]);
    const right = tf.tidy(() => executeLogits(model, tf.slice(image, [0, 0, 8, 0], [1, 16, 16, 3])).arraySync()[0] as number[][][]);
    const expected: number[][][] = [];
    for (let y = 0; y < 16; y++) {
      expected.push([]);
      for (let x = 0; x < 24; x++) {
        const a = x < 16 ? left[y]?.[x] : undefined;
        const b = x >= 8 ? right[y]?.[x - 8] : undefined;
        const logits = a !== undefined && b !== undefined ? a.map((v, k) => (v + (b[k] as number)) / 2) : ((a ?? b) as number[]);
        expected[y]?.push(logits);
      }
    }
    const byHand = tf.tidy(() => tf.softmax(tf.tensor4d([expected])).dataSync());
    assert.ok(maxDifference(p.dataSync(), byHand) < 1e-5);
    tf.dispose([image, p]);
  });

  it("auto picks 'whole' up to maxWholeSide and 'slide' above; scales and flip keep the image size", () => {
    assert.equal(resolveInference(model, 375, 500).mode, 'whole');
    assert.equal(resolveInference(model, 375, 1500).mode, 'slide');
    assert.deepEqual(resolveInference(model, 10, 10).cropSize, [16, 16]);
    assert.deepEqual(resolveInference(model, 10, 10).stride, [11, 11]);
    const image = tf.randomNormal([1, 20, 28, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const p = inferProbabilities(model, image, { scales: [0.75, 1.25], flip: true, maxWholeSide: 24 });
    assert.deepEqual(p.shape, [1, 20, 28, 5]);
    tf.dispose([image, p]);
  });

  it('leaves no tensors behind and rejects bad options with clear errors', () => {
    const image = tf.randomNormal([1, 19, 40, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    for (const options of [{ mode: 'whole' as const }, { mode: 'slide' as const, stride: [5, 7] as [number, number] }, { mode: 'resize' as const, scales: [0.5, 1], flip: true }]) {
      inferProbabilities(model, image, options).dispose();
      const before = tf.memory().numTensors;
      inferProbabilities(model, image, options).dispose();
      assert.equal(tf.memory().numTensors, before, JSON.stringify(options));
    }
    assert.throws(() => inferProbabilities(model, image, { mode: 'tiles' as never }), /inferProbabilities: 'mode' must be one of 'auto', 'whole', 'slide', 'resize', received 'tiles'/);
    assert.throws(() => inferProbabilities(model, image, { cropSize: [16, 0] }), /inferProbabilities: 'cropSize' must be \[h, w\] of positive integers, received \[16,0\]/);
    assert.throws(() => inferProbabilities(model, image, { scales: [] }), /inferProbabilities: 'scales' must be a non-empty list of positive numbers, received \[\]/);
    assert.throws(() => inferProbabilities(model, image, { window: 3 } as never), /inferProbabilities: unknown option 'window'/);
    assert.throws(() => inferProbabilities(model, tf.zeros([19, 40, 3]) as never), /inferProbabilities: 'image' must be a tensor \[1, H, W, C\], received shape \[19, 40, 3\]/);
    assert.throws(() => inferProbabilities(model, tf.zeros([1, 8, 8, 1]) as tf.Tensor4D), /inferProbabilities: 'image' has 1 channels, the model expects 3/);
    image.dispose();
  });
});
