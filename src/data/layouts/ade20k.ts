/**
 * ADE20K's scene-parsing benchmark (`ADEChallengeData2016`, MIT Scene
 * Parsing) as a `DatasetLayout`. Node only.
 *
 *   <root>/images/{training,validation}/ADE_<split>_<n>.jpg
 *   <root>/annotations/{training,validation}/ADE_<split>_<n>.png
 *
 * `root` is the `ADEChallengeData2016` folder or the folder holding it.
 * Masks hold 0 (other/unlabelled) and the 150 classes as 1..150: 0 → ignore
 * (255) and v → v − 1, as mmsegmentation's `reduce_zero_label`; values above
 * 150 (not in the release) are ignored too.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { vocColor } from '../palette.js';
import type { DatasetLayout } from '../pairs.js';
import { addUnique, filesEndingWith, pairByKey, requireFolder, stemOf, subfolders } from './files.js';

const FN = 'ade20kLayout';

/** The 150 classes of the benchmark (objectInfo150 order, short names). */
export const ADE20K_CLASS_NAMES: readonly string[] = [
  'wall', 'building', 'sky', 'floor', 'tree', 'ceiling', 'road', 'bed', 'windowpane', 'grass',
  'cabinet', 'sidewalk', 'person', 'earth', 'door', 'table', 'mountain', 'plant', 'curtain', 'chair',
  'car', 'water', 'painting', 'sofa', 'shelf', 'house', 'sea', 'mirror', 'rug', 'field',
  'armchair', 'seat', 'fence', 'desk', 'rock', 'wardrobe', 'lamp', 'bathtub', 'railing', 'cushion',
  'base', 'box', 'column', 'signboard', 'chest of drawers', 'counter', 'sand', 'sink', 'skyscraper', 'fireplace',
  'refrigerator', 'grandstand', 'path', 'stairs', 'runway', 'case', 'pool table', 'pillow', 'screen door', 'stairway',
  'river', 'bridge', 'bookcase', 'blind', 'coffee table', 'toilet', 'flower', 'book', 'hill', 'bench',
  'countertop', 'stove', 'palm', 'kitchen island', 'computer', 'swivel chair', 'boat', 'bar', 'arcade machine', 'hovel',
  'bus', 'towel', 'light', 'truck', 'tower', 'chandelier', 'awning', 'streetlight', 'booth', 'television receiver',
  'airplane', 'dirt track', 'apparel', 'pole', 'land', 'bannister', 'escalator', 'ottoman', 'bottle', 'buffet',
  'poster', 'stage', 'van', 'ship', 'fountain', 'conveyer belt', 'canopy', 'washer', 'plaything', 'swimming pool',
  'stool', 'barrel', 'basket', 'waterfall', 'tent', 'bag', 'minibike', 'cradle', 'oven', 'ball',
  'food', 'step', 'tank', 'trade name', 'microwave', 'pot', 'animal', 'bicycle', 'lake', 'dishwasher',
  'screen', 'blanket', 'sculpture', 'hood', 'sconce', 'vase', 'traffic light', 'tray', 'ashcan', 'fan',
  'pier', 'crt screen', 'plate', 'monitor', 'bulletin board', 'shower', 'radiator', 'glass', 'clock', 'flag',
];

/** Distinct colours for figures (the VOC bit-interleaved colour map from index 1; not the official ADE colours). */
export const ADE20K_PALETTE: readonly (readonly [number, number, number])[] = ADE20K_CLASS_NAMES.map((_, i) => vocColor(i + 1));

/** Split names accepted → the benchmark's folder names. */
const SPLITS: Readonly<Record<string, string>> = { train: 'training', training: 'training', val: 'validation', validation: 'validation' };

/** The 256-entry lookup: 0 → 255, v → v − 1 for 1..150, above → 255. */
export function ade20kLookup(): Uint8Array {
  const lookup = new Uint8Array(256).fill(255);
  for (let v = 1; v <= ADE20K_CLASS_NAMES.length; v++) lookup[v] = v - 1;
  return lookup;
}

export interface Ade20kLayoutOptions {
  /** 'train' / 'training' or 'val' / 'validation'. */
  split: string;
}

/** Lists an ADE20K split: every image with its annotation, matched by file stem. */
export async function ade20kLayout(root: string, options: Ade20kLayoutOptions): Promise<DatasetLayout> {
  if (typeof root !== 'string' || root === '') throw new Error(`${FN}: 'root' must be a folder path, received ${JSON.stringify(root)}`);
  if (typeof options !== 'object' || options === null) throw new Error(`${FN}: 'options' must be an object with a 'split', received ${JSON.stringify(options)}`);
  const folder = SPLITS[options.split];
  if (folder === undefined) {
    throw new Error(`${FN}: unknown split ${JSON.stringify(options.split)} (valid: ${Object.keys(SPLITS).map((s) => `'${s}'`).join(', ')})`);
  }
  const base = existsSync(join(root, 'ADEChallengeData2016')) ? join(root, 'ADEChallengeData2016') : root;
  requireFolder(FN, join(base, 'images'), 'ADEChallengeData2016/images/{training,validation}/*.jpg');
  requireFolder(FN, join(base, 'annotations'), 'ADEChallengeData2016/annotations/{training,validation}/*.png');
  const imageDir = join(base, 'images', folder);
  const maskDir = join(base, 'annotations', folder);
  if (!existsSync(imageDir)) {
    const present = await subfolders(join(base, 'images'));
    throw new Error(`${FN}: folder '${imageDir}' does not exist (split '${options.split}'; folders in images/: ${present.map((s) => `'${s}'`).join(', ') || 'none'})`);
  }
  requireFolder(FN, maskDir, `the annotations of split '${options.split}'`);
  const images = new Map<string, string>();
  const masks = new Map<string, string>();
  for (const name of await filesEndingWith(imageDir, ['.jpg', '.jpeg', '.png'])) addUnique(FN, images, stemOf(name), join(imageDir, name));
  for (const name of await filesEndingWith(maskDir, ['.png'])) addUnique(FN, masks, stemOf(name), join(maskDir, name));
  if (images.size === 0) throw new Error(`${FN}: no images (*.jpg) in '${imageDir}'`);
  const pairs = pairByKey(FN, images, masks, { images: imageDir, masks: maskDir, maskFor: (id) => join(maskDir, `${id}.png`) });
  return {
    name: 'ade20k',
    split: folder,
    pairs,
    mask: { kind: 'index', lookup: ade20kLookup() },
    numClasses: ADE20K_CLASS_NAMES.length,
    classNames: ADE20K_CLASS_NAMES,
    ignoreLabel: 255,
    palette: ADE20K_PALETTE,
  };
}
