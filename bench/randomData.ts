/**
 * A fixed in-memory segmentation dataset of deterministic pseudo-random
 * images and labels, shared by the training benches (data preparation is
 * cheap and measured in the profile).
 */
import type { SegmentationDataset } from '../src/data/types.js';

/** `size` samples of `side`×`side`×3 images, 11 classes, the first two rows ignored (255). */
export function randomSegmentationDataset(size: number, side: number): SegmentationDataset {
  const samples = Array.from({ length: size }, (_, i) => {
    const image = new Float32Array(side * side * 3);
    const label = new Uint8Array(side * side);
    for (let j = 0; j < image.length; j++) image[j] = Math.sin(i * 7919 + j * 0.37);
    for (let j = 0; j < label.length; j++) label[j] = j < 2 * side ? 255 : (i + (j >> 9)) % 11;
    return { image, label, height: side, width: side, channels: 3, id: `r${i}` };
  });
  return { numClasses: 11, ignoreLabel: 255, classNames: Array.from({ length: 11 }, (_, i) => `class${i}`), size, get: (i: number) => samples[i % size]! };
}
