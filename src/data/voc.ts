/**
 * PASCAL-VOC-format segmentation loader. Node only (node:fs and sharp).
 *
 * Layout under `root`:
 *   JPEGImages/<id>.jpg, SegmentationClass/<id>.png,
 *   ImageSets/Segmentation/<split>.txt (one id per line).
 * Masks are palette PNGs (or RGB PNGs) in the VOC colour map; sharp decodes
 * both to RGB, and the colours are mapped back to class indices
 * (224,224,192 → 255, the ignore label). With `maskFormat: 'index'` the mask
 * holds class indices directly as grey values (as in SegmentationClassAug).
 *
 * Everything is decoded up front (sharp is async) and kept as bytes, so
 * `get` stays synchronous; `maxSide` shrinks large images at load time.
 */
import { checkKnownKeys } from '../schema.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadSharp } from '../io/sharp.js';
import { augmentSample, decodedRgbSample, IMAGENET_MEAN, IMAGENET_STD, normalizeImage, resizeLabelNearest, type AugmentOptions } from './augment.js';
import { VOC_CLASS_NAMES, vocColorsToLabels } from './palette.js';
import type { SegmentationDataset, SegmentationSample } from './types.js';
import { checkSampleId } from './vocLayout.js';

export interface VocOptions {
  /** Name of the list in ImageSets/Segmentation (e.g. 'train', 'val', 'trainval'). */
  split: string;
  /** Classes including background. Default 21. */
  numClasses?: number;
  /** Names, length numClasses. Default: the VOC names when numClasses = 21, else 'class0'… */
  classNames?: readonly string[];
  /** Load only the first `limit` ids of the list. */
  limit?: number;
  /** Downscale (never upscale) so that the longer side is at most this many pixels. */
  maxSide?: number;
  /** 'color' (default): VOC colour-map masks; 'index': grey masks holding class indices. */
  maskFormat?: 'color' | 'index';
  /** Folder of the masks under `root`. Default 'SegmentationClass' ('SegmentationClassAug' holds the augmented set's index masks). */
  maskDir?: string;
  /** Random augmentation applied in `get(index, epoch)`, seeded by hash(seed, epoch, index). */
  augment?: AugmentOptions & { seed?: number };
  /** Normalisation of RGB in [0, 1]. Default ImageNet mean/std. */
  mean?: readonly number[];
  std?: readonly number[];
  /** Images decoded at once. Default 4. */
  concurrency?: number;
}

interface DecodedItem {
  id: string;
  rgb: Uint8Array;
  label: Uint8Array;
  height: number;
  width: number;
}

/** A VOC-format dataset held in memory as bytes. */
export class VocDataset implements SegmentationDataset {
  readonly ignoreLabel = 255;
  readonly size: number;
  /** Image ids in list order. */
  readonly ids: readonly string[];

  constructor(
    private readonly items: readonly DecodedItem[],
    readonly numClasses: number,
    readonly classNames: readonly string[],
    private readonly mean: readonly number[],
    private readonly std: readonly number[],
    private readonly augment: (AugmentOptions & { seed?: number }) | undefined,
  ) {
    this.size = items.length;
    this.ids = items.map((item) => item.id);
  }

  /** Sample `index`: normalised image `[H, W, 3]`, labels `[H, W]`; augmented when configured. */
  get(index: number, epoch = 0): SegmentationSample {
    const item = this.items[index];
    if (item === undefined || !Number.isInteger(index)) {
      throw new Error(`VocDataset.get: 'index' must be an integer in [0, ${this.size - 1}], received ${index}`);
    }
    return decodedRgbSample(item, this.mean, this.std, this.augment, this.ignoreLabel, index, epoch);
  }
}

function requireFolder(path: string): void {
  if (!existsSync(path) || !statSync(path).isDirectory()) {
    throw new Error(`loadVocDataset: folder '${path}' does not exist`);
  }
}

function requireFile(path: string, what: string): void {
  if (!existsSync(path) || !statSync(path).isFile()) throw new Error(`loadVocDataset: ${what} '${path}' does not exist`);
}

async function decode(path: string, what: string, id: string): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const sharp = await loadSharp('loadVocDataset (decoding VOC images)');
  try {
    const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
  } catch (error) {
    throw new Error(`loadVocDataset: cannot decode ${what} '${path}' of id '${id}': ${(error as Error).message}`);
  }
}

async function loadItem(
  root: string,
  id: string,
  numClasses: number,
  maskFormat: 'color' | 'index',
  maxSide: number | undefined,
  maskDir = 'SegmentationClass',
): Promise<DecodedItem> {
  const imagePath = join(root, 'JPEGImages', `${id}.jpg`);
  const maskPath = join(root, maskDir, `${id}.png`);
  requireFile(imagePath, 'image');
  requireFile(maskPath, 'mask');
  const image = await decode(imagePath, 'image', id);
  const mask = await decode(maskPath, 'mask', id);
  if (image.height !== mask.height || image.width !== mask.width) {
    throw new Error(
      `loadVocDataset: image '${id}' is ${image.height}×${image.width} but its mask is ${mask.height}×${mask.width} (height×width)`,
    );
  }
  let label: Uint8Array;
  if (maskFormat === 'index') {
    label = new Uint8Array(mask.height * mask.width);
    for (let p = 0; p < label.length; p++) label[p] = mask.data[p * mask.channels] as number;
  } else {
    if (mask.channels < 3) {
      throw new Error(`loadVocDataset: mask '${maskPath}' of id '${id}' decodes to ${mask.channels} channel(s); VOC colour masks need RGB (use maskFormat 'index' for grey index masks)`);
    }
    const mapped = vocColorsToLabels(mask.data, mask.channels);
    if (mapped.unknownAt >= 0) {
      const o = mapped.unknownAt * mask.channels;
      const colour = `(${mask.data[o]}, ${mask.data[o + 1]}, ${mask.data[o + 2]})`;
      const y = Math.floor(mapped.unknownAt / mask.width);
      throw new Error(`loadVocDataset: mask '${maskPath}' of id '${id}' has colour ${colour} at pixel (${y}, ${mapped.unknownAt % mask.width}), which is not in the VOC colour map`);
    }
    label = mapped.labels;
  }
  for (let p = 0; p < label.length; p++) {
    const v = label[p] as number;
    if (v >= numClasses && v !== 255) {
      throw new Error(
        `loadVocDataset: mask of id '${id}' has label ${v} at pixel (${Math.floor(p / mask.width)}, ${p % mask.width}), outside [0, ${numClasses - 1}] for numClasses ${numClasses} (255 = ignore)`,
      );
    }
  }
  const sharp = await loadSharp('loadVocDataset (decoding VOC images)');
  let rgb: Uint8Array;
  let { height, width } = image;
  if (image.channels === 3) {
    rgb = image.data;
  } else {
    // Grey (1), grey+alpha (2) or RGBA (4): let sharp convert to 3-channel sRGB.
    const { data } = await sharp(imagePath).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
    if (rgb.length !== height * width * 3) throw new Error(`loadVocDataset: cannot convert image '${imagePath}' of id '${id}' to RGB`);
  }
  if (maxSide !== undefined && Math.max(height, width) > maxSide) {
    const factor = maxSide / Math.max(height, width);
    const newHeight = Math.max(1, Math.round(height * factor));
    const newWidth = Math.max(1, Math.round(width * factor));
    const { data } = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .resize(newWidth, newHeight, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
    label = resizeLabelNearest(label, height, width, newHeight, newWidth);
    height = newHeight;
    width = newWidth;
  }
  return { id, rgb, label, height, width };
}

/**
 * Reads a VOC-format folder and decodes the split's images and masks.
 * Throws (never skips) on a missing folder/file, an undecodable image,
 * an image/mask size mismatch, an unknown mask colour or a label ≥ numClasses.
 */
export async function loadVocDataset(root: string, options: VocOptions): Promise<VocDataset> {
  if (typeof root !== 'string' || root === '') throw new Error(`loadVocDataset: 'root' must be a folder path, received ${JSON.stringify(root)}`);
  if (options === null || typeof options !== 'object') throw new Error(`loadVocDataset: 'options' must be an object, received ${String(options)}`);
  checkKnownKeys('loadVocDataset', 'option', options, ['split', 'numClasses', 'classNames', 'limit', 'maxSide', 'maskFormat', 'maskDir', 'augment', 'mean', 'std', 'concurrency']);
  const { split, numClasses = 21, limit, maxSide, maskFormat = 'color', maskDir = 'SegmentationClass', concurrency = 4 } = options;
  if (typeof maskDir !== 'string' || maskDir === '' || maskDir.includes('..')) {
    throw new Error(`loadVocDataset: 'maskDir' must be a folder name under the root such as 'SegmentationClassAug', received ${JSON.stringify(maskDir)}`);
  }
  if (typeof split !== 'string' || !/^[\w.-]+$/.test(split)) {
    throw new Error(`loadVocDataset: 'split' must be a list name such as 'train' or 'val', received ${JSON.stringify(split)}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 2 || numClasses > 255) {
    throw new Error(`loadVocDataset: 'numClasses' must be an integer in [2, 255], received ${numClasses}`);
  }
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new Error(`loadVocDataset: 'limit' must be a positive integer, received ${limit}`);
  if (maxSide !== undefined && (!Number.isInteger(maxSide) || maxSide < 1)) throw new Error(`loadVocDataset: 'maxSide' must be a positive integer, received ${maxSide}`);
  if (maskFormat !== 'color' && maskFormat !== 'index') throw new Error(`loadVocDataset: 'maskFormat' must be 'color' or 'index', received '${String(maskFormat)}'`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`loadVocDataset: 'concurrency' must be a positive integer, received ${concurrency}`);
  const classNames = options.classNames ?? (numClasses === 21 ? VOC_CLASS_NAMES : Array.from({ length: numClasses }, (_, i) => `class${i}`));
  if (classNames.length !== numClasses) {
    throw new Error(`loadVocDataset: 'classNames' must have numClasses = ${numClasses} names, received ${classNames.length}`);
  }
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  normalizeImage(new Uint8Array(3), 3, mean, std); // validates mean/std with a clear message
  if (options.augment !== undefined) augmentSample({ image: new Float32Array(3), label: new Uint8Array(1), height: 1, width: 1, channels: 3, id: '' }, options.augment, 0);

  requireFolder(root);
  for (const folder of ['JPEGImages', maskDir, join('ImageSets', 'Segmentation')]) requireFolder(join(root, folder));
  const listPath = join(root, 'ImageSets', 'Segmentation', `${split}.txt`);
  requireFile(listPath, 'split list');
  let ids = readFileSync(listPath, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (ids.length === 0) throw new Error(`loadVocDataset: split list '${listPath}' holds no ids`);
  ids.forEach((id) => checkSampleId('loadVocDataset', id, `'${listPath}'`));
  if (limit !== undefined) ids = ids.slice(0, limit);

  const items: DecodedItem[] = [];
  for (let start = 0; start < ids.length; start += concurrency) {
    const chunk = ids.slice(start, start + concurrency);
    items.push(...(await Promise.all(chunk.map((id) => loadItem(root, id, numClasses, maskFormat, maxSide, maskDir)))));
  }
  return new VocDataset(items, numClasses, classNames, mean, std, options.augment);
}
