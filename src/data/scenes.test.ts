import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMnistScenes } from './mnistScenes.js';
import { loadMnist } from './mnist.js';
import { SceneDataset, sceneDigitRange, type DigitPool } from './scenes.js';

/** A tiny synthetic pool: digit i is a filled square of class i % 10, so labels are predictable. */
function squarePool(count: number): DigitPool {
  const images = new Float32Array(count * 784);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 10;
    for (let y = 4; y < 24; y++) for (let x = 4; x < 24; x++) images[i * 784 + y * 28 + x] = 1;
  }
  return { images, labels, count };
}

test('scenes: same seed gives identical arrays, another seed differs', () => {
  const a = loadMnistScenes({ split: 'train', size: 4, seed: 7 });
  const b = loadMnistScenes({ split: 'train', size: 4, seed: 7 });
  const c = loadMnistScenes({ split: 'train', size: 4, seed: 8 });
  for (let i = 0; i < 4; i++) {
    assert.deepEqual(a.get(i).image, b.get(i).image);
    assert.deepEqual(a.get(i).label, b.get(i).label);
  }
  assert.notDeepEqual(a.get(0).image, c.get(0).image);
  assert.notDeepEqual(a.get(0).image, a.get(1).image);
  // Order of access does not matter: index 3 alone equals index 3 after the others.
  const fresh = loadMnistScenes({ split: 'train', size: 4, seed: 7 });
  assert.deepEqual(fresh.get(3).label, a.get(3).label);
});

test('scenes: shapes, contract fields and label values', () => {
  const data = loadMnistScenes({ split: 'val', size: 6, canvasSize: 96, digitsPerScene: [2, 4], digitScale: [1, 2], seed: 1 });
  assert.equal(data.numClasses, 11);
  assert.equal(data.ignoreLabel, 255);
  assert.deepEqual(data.classNames, ['background', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']); // class k + 1 is digit k
  assert.equal(data.classNames.length, 11);
  const seen = new Set<number>();
  for (let i = 0; i < data.size; i++) {
    const s = data.get(i);
    assert.equal(s.height, 96);
    assert.equal(s.width, 96);
    assert.equal(s.channels, 3);
    assert.equal(s.image.length, 96 * 96 * 3);
    assert.equal(s.label.length, 96 * 96);
    assert.equal(s.id, `val-${i}`);
    assert.ok(s.image.every(Number.isFinite));
    for (const v of s.label) {
      assert.ok(v <= 10 || v === 255, `label ${v}`);
      seen.add(v);
    }
    // Every digit placed contributes its class (the ones fully hidden are rare; check the union instead).
    const layout = data.layout(i);
    assert.ok(layout.digits.length >= 2 && layout.digits.length <= 4);
    const present = new Set(s.label);
    assert.ok(layout.digits.some((d) => present.has(d.digitClass + 1)));
    for (const v of present) if (v !== 0 && v !== 255) assert.ok(layout.digits.some((d) => d.digitClass + 1 === v));
  }
  assert.ok(seen.has(0) && seen.has(255), 'background and ignore edges appear');
});

test('scenes: labels follow the digit mask exactly on a synthetic pool', () => {
  const data = new SceneDataset(squarePool(30), {
    split: 'train', size: 3, validationDigits: 10, digitsPerScene: [1, 1], digitScale: [1, 1], clutter: false, seed: 3,
  });
  const s = data.get(0);
  const d = data.layout(0).digits[0]!;
  // A 28-pixel square digit pasted at scale 1: a 20×20 block at offset 4 carries class + 1, the rest is background.
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const inside = y >= d.top + 4 && y < d.top + 24 && x >= d.left + 4 && x < d.left + 24;
      assert.equal(s.label[y * 64 + x], inside ? d.digitClass + 1 : 0, `pixel ${y},${x}`);
    }
  }
  // Without noise, background pixels all equal the normalised background colour.
  const bg = data.layout(0).background;
  assert.ok(Math.abs((s.image[0] as number) - (bg[0] - 0.5) / 0.29) < 1e-5);
});

test('scenes: val and test never use train digit indices', () => {
  const pool = loadMnist('train');
  assert.deepEqual(sceneDigitRange('train', 60000), { start: 0, end: 55000 });
  assert.deepEqual(sceneDigitRange('val', 60000), { start: 55000, end: 60000 });
  const train = new SceneDataset(pool, { split: 'train', size: 40, seed: 5 });
  const val = new SceneDataset(pool, { split: 'val', size: 40, seed: 5 });
  for (let i = 0; i < 40; i++) {
    for (const p of [...train.layout(i).digits, ...train.layout(i).fragments]) assert.ok(p.digitIndex < 55000);
    for (const p of [...val.layout(i).digits, ...val.layout(i).fragments]) assert.ok(p.digitIndex >= 55000 && p.digitIndex < 60000);
  }
  const test = loadMnistScenes({ split: 'test', size: 3 });
  assert.deepEqual(test.digitRange, { start: 0, end: 10000 });
});

test('scenes: clutter fragments are background, noise changes pixels', () => {
  const pool = squarePool(30);
  const base = { split: 'train' as const, size: 2, validationDigits: 10, digitsPerScene: [1, 1] as [number, number], seed: 9 };
  const clean = new SceneDataset(pool, { ...base, clutter: false });
  const noisy = new SceneDataset(pool, { ...base, clutter: { fragments: [3, 3], noiseStd: 0.1 } });
  assert.equal(noisy.layout(0).fragments.length, 3);
  const labels = new Set(noisy.get(0).label);
  for (const v of labels) assert.ok(v === 0 || v === 255 || v === noisy.layout(0).digits[0]!.digitClass + 1);
  assert.notDeepEqual(clean.get(0).image, noisy.get(0).image);
});

test('scenes: cache returns the same object', () => {
  const data = new SceneDataset(squarePool(20), { split: 'train', size: 2, validationDigits: 5, cache: true });
  assert.equal(data.get(1), data.get(1));
});

test('scenes: a byte-bounded cache keeps the first scenes that fit and draws the rest again, all identical to an uncached draw', () => {
  const options = { split: 'train' as const, size: 4, validationDigits: 5, canvasSize: 32, digitScale: [0.8, 1.1] as [number, number] };
  const plain = new SceneDataset(squarePool(20), options);
  const bytesPerScene = 32 * 32 * 3 * 4 + 32 * 32;
  const bounded = new SceneDataset(squarePool(20), { ...options, cache: 2 * bytesPerScene + 10 });
  for (const index of [3, 1, 0, 2]) bounded.get(index);
  assert.equal(bounded.get(3), bounded.get(3), 'the first scene drawn is kept');
  assert.equal(bounded.get(1), bounded.get(1), 'the second fits too');
  assert.notEqual(bounded.get(0), bounded.get(0), 'the third did not fit: drawn again');
  for (let index = 0; index < 4; index++) {
    assert.deepEqual(bounded.get(index).image, plain.get(index).image, `image ${index}`);
    assert.deepEqual(bounded.get(index).label, plain.get(index).label, `label ${index}`);
  }
  const none = new SceneDataset(squarePool(20), { ...options, cache: 0 });
  assert.notEqual(none.get(0), none.get(0));
  assert.throws(() => new SceneDataset(squarePool(20), { ...options, cache: -1 }), /SceneDataset: 'cache' must be true, false or a number of bytes ≥ 0, received -1/);
});

test('scenes: option validation names the argument and value', () => {
  const pool = squarePool(20);
  assert.throws(() => new SceneDataset(pool, { split: 'dev' as 'train', size: 2 }), /SceneDataset: 'split' must be 'train', 'val' or 'test', received 'dev'/);
  assert.throws(() => new SceneDataset(pool, { split: 'test', size: 0 }), /SceneDataset: 'size' must be a positive integer, received 0/);
  assert.throws(() => new SceneDataset(pool, { split: 'test', size: 2, canvasSize: 20 }), /'canvasSize' must be an integer ≥ 28, received 20/);
  assert.throws(() => new SceneDataset(pool, { split: 'test', size: 2, digitsPerScene: [3, 1] }), /'digitsPerScene' must be \[min, max\].*received \[3,1\]/);
  assert.throws(() => new SceneDataset(pool, { split: 'test', size: 2, digitScale: [1, 3] }), /'digitScale' must be .*≤ 2\.28.*received \[1,3\]/);
  assert.throws(() => new SceneDataset(pool, { split: 'test', size: 2, scaleRange: [1, 3] } as never), /SceneDataset: option 'scaleRange' was renamed 'digitScale'/);
  assert.throws(() => new SceneDataset(pool, { split: 'train', size: 2 }), /SceneDataset: 'validationDigits' must be an integer in \[1, 19\] .*received 5000/);
  assert.throws(() => new SceneDataset(pool, { split: 'test', size: 2, colour: 1 } as never), /unknown option 'colour'/);
  assert.throws(() => new SceneDataset(pool, { split: 'test', size: 2, clutter: { noiseStd: -1 } }), /'clutter.noiseStd' must be a finite number ≥ 0, received -1/);
  const data = new SceneDataset(pool, { split: 'test', size: 2 });
  assert.throws(() => data.get(2), /SceneDataset.get: 'index' must be an integer in \[0, 1\], received 2/);
  assert.throws(() => loadMnistScenes({ split: 'x' as 'train', size: 1 }), /loadMnistScenes: 'split' must be/);
});

test('scenes: labelDilation grows each digit label by one pixel per step over background only', () => {
  // One square "digit" of side 20 (rows/cols 4..23 of 28) at scale 1, clean canvas.
  const options = { split: 'train' as const, size: 1, canvasSize: 40, digitsPerScene: [1, 1] as [number, number], digitScale: [1, 1] as [number, number], clutter: false as const, seed: 3, validationDigits: 5 };
  const plain = new SceneDataset(squarePool(20), options).get(0).label;
  const grown = new SceneDataset(squarePool(20), { ...options, labelDilation: 2 }).get(0).label;
  const count = (label: Uint8Array) => label.filter((v) => v !== 0 && v !== 255).length;
  const side = Math.sqrt(count(plain));
  assert.ok(Number.isInteger(side), `a square label, ${count(plain)} pixels`);
  // Two 3×3 dilation steps turn an s×s square into (s + 4)×(s + 4) (its soft edge is absorbed too).
  assert.equal(count(grown), (side + 4) ** 2);
  const classes = new Set(Array.from(grown).filter((v) => v !== 0 && v !== 255));
  assert.equal(classes.size, 1, 'dilation invents no new class');
  assert.throws(() => new SceneDataset(squarePool(20), { ...options, labelDilation: -1 }), /SceneDataset: 'labelDilation' must be an integer in \[0, 8\], received -1/);
});

test('maxOverlap: crowded scenes overlap more with a higher limit; bad values are rejected', () => {
  const meanOverlap = (maxOverlap: number): number => {
    const data = loadMnistScenes({ split: 'val', size: 30, canvasSize: 112, digitsPerScene: [4, 4], digitScale: [1, 1.2], maxOverlap, seed: 3 });
    let total = 0;
    let pairs = 0;
    for (let i = 0; i < data.size; i++) {
      const { digits } = data.layout(i);
      for (let a = 0; a < digits.length; a++) {
        for (let b = a + 1; b < digits.length; b++) {
          const p = digits[a]!;
          const q = digits[b]!;
          const h = Math.min(p.top + p.side, q.top + q.side) - Math.max(p.top, q.top);
          const w = Math.min(p.left + p.side, q.left + q.side) - Math.max(p.left, q.left);
          total += h > 0 && w > 0 ? (h * w) / Math.min(p.side * p.side, q.side * q.side) : 0;
          pairs++;
        }
      }
    }
    return total / pairs;
  };
  const low = meanOverlap(0.1);
  const high = meanOverlap(1);
  assert.ok(high > low + 0.05, `mean pairwise overlap ${high} (maxOverlap 1) vs ${low} (0.1)`);
  assert.throws(() => loadMnistScenes({ split: 'val', size: 1, maxOverlap: 1.5 }), /SceneDataset: 'maxOverlap' must be a number in \[0, 1\], received 1.5/);
});
