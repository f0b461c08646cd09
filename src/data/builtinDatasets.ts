/**
 * The built-in datasets (Node only: they read MNIST and image files):
 * 'scenes' (multi-digit MNIST scenes) and 'voc' (a PASCAL-VOC-format
 * folder). Importing this module registers them in `DATASETS`;
 * `hemnet/node` and the CLI do.
 */
import { augmentDataset, IMAGENET_MEAN, IMAGENET_STD, type AugmentOptions } from './augment.js';
import type { DataConfig } from './config.js';
import { loadMnistScenes } from './mnistScenes.js';
import { VOC_CLASS_NAMES, vocColor } from './palette.js';
import { DATASETS, type DatasetSpec } from './registry.js';
import { SCENE_CLASS_NAMES, SCENE_IGNORE_LABEL, SCENE_MEAN, SCENE_NUM_CLASSES, SCENE_STD } from './scenes.js';
import { createStreamingDataset } from './streaming.js';
import { vocLayout } from './vocLayout.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { vocRunConfig } from '../train/runConfig.js';
import { ADE20K_CLASS_NAMES, ADE20K_PALETTE, ade20kLayout, CITYSCAPES_CLASS_NAMES, CITYSCAPES_PALETTE, cityscapesLayout, folderLayout, parseClassList, type ClassList } from './layouts/index.js';
import type { DatasetLayout } from './pairs.js';
import type { DatasetRunConfig, DatasetSplits } from './registry.js';

/** The training augmentation `data` asks for (rescale, flip, crop to the canvas). */
export function augmentOptionsOf(data: DataConfig): AugmentOptions & { seed: number } {
  return { scaleRange: data.augmentScale, flip: data.flip, cropSize: data.canvasSize, seed: data.seed };
}

/**
 * Memory each built-in scene split may keep drawn scenes in: the default
 * run's 4000 training scenes of 64 × 64 take 212 MB, an attention-bench
 * scene (128 × 128) 213 KB.
 */
export const SCENE_CACHE_BYTES = 256 * 1024 * 1024;

function isPlain(data: DataConfig): boolean {
  return data.augmentScale[0] === 1 && data.augmentScale[1] === 1 && !data.flip;
}

export const scenesDataset: DatasetSpec = {
  name: 'scenes',
  summary: 'multi-digit MNIST scenes (built in: 10 digit classes + background)',
  metadata: () => ({ numClasses: SCENE_NUM_CLASSES, classNames: SCENE_CLASS_NAMES, ignoreLabel: SCENE_IGNORE_LABEL, mean: SCENE_MEAN, std: SCENE_STD, palette: vocColor }),
  check: ({ data, model }, where) => {
    const [minDigits, maxDigits] = data.digitsPerScene;
    if (minDigits > maxDigits) throw new Error(`${where}: 'data.digitsPerScene' must be [min, max] with min ≤ max, received [${minDigits}, ${maxDigits}]`);
    if (model.inputSize[0] !== data.canvasSize || model.inputSize[1] !== data.canvasSize) {
      throw new Error(`${where}: 'model.inputSize' [${model.inputSize.join(', ')}] must equal the scene canvas [${data.canvasSize}, ${data.canvasSize}] ('data.canvasSize')`);
    }
  },
  create: async ({ data: d }, which) => {
    // Digits are 28·scale pixels; the default scales [1.5, 2.2] shrink to fit small canvases.
    const largest = d.canvasSize / 28;
    const digitScale: [number, number] = d.digitScale ?? [Math.min(1.5, largest), Math.min(2.2, largest)];
    // Each split keeps the scenes it has drawn up to SCENE_CACHE_BYTES (every scene of the default run),
    // so later epochs (and repeated validation) skip redrawing them; the samples are identical either way.
    const common = { canvasSize: d.canvasSize, digitsPerScene: d.digitsPerScene, digitScale, labelDilation: d.labelDilation, maxOverlap: d.digitOverlap, clutter: { fragments: d.clutterFragments }, seed: d.seed, cache: SCENE_CACHE_BYTES };
    const val = loadMnistScenes({ split: 'val', size: d.valSize, ...common });
    const rawTrain = which === 'both' ? loadMnistScenes({ split: 'train', size: d.trainSize, ...common }) : val;
    return { train: isPlain(d) ? rawTrain : augmentDataset(rawTrain, augmentOptionsOf(d)), val };
  },
};

/** VOC class names: `data.classNames`, else VOC's 21 when numClasses is 21, else class0…. */
function vocClassNames(data: DataConfig, numClasses: number): readonly string[] {
  if (data.classNames !== null) return data.classNames;
  return numClasses === VOC_CLASS_NAMES.length ? VOC_CLASS_NAMES : Array.from({ length: numClasses }, (_, i) => `class${i}`);
}

export const vocDataset: DatasetSpec = {
  name: 'voc',
  runDefaults: () => vocRunConfig(),
  summary: 'a PASCAL-VOC-format folder (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/)',
  metadata: ({ model, data }) => ({
    numClasses: model.numClasses,
    classNames: vocClassNames(data, model.numClasses),
    ignoreLabel: 255,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    palette: vocColor,
  }),
  check: ({ data }, where) => {
    if (data.vocRoot === null) throw new Error(`${where}: 'data.vocRoot' must name the VOC-format folder when 'data.source' is 'voc'`);
  },
  create: async ({ data: d, model, eval: evalConfig }, which) => {
    const root = d.vocRoot as string;
    const crop = d.cropSize ?? d.canvasSize;
    const common = {
      numClasses: model.numClasses,
      classNames: vocClassNames(d, model.numClasses),
      maskFormat: d.maskFormat,
      maskDir: d.maskDir ?? (d.maskFormat === 'index' ? 'SegmentationClassAug' : 'SegmentationClass'),
    };
    // Streams from disk: the split lists are read now, files decode on demand into
    // a bounded cache a few batches ahead of the step that uses them.
    // Evaluation at the original resolution (eval.mode auto/whole/slide); 'resize' shrinks and pads to the crop.
    const resize = evalConfig?.mode === 'resize';
    const rawVal = createStreamingDataset(vocLayout(root, { split: d.valSplit, ...common }), resize ? { maxSide: crop } : {});
    const val = resize ? augmentDataset(rawVal, { cropSize: crop, seed: d.seed }) : rawVal;
    const train = which === 'both' ? createStreamingDataset(vocLayout(root, { split: d.trainSplit, ...common }), { augment: { ...augmentOptionsOf(d), cropSize: crop } }) : val;
    return { train, val };
  },
};

type Rgb = readonly [number, number, number];
const paletteOf = (colors: readonly Rgb[]) => (c: number): [number, number, number] => {
  const rgb = colors[c];
  return rgb === undefined ? vocColor(c) : [rgb[0], rgb[1], rgb[2]];
};

/** The VOC recipe's CPU defaults with this dataset's source and class count. */
function layoutRunDefaults(source: string, numClasses: number): ReturnType<typeof vocRunConfig> {
  const voc = vocRunConfig();
  return { ...voc, model: { ...voc.model, numClasses }, data: { ...voc.data, source } };
}

/** Splits of a `DatasetLayout` read by the streaming reader, as for VOC (evaluation at the images' own size unless eval.mode is 'resize'). */
async function streamedSplits(config: DatasetRunConfig, which: 'both' | 'val', layoutOf: (split: string) => Promise<DatasetLayout>): Promise<DatasetSplits> {
  const d = config.data;
  const crop = d.cropSize ?? d.canvasSize;
  const resize = config.eval?.mode === 'resize';
  const rawVal = createStreamingDataset(await layoutOf(d.valSplit), resize ? { maxSide: crop } : {});
  const val = resize ? augmentDataset(rawVal, { cropSize: crop, seed: d.seed }) : rawVal;
  const train = which === 'both' ? createStreamingDataset(await layoutOf(d.trainSplit), { augment: { ...augmentOptionsOf(d), cropSize: crop } }) : val;
  return { train, val };
}

function requireRoot(config: DatasetRunConfig, where: string, layout: string): string {
  if (config.data.root === null) throw new Error(`${where}: 'data.root' (--data-root DIR) must name the ${layout} folder when 'data.source' is '${config.data.source}'`);
  return config.data.root;
}

function requireClassCount(config: DatasetRunConfig, where: string, numClasses: number): void {
  if (config.model.numClasses !== numClasses) {
    throw new Error(`${where}: '${config.data.source}' has ${numClasses} classes; 'model.numClasses' is ${config.model.numClasses} (pass --num-classes ${numClasses})`);
  }
}

/** A dataset whose folder layout fixes its classes and palette (Cityscapes, ADE20K), read through the streaming reader. */
function fixedLayoutDataset(spec: {
  name: string;
  summary: string;
  /** The layout's name in error messages. */
  title: string;
  classNames: readonly string[];
  palette: Parameters<typeof paletteOf>[0];
  layout: (root: string, split: string) => Promise<DatasetLayout>;
}): DatasetSpec {
  const numClasses = spec.classNames.length;
  return {
    name: spec.name,
    summary: spec.summary,
    runDefaults: () => layoutRunDefaults(spec.name, numClasses),
    metadata: ({ data }) => ({
      numClasses,
      classNames: data.classNames ?? spec.classNames,
      ignoreLabel: 255,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
      palette: paletteOf(spec.palette),
    }),
    check: (config, where) => {
      requireRoot(config, where, spec.title);
      requireClassCount(config, where, numClasses);
    },
    create: (config, which) => streamedSplits(config, which, (split) => spec.layout(config.data.root as string, split)),
  };
}

export const cityscapesDataset = fixedLayoutDataset({
  name: 'cityscapes',
  summary: 'a Cityscapes folder (leftImg8bit/, gtFine/ labelIds → 19 train ids, ignore 255)',
  title: 'Cityscapes',
  classNames: CITYSCAPES_CLASS_NAMES,
  palette: CITYSCAPES_PALETTE,
  layout: (root, split) => cityscapesLayout(root, { split }),
});

export const ade20kDataset = fixedLayoutDataset({
  name: 'ade20k',
  summary: 'an ADE20K folder (ADEChallengeData2016/: 150 classes, 0 → ignore)',
  title: 'ADE20K',
  classNames: ADE20K_CLASS_NAMES,
  palette: ADE20K_PALETTE,
  layout: (root, split) => ade20kLayout(root, { split }),
});

/** The class list of a folder dataset (root/classes.json, else root/classes.txt), read when the run is configured. */
function folderClasses(root: string, where: string): ClassList {
  for (const name of ['classes.json', 'classes.txt']) {
    const file = join(root, name);
    if (existsSync(file)) return parseClassList(file, readFileSync(file, 'utf8'));
  }
  throw new Error(`${where}: the folder dataset '${root}' has no class list (classes.json or classes.txt)`);
}

export const folderDataset: DatasetSpec = {
  name: 'folder',
  summary: 'a folder of image/mask pairs (images/<split>/, masks/<split>/ matched by stem, classes.json|txt)',
  runDefaults: () => layoutRunDefaults('folder', 21),
  metadata: ({ data }) => {
    const classes = folderClasses(data.root ?? '', 'folder dataset');
    return {
      numClasses: classes.classNames.length,
      classNames: data.classNames ?? classes.classNames,
      ignoreLabel: classes.ignoreLabel,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
      palette: paletteOf(classes.palette),
    };
  },
  check: (config, where) => {
    const root = requireRoot(config, where, 'image/mask');
    requireClassCount(config, where, folderClasses(root, where).classNames.length);
  },
  create: (config, which) => streamedSplits(config, which, (split) => folderLayout(config.data.root as string, { split })),
};

for (const spec of [scenesDataset, vocDataset, cityscapesDataset, ade20kDataset, folderDataset]) if (!DATASETS.has(spec.name)) DATASETS.register(spec);
