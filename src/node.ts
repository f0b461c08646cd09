/**
 * Node-only parts of hemnet (file system, built-in datasets, image files).
 * Import from 'hemnet/node'; the main entry 'hemnet' stays browser-safe.
 */
export * from './index.js';
export { loadMnist, MNIST_IMAGE_SIZE, MNIST_PIXELS } from './data/mnist.js';
export type { MnistDigits, MnistSplit } from './data/mnist.js';
export { loadMnistScenes } from './data/mnistScenes.js';
export { loadVocDataset, VocDataset } from './data/voc.js';
export type { VocOptions } from './data/voc.js';
export { vocLayout, checkSampleId } from './data/vocLayout.js';
export type { VocLayoutOptions } from './data/vocLayout.js';
export { createStreamingDataset, StreamingDataset } from './data/streaming.js';
export type { StreamingOptions, StreamingStats } from './data/streaming.js';
export { decodePair, PairError } from './data/pairDecode.js';
export type { DecodedPair } from './data/pairDecode.js';
export { encodePng, writePng, svgToPng, writeSvgPng } from './plots/png.js';
export {
  writeCheckpoint,
  readLatestCheckpoint,
  readNewestIntactCheckpoint,
  readCheckpointFiles,
  saveModelToFiles,
  loadModelFromFiles,
  fileModelHandler,
  syncFolder,
  sha256,
  CheckpointDamage,
  KEEP_GENERATIONS,
} from './train/checkpointFiles.js';
export type { NoteSink, CheckpointWriteStage, WriteCheckpointOptions, IntactCheckpoint } from './train/checkpointFiles.js';
export { TrainLog, readStepRecords } from './train/trainLog.js';
export { loadSegmenter, segment } from './infer/node.js';
export { decodeImage } from './io/images.js';
export type { RgbImage } from './io/images.js';
export type { DatasetLayout, ImageMaskPair, MaskEncoding } from './data/pairs.js';
export * from './data/layouts/index.js';
// Registers the built-in datasets 'scenes' and 'voc' in DATASETS.
export { scenesDataset, vocDataset, cityscapesDataset, ade20kDataset, folderDataset, augmentOptionsOf } from './data/builtinDatasets.js';
export { readSafetensorsFile } from './interop/safetensorsFile.js';
export { createGradientWorkers, GradientWorkerPool, defaultWorkerCount } from './train/parallel.js';
export { createEvaluationWorkers, EvaluationWorkerPool } from './train/parallelEval.js';
