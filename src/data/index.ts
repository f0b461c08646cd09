/** Browser-safe data API (no node:fs, no sharp). Node loaders: mnist.ts, mnistScenes.ts, voc.ts. */
export type { SegmentationSample, SegmentationDataset, SampleRequest } from './types.js';
export { loadSamples } from './types.js';
export { createRng, hashSeed } from './random.js';
export type { Rng } from './random.js';
export { VOC_CLASS_NAMES, vocColor, vocColormap, vocColorsToLabels } from './palette.js';
export {
  SceneDataset,
  createSceneDataset,
  sceneDigitRange,
  SCENE_NUM_CLASSES,
  SCENE_CLASS_NAMES,
  SCENE_IGNORE_LABEL,
  SCENE_MEAN,
  SCENE_STD,
} from './scenes.js';
export { DATASETS } from './registry.js';
export type { DatasetSpec, DatasetMetadata, DatasetRunConfig, DatasetSplits } from './registry.js';
export { DATA_SCHEMA, RENAMED_DATA_KEYS } from './config.js';
export type { DataConfig } from './config.js';
export type { SceneSplit, DigitPool, SceneOptions, SceneClutterOptions, ScenePlacement, SceneFragment, SceneLayout } from './scenes.js';
export { createStrokeDigitPool } from './strokeDigits.js';
export type { StrokeDigitOptions } from './strokeDigits.js';
export {
  resizeImageBilinear,
  resizeLabelNearest,
  resizeSample,
  cropSample,
  flipSampleHorizontal,
  normalizeImage,
  augmentSample,
  augmentDataset,
  batchSamples,
  batchToTensors,
  IMAGENET_MEAN,
  IMAGENET_STD,
} from './augment.js';
export type { AugmentOptions, SegmentationBatch } from './augment.js';
