import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assertClose } from '../../test/helpers.js';
import { setBackend } from '../backend.js';
import {
  augmentDataset,
  augmentSample,
  batchSamples,
  batchToTensors,
  cropSample,
  flipSampleHorizontal,
  normalizeImage,
  resizeImageBilinear,
  resizeLabelNearest,
} from './augment.js';
import type { SegmentationDataset, SegmentationSample } from './types.js';

/** A 3×4×2 sample whose values encode their position: image = 10·y + x + 0.1·c, label = 4y + x. */
function ramp(height = 3, width = 4, channels = 2): SegmentationSample {
  const image = new Float32Array(height * width * channels);
  const label = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      label[y * width + x] = y * width + x;
      for (let c = 0; c < channels; c++) image[(y * width + x) * channels + c] = 10 * y + x + 0.1 * c;
    }
  }
  return { image, label, height, width, channels, id: 'ramp' };
}

test('resizeImageBilinear matches tf.image.resizeBilinear with half-pixel centres', async () => {
  await setBackend('cpu');
  const s = ramp(5, 7, 3);
  for (const [h, w] of [[9, 4], [3, 11], [5, 7]] as const) {
    const ours = resizeImageBilinear(s.image, 5, 7, 3, h, w);
    const expected = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(s.image, [5, 7, 3]), [h, w], false, true));
    assertClose(Array.from(ours), expected, 1e-4, 0, `${h}x${w}`);
    expected.dispose();
  }
  assert.throws(() => resizeImageBilinear(s.image, 5, 7, 2, 3, 3), /resizeImageBilinear: 'image' must have 5×7×2 = 70 values, received 105/);
});

test('resizeLabelNearest keeps label values and doubles cleanly', () => {
  const s = ramp();
  const up = resizeLabelNearest(s.label, 3, 4, 6, 8);
  assert.equal(up[0], 0);
  assert.equal(up[1], 0);
  assert.equal(up[2], 1);
  assert.equal(up[8 * 2 + 2], 5); // row 2 → source row 1, col 2 → source col 1
  const down = resizeLabelNearest(up, 6, 8, 3, 4);
  assert.deepEqual(down, s.label);
  assert.throws(() => resizeLabelNearest(s.label, 3, 4, 0, 2), /resizeLabelNearest: 'newHeight' must be a positive integer, received 0/);
});

test('cropSample pads image with the pad value and labels with 255', () => {
  const s = ramp();
  const c = cropSample(s, 1, 2, 3, 3, { imagePadValue: -1 });
  assert.deepEqual(Array.from(c.label), [6, 7, 255, 10, 11, 255, 255, 255, 255]);
  assert.equal(c.image[0], 12);
  assert.ok(Math.abs((c.image[1] as number) - 12.1) < 1e-6);
  assert.equal(c.image[2 * 2], -1);
  assert.equal(c.image[8 * 2 + 1], -1);
  const neg = cropSample(s, -1, -1, 2, 2);
  assert.deepEqual(Array.from(neg.label), [255, 255, 255, 0]);
});

test('flipSampleHorizontal mirrors rows and is an involution', () => {
  const s = ramp();
  const f = flipSampleHorizontal(s);
  assert.deepEqual(Array.from(f.label.subarray(0, 4)), [3, 2, 1, 0]);
  assert.ok(Math.abs((f.image[1] as number) - 3.1) < 1e-6);
  const back = flipSampleHorizontal(f);
  assert.deepEqual(back.image, s.image);
  assert.deepEqual(back.label, s.label);
});

test('normalizeImage applies scale, mean and std per channel', () => {
  const out = normalizeImage(new Uint8Array([255, 0, 51, 102]), 2, [0.5, 0.1], [0.5, 0.2], 1 / 255);
  assertClose(Array.from(out), [1, -0.5, -0.6, 1.5], 1e-6);
  assert.throws(() => normalizeImage(new Float32Array(4), 2, [0], [1, 1]), /normalizeImage: 'mean' and 'std' must have 2 finite values/);
});

test('augmentSample: deterministic by seed, crop size fixed, labels stay valid', () => {
  const s = ramp(10, 12, 3);
  const options = { scaleRange: [0.5, 2] as [number, number], cropSize: [8, 8] as [number, number], flip: true };
  const a = augmentSample(s, options, 42);
  const b = augmentSample(s, options, 42);
  assert.deepEqual(a.image, b.image);
  assert.deepEqual(a.label, b.label);
  assert.equal(a.height, 8);
  assert.equal(a.width, 8);
  let differs = false;
  for (let seed = 0; seed < 10 && !differs; seed++) {
    differs = augmentSample(s, options, seed).label.some((v, i) => v !== a.label[i]);
  }
  assert.ok(differs, 'different seeds give different crops');
  for (let seed = 0; seed < 20; seed++) {
    for (const v of augmentSample(s, options, seed).label) assert.ok(v < 120 || v === 255);
  }
  assert.throws(() => augmentSample(s, { cropSize: 0 }, 1), /augmentSample: 'cropSize' must be a positive integer or \[height, width\], received 0/);
  assert.throws(() => augmentSample(s, { scaleRange: [2, 1] }, 1), /augmentSample: 'scaleRange' must be \[min, max\] with 0 < min ≤ max, received \[2,1\]/);
});

test('augmentDataset: reproducible per (seed, epoch, index), new draw per epoch', () => {
  const base: SegmentationDataset = { numClasses: 120, ignoreLabel: 255, classNames: [], size: 2, get: () => ramp(10, 12, 1) };
  const data = augmentDataset(base, { scaleRange: [0.7, 1.6], cropSize: 6, flip: true, seed: 3 });
  assert.equal(data.size, 2);
  assert.deepEqual(data.get(1, 0).label, data.get(1, 0).label);
  let differs = false;
  for (let epoch = 1; epoch < 8 && !differs; epoch++) differs = data.get(1, epoch).label.some((v, i) => v !== data.get(1, 0).label[i]);
  assert.ok(differs);
  assert.throws(() => augmentDataset(base, { crop: 3 } as never), /augmentDataset: unknown option 'crop'/);
});

test('batchSamples and batchToTensors stack [B, H, W, C] without leaks', async () => {
  await setBackend('cpu');
  const a = ramp();
  const b = flipSampleHorizontal(ramp());
  const batch = batchSamples([a, b]);
  assert.equal(batch.batchSize, 2);
  assert.equal(batch.images.length, 2 * 24);
  assert.deepEqual(Array.from(batch.labels.subarray(12, 16)), [3, 2, 1, 0]);
  const before = tf.memory().numTensors;
  const t = batchToTensors(batch);
  assert.deepEqual(t.images.shape, [2, 3, 4, 2]);
  assert.deepEqual(t.labels.shape, [2, 3, 4]);
  assert.equal(t.labels.dtype, 'int32');
  assert.deepEqual(Array.from(t.labels.dataSync()), Array.from(batch.labels));
  tf.dispose([t.images, t.labels]);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => batchSamples([a, ramp(4, 4, 2)]), /batchSamples: sample 1 \('ramp'\) is 4×4×2, expected 3×4×2/);
  assert.throws(() => batchSamples([]), /batchSamples: 'samples' must hold at least one sample, received 0/);
});
