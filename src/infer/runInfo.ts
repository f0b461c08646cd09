/**
 * What a run's config says about inference (platform-neutral): class names
 * and normalisation (from the dataset registry when the run's dataset is
 * registered, else the built-in values), and the `segmenter.json` that
 * `hemnet train` writes next to the model.
 */
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/augment.js';
import { VOC_CLASS_NAMES } from '../data/palette.js';
import { DATASETS } from '../data/registry.js';
import { SCENE_CLASS_NAMES, SCENE_MEAN, SCENE_STD } from '../data/scenes.js';
import type { RunConfig } from '../train/runConfig.js';
import { SEGMENTER_FORMAT, SEGMENTER_VERSION, type SegmenterInfo } from './segment.js';

/** Per-channel mean/std (on pixels / 255) that a run's images are normalised with. */
export function runNormalization(config: RunConfig): { mean: number[]; std: number[] } {
  if (DATASETS.has(config.data.source)) {
    const { mean, std } = DATASETS.get(config.data.source).metadata(config);
    return { mean: [...mean], std: [...std] };
  }
  return config.data.source === 'scenes' ? { mean: [...SCENE_MEAN], std: [...SCENE_STD] } : { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] };
}

/** Class names of a run: the config's (`data.classNames`), else its dataset's. */
export function runClassNames(config: RunConfig): string[] {
  const n = config.model.numClasses;
  if (config.data.classNames !== null) return [...config.data.classNames];
  if (DATASETS.has(config.data.source)) {
    const names = DATASETS.get(config.data.source).metadata(config).classNames;
    if (names.length === n) return [...names];
  }
  if (config.data.source === 'scenes' && n === SCENE_CLASS_NAMES.length) return [...SCENE_CLASS_NAMES];
  if (config.data.source === 'voc' && n === VOC_CLASS_NAMES.length) return [...VOC_CLASS_NAMES];
  return Array.from({ length: n }, (_, i) => `class${i}`);
}

/** The `segmenter.json` of a run: classes, normalisation, training size and the run's evaluation settings. */
export function segmenterInfoForRun(config: RunConfig): SegmenterInfo {
  const e = config.eval;
  return {
    format: SEGMENTER_FORMAT,
    version: SEGMENTER_VERSION,
    classNames: runClassNames(config),
    ...runNormalization(config),
    ignoreLabel: 255,
    inputSize: [...config.model.inputSize],
    outputStride: config.model.outputStride,
    inference: {
      mode: e.mode,
      ...(e.cropSize !== null ? { cropSize: [e.cropSize, e.cropSize] as [number, number] } : {}),
      ...(e.stride !== null ? { stride: [e.stride, e.stride] as [number, number] } : {}),
      sizeMultiple: config.model.outputStride,
    },
  };
}
