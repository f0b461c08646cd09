/**
 * The `data` section of a run config: which registered dataset, its sizes,
 * and the training augmentation. One schema entry per key (type, range,
 * default, doc, CLI flag); a dataset reads the keys it needs.
 */
import type { Schema } from '../schema.js';
import { DATASETS } from './registry.js';

export interface DataConfig {
  /** A registered dataset: 'scenes' (the built-in MNIST scenes), 'voc' (a PASCAL-VOC-format folder), … */
  source: string;
  /** Root of the VOC-format folder (source 'voc'). */
  vocRoot: string | null;
  /** Root of a dataset folder in another layout (sources 'cityscapes', 'ade20k', 'folder'). */
  root: string | null;
  /** Scenes in the training split (source 'scenes'). */
  trainSize: number;
  /** Scenes in the validation split (source 'scenes'); VOC uses its val list. */
  valSize: number;
  /** Canvas side of the scenes (and the VOC training crop when `cropSize` is null). */
  canvasSize: number;
  /** VOC: side of the random training crops, which is also the model's input size (null: `canvasSize`). Evaluation is at the original resolution (`eval.mode`). */
  cropSize: number | null;
  /** One name per class (null: the dataset's; VOC's 21 names when numClasses is 21, else class0…). */
  classNames: string[] | null;
  /** VOC: 'color' (SegmentationClass palette PNGs) or 'index' (grey PNGs holding class indices, e.g. SegmentationClassAug). */
  maskFormat: 'color' | 'index';
  /** VOC: folder of the masks under the root (null: SegmentationClass for 'color', SegmentationClassAug for 'index'). */
  maskDir: string | null;
  /** VOC: list names in ImageSets/Segmentation for training and evaluation. */
  trainSplit: string;
  valSplit: string;
  /** Digits per scene [min, max]. */
  digitsPerScene: [number, number];
  /** Digit side = 28·scale pixels, scale drawn from [min, max] (null: [1.5, 2.2], capped at canvas/28). */
  digitScale: [number, number] | null;
  /** Grow digit labels by this many pixels so strokes become regions (0: labels follow the strokes). */
  labelDilation: number;
  /** Occlusion: the largest fraction of an earlier digit a new digit may cover (1: any). */
  digitOverlap: number;
  /** Digit fragments pasted as background clutter per scene, [min, max]. */
  clutterFragments: [number, number];
  /** Training augmentation: random rescaling by a factor from [min, max] (hemnet 0.1: `scaleRange`). */
  augmentScale: [number, number];
  /** Training augmentation: random horizontal flips. */
  flip: boolean;
  /** Seed of the dataset and of the augmentation. */
  seed: number;
}

export const DATA_SCHEMA = {
  source: { kind: 'enum', values: () => DATASETS.names(), default: 'scenes', flag: 'data', doc: 'dataset (registry DATASETS): scenes (built-in MNIST scenes) | voc (PASCAL-VOC-format folder)' },
  vocRoot: { kind: 'string', nullable: true, default: null, flag: 'voc-root', doc: 'PASCAL-VOC-format folder (JPEGImages/, SegmentationClass/, ImageSets/)' },
  root: { kind: 'string', nullable: true, default: null, flag: 'data-root', doc: 'dataset folder of --data cityscapes (leftImg8bit/, gtFine/), ade20k (ADEChallengeData2016/) or folder (images/<split>/, masks/<split>/, classes.json|txt)' },
  trainSize: { kind: 'integer', min: 1, max: 10_000_000, default: 4000, flag: 'train-size', doc: 'scenes in the training split' },
  valSize: { kind: 'integer', min: 1, max: 10_000_000, default: 500, flag: 'val-size', doc: 'scenes in the validation split' },
  canvasSize: { kind: 'integer', min: 8, max: 8192, default: 64, flag: 'canvas-size', doc: 'scene side in pixels' },
  cropSize: { kind: 'integer', min: 8, nullable: true, default: null, flag: 'crop-size', doc: 'VOC: side of the random training crops = the model input size (--data voc: 256)' },
  classNames: { kind: 'strings', nullable: true, default: null, flag: 'class-names', doc: "comma-separated class names, one per class (default: the dataset's; VOC's 21)" },
  maskFormat: { kind: 'enum', values: ['color', 'index'], default: 'color', flag: 'mask-format', doc: 'VOC masks: color (SegmentationClass palette PNGs) | index (grey class indices, SegmentationClassAug)' },
  maskDir: { kind: 'string', nullable: true, default: null, flag: 'mask-dir', doc: 'VOC: mask folder under the root (default SegmentationClass, or SegmentationClassAug for index)' },
  trainSplit: { kind: 'string', default: 'train', flag: 'train-split', doc: 'VOC: training list in ImageSets/Segmentation (e.g. train_aug, trainval)' },
  valSplit: { kind: 'string', default: 'val', flag: 'val-split', doc: 'VOC: evaluation list in ImageSets/Segmentation' },
  digitsPerScene: { kind: 'numbers', integer: true, length: 2, min: 1, default: [1, 2], doc: 'digits per scene [min, max]' },
  digitScale: { kind: 'numbers', length: 2, min: 0, exclusiveMin: true, nullable: true, default: null, flag: 'digit-scale', doc: 'min,max digit scale (side = 28·scale pixels)' },
  labelDilation: { kind: 'integer', min: 0, max: 8, default: 1, flag: 'label-dilation', doc: 'grow digit labels by this many pixels (0: strokes only)' },
  digitOverlap: { kind: 'number', min: 0, max: 1, default: 0.25, flag: 'digit-overlap', doc: 'occlusion: largest fraction of an earlier digit a new digit may cover (1: any)' },
  clutterFragments: { kind: 'numbers', integer: true, length: 2, min: 0, default: [0, 2], flag: 'clutter', doc: 'min,max digit fragments of background clutter per scene' },
  augmentScale: { kind: 'numbers', length: 2, min: 0, exclusiveMin: true, default: [1, 1], flag: 'augment-scale', doc: 'min,max random rescaling of training images (augmentation)' },
  flip: { kind: 'boolean', default: false, flag: 'augment-flip', doc: 'random horizontal flips of training images (augmentation)' },
  seed: { kind: 'integer', min: 0, default: 0, flag: 'data-seed', doc: 'seed of the scenes and the augmentation' },
} as const satisfies Schema;

/** Keys renamed since hemnet 0.1: old config files and checkpoints still load (the old key is moved to the new one). */
export const RENAMED_DATA_KEYS: Readonly<Record<string, keyof DataConfig>> = { scaleRange: 'augmentScale' };
