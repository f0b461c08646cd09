/**
 * Data augmentation and batching on plain typed arrays (platform-neutral):
 * random scale (bilinear image, nearest labels), random crop with padding,
 * horizontal flip, normalisation, and batching into `[B, H, W, C]` arrays or
 * tf tensors. Randomness comes from a seed, so (seed, epoch, index) fixes a sample.
 */
import { checkKnownKeys } from '../schema.js';
import * as tf from '@tensorflow/tfjs';
import { createRng, hashSeed, type Rng } from './random.js';
import type { SegmentationDataset, SegmentationSample } from './types.js';

export interface AugmentOptions {
  /** Resize both sides by a factor drawn uniformly from [min, max]. Default [1, 1] (off). */
  scaleRange?: [number, number];
  /** Random crop to `[height, width]` (or a square side), padding bottom/right when the image is smaller. Default: no crop. */
  cropSize?: number | [number, number];
  /** Flip horizontally with probability 1/2. Default false. */
  flip?: boolean;
  /** Image value for padded pixels (0 = the mean after normalisation). Default 0. */
  imagePadValue?: number;
  /** Label for padded pixels. Default 255. */
  ignoreLabel?: number;
}

/** A batch: images `[B, H, W, C]`, labels `[B, H, W]`, row-major. */
export interface SegmentationBatch {
  images: Float32Array;
  labels: Int32Array;
  batchSize: number;
  height: number;
  width: number;
  channels: number;
  ids: string[];
}

function checkSize(fn: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${fn}: '${name}' must be a positive integer, received ${value}`);
}

/**
 * Bilinear resize of an image `[height, width, channels]` → `[newHeight, newWidth, channels]`
 * with pixel-centre alignment (align_corners = false, as tf.image.resizeBilinear with halfPixelCenters).
 */
export function resizeImageBilinear(
  image: Float32Array,
  height: number,
  width: number,
  channels: number,
  newHeight: number,
  newWidth: number,
): Float32Array {
  for (const [name, v] of [['height', height], ['width', width], ['channels', channels], ['newHeight', newHeight], ['newWidth', newWidth]] as const) {
    checkSize('resizeImageBilinear', name, v);
  }
  if (image.length !== height * width * channels) {
    throw new Error(`resizeImageBilinear: 'image' must have ${height}×${width}×${channels} = ${height * width * channels} values, received ${image.length}`);
  }
  const out = new Float32Array(newHeight * newWidth * channels);
  const ry = height / newHeight;
  const rx = width / newWidth;
  for (let i = 0; i < newHeight; i++) {
    const sy = Math.min(height - 1, Math.max(0, (i + 0.5) * ry - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(height - 1, y0 + 1);
    const wy = sy - y0;
    for (let j = 0; j < newWidth; j++) {
      const sx = Math.min(width - 1, Math.max(0, (j + 0.5) * rx - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(width - 1, x0 + 1);
      const wx = sx - x0;
      const a = (y0 * width + x0) * channels;
      const b = (y0 * width + x1) * channels;
      const c = (y1 * width + x0) * channels;
      const d = (y1 * width + x1) * channels;
      const o = (i * newWidth + j) * channels;
      for (let k = 0; k < channels; k++) {
        out[o + k] =
          (1 - wy) * ((1 - wx) * (image[a + k] as number) + wx * (image[b + k] as number)) +
          wy * ((1 - wx) * (image[c + k] as number) + wx * (image[d + k] as number));
      }
    }
  }
  return out;
}

/** Nearest-neighbour resize of labels `[height, width]` → `[newHeight, newWidth]` (labels never blend). */
export function resizeLabelNearest(label: Uint8Array, height: number, width: number, newHeight: number, newWidth: number): Uint8Array {
  for (const [name, v] of [['height', height], ['width', width], ['newHeight', newHeight], ['newWidth', newWidth]] as const) {
    checkSize('resizeLabelNearest', name, v);
  }
  if (label.length !== height * width) {
    throw new Error(`resizeLabelNearest: 'label' must have ${height}×${width} = ${height * width} values, received ${label.length}`);
  }
  const out = new Uint8Array(newHeight * newWidth);
  for (let i = 0; i < newHeight; i++) {
    const y = Math.min(height - 1, Math.floor(((i + 0.5) * height) / newHeight));
    for (let j = 0; j < newWidth; j++) {
      const x = Math.min(width - 1, Math.floor(((j + 0.5) * width) / newWidth));
      out[i * newWidth + j] = label[y * width + x] as number;
    }
  }
  return out;
}

/** Resizes a sample: image bilinear, label nearest. */
export function resizeSample(sample: SegmentationSample, newHeight: number, newWidth: number): SegmentationSample {
  return {
    image: resizeImageBilinear(sample.image, sample.height, sample.width, sample.channels, newHeight, newWidth),
    label: resizeLabelNearest(sample.label, sample.height, sample.width, newHeight, newWidth),
    height: newHeight,
    width: newWidth,
    channels: sample.channels,
    id: sample.id,
  };
}

/**
 * The window `[top, top + height) × [left, left + width)` of a sample; parts
 * outside the sample are padded with `imagePadValue` / `ignoreLabel`.
 */
export function cropSample(
  sample: SegmentationSample,
  top: number,
  left: number,
  height: number,
  width: number,
  padding: { imagePadValue?: number; ignoreLabel?: number } = {},
): SegmentationSample {
  checkSize('cropSample', 'height', height);
  checkSize('cropSample', 'width', width);
  if (!Number.isInteger(top) || !Number.isInteger(left)) {
    throw new Error(`cropSample: 'top' and 'left' must be integers, received ${top}, ${left}`);
  }
  const C = sample.channels;
  const image = new Float32Array(height * width * C).fill(padding.imagePadValue ?? 0);
  const label = new Uint8Array(height * width).fill(padding.ignoreLabel ?? 255);
  for (let i = 0; i < height; i++) {
    const y = top + i;
    if (y < 0 || y >= sample.height) continue;
    const x0 = Math.max(0, left);
    const x1 = Math.min(sample.width, left + width);
    if (x1 <= x0) continue;
    const dst = i * width + (x0 - left);
    image.set(sample.image.subarray((y * sample.width + x0) * C, (y * sample.width + x1) * C), dst * C);
    label.set(sample.label.subarray(y * sample.width + x0, y * sample.width + x1), dst);
  }
  return { image, label, height, width, channels: C, id: sample.id };
}

/** Mirror left ↔ right. */
export function flipSampleHorizontal(sample: SegmentationSample): SegmentationSample {
  const { height: H, width: W, channels: C } = sample;
  const image = new Float32Array(sample.image.length);
  const label = new Uint8Array(sample.label.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const from = y * W + x;
      const to = y * W + (W - 1 - x);
      label[to] = sample.label[from] as number;
      image.set(sample.image.subarray(from * C, from * C + C), to * C);
    }
  }
  return { image, label, height: H, width: W, channels: C, id: sample.id };
}

/**
 * Per-channel normalisation of interleaved pixels `[..., channels]`:
 * out = (pixel · scale − mean[c]) / std[c]. Use scale = 1/255 for bytes.
 */
export function normalizeImage(
  pixels: Float32Array | Uint8Array,
  channels: number,
  mean: readonly number[],
  std: readonly number[],
  scale = 1,
): Float32Array {
  checkSize('normalizeImage', 'channels', channels);
  if (mean.length !== channels || std.length !== channels || std.some((s) => !(s > 0)) || mean.some((m) => !Number.isFinite(m))) {
    throw new Error(
      `normalizeImage: 'mean' and 'std' must have ${channels} finite values with std > 0, received mean ${JSON.stringify(mean)}, std ${JSON.stringify(std)}`,
    );
  }
  if (pixels.length % channels !== 0) {
    throw new Error(`normalizeImage: 'pixels' length ${pixels.length} is not a multiple of ${channels} channels`);
  }
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const c = i % channels;
    out[i] = ((pixels[i] as number) * scale - (mean[c] as number)) / (std[c] as number);
  }
  return out;
}

/** ImageNet statistics for RGB in [0, 1]. */
export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

function checkAugmentOptions(fn: string, options: AugmentOptions): { scale: [number, number]; crop: [number, number] | null } {
  checkKnownKeys(fn, 'option', options, ['scaleRange', 'cropSize', 'flip', 'imagePadValue', 'ignoreLabel', 'seed']);
  const scale = options.scaleRange ?? [1, 1];
  if (!Array.isArray(scale) || scale.length !== 2 || !(scale[0] > 0) || !(scale[1] >= scale[0]) || !Number.isFinite(scale[1])) {
    throw new Error(`${fn}: 'scaleRange' must be [min, max] with 0 < min ≤ max, received ${JSON.stringify(scale)}`);
  }
  let crop: [number, number] | null = null;
  if (options.cropSize !== undefined) {
    crop = typeof options.cropSize === 'number' ? [options.cropSize, options.cropSize] : options.cropSize;
    if (!Array.isArray(crop) || crop.length !== 2 || !crop.every((v) => Number.isInteger(v) && v >= 1)) {
      throw new Error(`${fn}: 'cropSize' must be a positive integer or [height, width], received ${JSON.stringify(options.cropSize)}`);
    }
  }
  return { scale, crop };
}

/**
 * One random augmentation: scale (bilinear / nearest), crop with padding
 * (pad bottom/right, then a uniformly placed window), horizontal flip.
 * Deterministic given `seed` (a number or a running `Rng`).
 */
export function augmentSample(sample: SegmentationSample, options: AugmentOptions, seed: number | Rng): SegmentationSample {
  const { scale, crop } = checkAugmentOptions('augmentSample', options);
  const rng = typeof seed === 'number' ? createRng(seed) : seed;
  let out = sample;
  const factor = rng.uniform(scale[0], scale[1]);
  if (factor !== 1) {
    out = resizeSample(out, Math.max(1, Math.round(out.height * factor)), Math.max(1, Math.round(out.width * factor)));
  }
  if (crop !== null) {
    const top = rng.int(0, Math.max(0, out.height - crop[0]));
    const left = rng.int(0, Math.max(0, out.width - crop[1]));
    out = cropSample(out, top, left, crop[0], crop[1], options);
  }
  if (options.flip === true && rng.next() < 0.5) out = flipSampleHorizontal(out);
  return out;
}

/**
 * A dataset whose `get(index, epoch)` is `augmentSample(base.get(index, epoch), options)`
 * with the seed hash(seed, epoch, index): a new draw every epoch, reproducible.
 */
export function augmentDataset(base: SegmentationDataset, options: AugmentOptions & { seed?: number }): SegmentationDataset {
  checkAugmentOptions('augmentDataset', options);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new Error(`augmentDataset: 'seed' must be an integer, received ${seed}`);
  const augment = { ...options, ignoreLabel: options.ignoreLabel ?? base.ignoreLabel };
  delete (augment as { seed?: number }).seed;
  const augmented: SegmentationDataset = {
    numClasses: base.numClasses,
    ignoreLabel: base.ignoreLabel,
    classNames: base.classNames,
    size: base.size,
    get: (index: number, epoch = 0) => augmentSample(base.get(index, epoch), augment, hashSeed(seed, epoch, index)),
  };
  const load = base.load?.bind(base);
  if (load !== undefined) {
    // A streaming base decodes ahead; the augmentation follows on the same requests.
    augmented.load = async (requests) =>
      (await load(requests)).map((sample, i) => {
        const { index, epoch = 0 } = requests[i] as { index: number; epoch?: number };
        return augmentSample(sample, augment, hashSeed(seed, epoch, index));
      });
  }
  return augmented;
}

/** Stacks same-sized samples into `[B, H, W, C]` images and `[B, H, W]` int32 labels. */
export function batchSamples(samples: readonly SegmentationSample[]): SegmentationBatch {
  const first = samples[0];
  if (first === undefined) throw new Error('batchSamples: \'samples\' must hold at least one sample, received 0');
  const { height, width, channels } = first;
  const imageSize = height * width * channels;
  const labelSize = height * width;
  const images = new Float32Array(samples.length * imageSize);
  const labels = new Int32Array(samples.length * labelSize);
  samples.forEach((s, b) => {
    if (s.height !== height || s.width !== width || s.channels !== channels) {
      throw new Error(
        `batchSamples: sample ${b} ('${s.id}') is ${s.height}×${s.width}×${s.channels}, expected ${height}×${width}×${channels} like sample 0 ('${first.id}'); crop or resize first`,
      );
    }
    if (s.image.length !== imageSize || s.label.length !== labelSize) {
      throw new Error(`batchSamples: sample ${b} ('${s.id}') has ${s.image.length} image / ${s.label.length} label values for ${height}×${width}×${channels}`);
    }
    images.set(s.image, b * imageSize);
    labels.set(s.label, b * labelSize);
  });
  return { images, labels, batchSize: samples.length, height, width, channels, ids: samples.map((s) => s.id) };
}

/** tf tensors of a batch: images `[B, H, W, C]` float32, labels `[B, H, W]` int32. The caller disposes them. */
export function batchToTensors(batch: SegmentationBatch): { images: tf.Tensor4D; labels: tf.Tensor3D } {
  const { batchSize: B, height: H, width: W, channels: C } = batch;
  return {
    images: tf.tensor4d(batch.images, [B, H, W, C], 'float32'),
    labels: tf.tensor3d(batch.labels, [B, H, W], 'int32'),
  };
}

/** An RGB image (bytes) with its class per pixel, as a dataset keeps it between decoding and `get`. */
export interface DecodedRgbSample {
  id: string;
  rgb: Uint8Array;
  label: Uint8Array;
  height: number;
  width: number;
}

/**
 * The normalised sample of a decoded RGB image, augmented (when `augment` is
 * given) with a generator seeded by hash(seed, epoch, index), so that a
 * sample is deterministic given (seed, epoch, index).
 */
export function decodedRgbSample(
  item: DecodedRgbSample,
  mean: readonly number[],
  std: readonly number[],
  augment: (AugmentOptions & { seed?: number }) | undefined,
  ignoreLabel: number,
  index: number,
  epoch: number,
): SegmentationSample {
  const sample: SegmentationSample = {
    image: normalizeImage(item.rgb, 3, mean, std, 1 / 255),
    label: item.label.slice(),
    height: item.height,
    width: item.width,
    channels: 3,
    id: item.id,
  };
  if (augment === undefined) return sample;
  const { seed = 0, ...options } = augment;
  return augmentSample(sample, { ignoreLabel, ...options }, hashSeed(seed, epoch, index));
}
