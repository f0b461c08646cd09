/**
 * Cityscapes (https://www.cityscapes-dataset.com) as a `DatasetLayout`. Node only.
 *
 *   <root>/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
 *   <root>/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
 *
 * Masks hold the 34 label ids (0..33); the 19 evaluated classes are their
 * train ids, every other id is ignored (255), as in the official
 * cityscapesScripts `labels.py`. With `labels: 'trainIds'` the
 * `*_gtFine_labelTrainIds.png` masks that cityscapesScripts writes are read
 * directly (255 stays ignore).
 */
import { join } from 'node:path';
import type { DatasetLayout } from '../pairs.js';
import { addUnique, filesEndingWith, pairByKey, requireFolder, subfolders } from './files.js';

const FN = 'cityscapesLayout';
const IMAGE_SUFFIX = '_leftImg8bit.png';

/** The 19 evaluated classes, in train-id order. */
export const CITYSCAPES_CLASS_NAMES: readonly string[] = [
  'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation', 'terrain',
  'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle',
];

/** The official colours of the 19 classes (cityscapesScripts `labels.py`). */
export const CITYSCAPES_PALETTE: readonly (readonly [number, number, number])[] = [
  [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153], [250, 170, 30],
  [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60], [255, 0, 0], [0, 0, 142],
  [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32],
];

/** label id → train id for the evaluated ids; every other id (void, flat/parking, rail track, guard rail, …) is ignored. */
const LABEL_TO_TRAIN: Readonly<Record<number, number>> = {
  7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
  23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
};

/** The 256-entry lookup label id → train id (255 = ignore). */
export function cityscapesLabelIdLookup(): Uint8Array {
  const lookup = new Uint8Array(256).fill(255);
  for (const [id, train] of Object.entries(LABEL_TO_TRAIN)) lookup[Number(id)] = train;
  return lookup;
}

/** Train-id masks: 0..18 stay, anything else is ignored (255). */
function trainIdLookup(): Uint8Array {
  const lookup = new Uint8Array(256).fill(255);
  for (let i = 0; i < CITYSCAPES_CLASS_NAMES.length; i++) lookup[i] = i;
  return lookup;
}

export interface CityscapesLayoutOptions {
  /** 'train', 'val' or 'test' (a folder under leftImg8bit/). */
  split: string;
  /** Which fine masks: 'labelIds' (default, mapped to train ids) or 'trainIds' (already mapped). */
  labels?: 'labelIds' | 'trainIds';
}

/** Lists a Cityscapes split: every `leftImg8bit` image with its `gtFine` mask. */
export async function cityscapesLayout(root: string, options: CityscapesLayoutOptions): Promise<DatasetLayout> {
  if (typeof root !== 'string' || root === '') throw new Error(`${FN}: 'root' must be a folder path, received ${JSON.stringify(root)}`);
  if (typeof options !== 'object' || options === null) throw new Error(`${FN}: 'options' must be an object with a 'split', received ${JSON.stringify(options)}`);
  const { split } = options;
  const labels = options.labels ?? 'labelIds';
  if (labels !== 'labelIds' && labels !== 'trainIds') throw new Error(`${FN}: 'labels' must be 'labelIds' or 'trainIds', received ${JSON.stringify(labels)}`);
  const imageRoot = join(root, 'leftImg8bit');
  const maskRoot = join(root, 'gtFine');
  requireFolder(FN, imageRoot, "Cityscapes' leftImg8bit/<split>/<city>/*_leftImg8bit.png");
  requireFolder(FN, maskRoot, "Cityscapes' gtFine/<split>/<city>/*_gtFine_labelIds.png");
  const splits = await subfolders(imageRoot);
  if (typeof split !== 'string' || !splits.includes(split)) {
    throw new Error(`${FN}: unknown split ${JSON.stringify(split)} (splits in '${imageRoot}': ${splits.map((s) => `'${s}'`).join(', ') || 'none'})`);
  }
  const imageSplit = join(imageRoot, split);
  const maskSplit = join(maskRoot, split);
  requireFolder(FN, maskSplit, `the masks of split '${split}'`);
  const maskSuffix = labels === 'labelIds' ? '_gtFine_labelIds.png' : '_gtFine_labelTrainIds.png';

  const images = new Map<string, string>();
  const masks = new Map<string, string>();
  for (const city of await subfolders(imageSplit)) {
    for (const name of await filesEndingWith(join(imageSplit, city), [IMAGE_SUFFIX])) {
      addUnique(FN, images, name.slice(0, -IMAGE_SUFFIX.length), join(imageSplit, city, name));
    }
  }
  for (const city of await subfolders(maskSplit)) {
    // gtFine also holds *_color.png, *_instanceIds.png and *_polygons.json: only the chosen masks count.
    for (const name of await filesEndingWith(join(maskSplit, city), [maskSuffix])) {
      addUnique(FN, masks, name.slice(0, -maskSuffix.length), join(maskSplit, city, name));
    }
  }
  if (images.size === 0) throw new Error(`${FN}: no '*${IMAGE_SUFFIX}' images under '${imageSplit}/<city>/'`);
  const pairs = pairByKey(FN, images, masks, {
    images: imageSplit,
    masks: maskSplit,
    maskFor: (id) => join(maskSplit, id.split('_')[0] ?? '', `${id}${maskSuffix}`),
  });
  return {
    name: 'cityscapes',
    split,
    pairs,
    mask: { kind: 'index', lookup: labels === 'labelIds' ? cityscapesLabelIdLookup() : trainIdLookup() },
    numClasses: CITYSCAPES_CLASS_NAMES.length,
    classNames: CITYSCAPES_CLASS_NAMES,
    ignoreLabel: 255,
    palette: CITYSCAPES_PALETTE,
  };
}
