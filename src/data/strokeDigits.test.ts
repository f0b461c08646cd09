import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStrokeDigitPool } from './strokeDigits.js';
import { createSceneDataset, SCENE_IGNORE_LABEL } from './scenes.js';
import type { DigitPool } from './scenes.js';

const PIXELS = 784;

function classMeans(pool: DigitPool): Float64Array[] {
  const means = Array.from({ length: 10 }, () => new Float64Array(PIXELS));
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < pool.count; i++) {
    const label = pool.labels[i] as number;
    counts[label] = (counts[label] as number) + 1;
    const mean = means[label] as Float64Array;
    for (let p = 0; p < PIXELS; p++) mean[p] = (mean[p] as number) + (pool.images[i * PIXELS + p] as number);
  }
  means.forEach((mean, label) => mean.forEach((v, p) => (mean[p] = v / (counts[label] as number))));
  return means;
}

describe('createStrokeDigitPool', () => {
  it('is a pure function of (count, seed) with MNIST-like shapes and values', () => {
    const a = createStrokeDigitPool({ count: 50, seed: 4 });
    const b = createStrokeDigitPool({ count: 50, seed: 4 });
    const c = createStrokeDigitPool({ count: 50, seed: 5 });
    assert.deepEqual(a.images, b.images);
    assert.deepEqual(a.labels, b.labels);
    assert.notDeepEqual(a.images, c.images);
    assert.equal(a.count, 50);
    assert.equal(a.images.length, 50 * PIXELS);
    for (const v of a.images) assert.ok(v >= 0 && v <= 1);
  });

  it('balances the classes and draws every digit with a solid stroke, a soft edge and a clear border', () => {
    const pool = createStrokeDigitPool({ count: 203, seed: 0 });
    const perClass = new Array<number>(10).fill(0);
    for (const label of pool.labels) perClass[label] = (perClass[label] as number) + 1;
    assert.deepEqual(perClass, [21, 21, 21, 20, 20, 20, 20, 20, 20, 20]);
    for (let i = 0; i < pool.count; i++) {
      const image = pool.images.subarray(i * PIXELS, (i + 1) * PIXELS);
      const ink = image.reduce((s, v) => s + v, 0);
      assert.ok(ink > 20 && ink < 250, `digit ${i}: ink ${ink.toFixed(1)}`);
      assert.ok(image.some((v) => v >= 0.99), `digit ${i}: a solid stroke`);
      assert.ok(image.some((v) => v > 0.05 && v < 0.95), `digit ${i}: a soft edge`);
      for (let k = 0; k < 28; k++) {
        for (const p of [k, 27 * 28 + k, k * 28, k * 28 + 27]) assert.ok((image[p] as number) < 0.5, `digit ${i}: border pixel ${p}`);
      }
    }
  });

  it('draws classes that a nearest-class-mean classifier tells apart on another seed', () => {
    const means = classMeans(createStrokeDigitPool({ count: 1000, seed: 1 }));
    const test = createStrokeDigitPool({ count: 500, seed: 2 });
    let correct = 0;
    for (let i = 0; i < test.count; i++) {
      let best = -1;
      let bestDistance = Infinity;
      means.forEach((mean, label) => {
        let d = 0;
        for (let p = 0; p < PIXELS; p++) d += ((test.images[i * PIXELS + p] as number) - (mean[p] as number)) ** 2;
        if (d < bestDistance) [best, bestDistance] = [label, d];
      });
      if (best === test.labels[i]) correct++;
    }
    assert.ok(correct / test.count >= 0.8, `nearest-class-mean accuracy ${(correct / test.count).toFixed(3)}`);
    // …while digits of one class still vary (pose, pen, jitter): 0 and 10 are both zeros.
    for (let digit = 0; digit < 10; digit++) {
      let d = 0;
      for (let p = 0; p < PIXELS; p++) d += ((test.images[digit * PIXELS + p] as number) - (test.images[(digit + 10) * PIXELS + p] as number)) ** 2;
      assert.ok(d > 5, `class ${digit}: two samples differ by only ${d.toFixed(2)}`);
    }
  });

  it('serves as a pool for the segmentation scenes', () => {
    const pool = createStrokeDigitPool({ count: 300, seed: 0 });
    const scenes = createSceneDataset(pool, { split: 'train', size: 4, canvasSize: 48, validationDigits: 50, seed: 3 });
    const sample = scenes.get(0);
    const digitPixels = Array.from(sample.label).filter((l) => l >= 1 && l <= 10 && l !== SCENE_IGNORE_LABEL).length;
    assert.ok(digitPixels > 20, `${digitPixels} digit pixels`);
  });

  it('rejects bad options with named errors', () => {
    assert.throws(() => createStrokeDigitPool({ count: 0 }), /createStrokeDigitPool: 'count' must be an integer ≥ 1, received 0/);
    assert.throws(() => createStrokeDigitPool({ count: 2.5 }), /createStrokeDigitPool: 'count' must be an integer ≥ 1, received 2.5/);
    assert.throws(() => createStrokeDigitPool({ count: 10, seed: -1 }), /createStrokeDigitPool: 'seed' must be a non-negative integer, received -1/);
    assert.throws(() => createStrokeDigitPool(null as unknown as { count: number }), /createStrokeDigitPool: 'options' must be an object \{count, seed\?\}, received null/);
  });
});
