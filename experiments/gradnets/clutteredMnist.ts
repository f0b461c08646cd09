/**
 * Cluttered MNIST (after Mnih et al. 2014), generated deterministically from a
 * seed: a `canvas × canvas` image (default 60×60) holding one 28×28 MNIST digit
 * at a random position and `fragments` random `fragmentSize × fragmentSize`
 * crops of other digits at random positions (combined with max, so clutter
 * never erases the digit). Label = the digit's class.
 */
import { createRng, hashSeed } from '../../src/data/random.js';
import type { MnistDigits } from '../../src/data/mnist.js';
import type { ClassificationSet } from './common.js';

export interface ClutteredMnistOptions {
  /** Number of images. */
  count: number;
  /** Canvas side; default 60. */
  canvas?: number;
  /** Clutter fragments per image; default 4. */
  fragments?: number;
  /** Side of each fragment; default 8. */
  fragmentSize?: number;
  seed: number;
}

const SIDE = 28;

/** Builds `count` cluttered images from `digits` (digit i % digits.count is the object of image i). */
export function clutteredMnist(digits: MnistDigits, options: ClutteredMnistOptions): ClassificationSet {
  const canvas = options.canvas ?? 60;
  const fragments = options.fragments ?? 4;
  const fragmentSize = options.fragmentSize ?? 8;
  if (canvas < SIDE) throw new Error(`clutteredMnist: 'canvas' must be ≥ ${SIDE}, received ${canvas}`);
  if (!(fragmentSize >= 1 && fragmentSize <= SIDE)) throw new Error(`clutteredMnist: 'fragmentSize' must be in [1, ${SIDE}], received ${fragmentSize}`);
  const pixels = canvas * canvas;
  const images = new Float32Array(options.count * pixels);
  const labels = new Uint8Array(options.count);
  for (let i = 0; i < options.count; i++) {
    const rng = createRng(hashSeed(options.seed, i));
    const image = images.subarray(i * pixels, (i + 1) * pixels);
    const digit = i % digits.count;
    labels[i] = digits.labels[digit] as number;
    // Clutter first, then the digit, all combined with max.
    for (let f = 0; f < fragments; f++) {
      const source = rng.int(0, digits.count - 1);
      const sy = rng.int(0, SIDE - fragmentSize);
      const sx = rng.int(0, SIDE - fragmentSize);
      const ty = rng.int(0, canvas - fragmentSize);
      const tx = rng.int(0, canvas - fragmentSize);
      for (let y = 0; y < fragmentSize; y++) {
        for (let x = 0; x < fragmentSize; x++) {
          const value = digits.images[source * SIDE * SIDE + (sy + y) * SIDE + sx + x] as number;
          const at = (ty + y) * canvas + tx + x;
          if (value > (image[at] as number)) image[at] = value;
        }
      }
    }
    const top = rng.int(0, canvas - SIDE);
    const left = rng.int(0, canvas - SIDE);
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const value = digits.images[digit * SIDE * SIDE + y * SIDE + x] as number;
        const at = (top + y) * canvas + left + x;
        if (value > (image[at] as number)) image[at] = value;
      }
    }
  }
  return { images, labels, count: options.count, shape: [canvas, canvas, 1] };
}
