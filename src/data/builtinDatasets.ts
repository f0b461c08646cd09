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

/** The training augmentation `data` asks for (rescale, flip, crop to the canvas). */
export function augmentOptionsOf(data: DataConfig): AugmentOptions & { seed: number } {
  return { scaleRange: data.augmentScale, flip: data.flip, cropSize: data.canvasSize, seed: data.seed };
}

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
    const common = { canvasSize: d.canvasSize, digitsPerScene: d.digitsPerScene, digitScale, labelDilation: d.labelDilation, maxOverlap: d.digitOverlap, clutter: { fragments: d.clutterFragments }, seed: d.seed };
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

for (const spec of [scenesDataset, vocDataset]) if (!DATASETS.has(spec.name)) DATASETS.register(spec);
