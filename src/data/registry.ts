/**
 * The dataset registry: `data.source` names one of these. A dataset spec
 * knows its metadata (class names, ignore label, the mean/std its images are
 * normalised with) and builds its training and validation splits from the
 * run config; the CLI asks it, never restates it. Platform-neutral: the
 * built-in entries that read files ('scenes', 'voc') are registered by
 * src/data/builtinDatasets.ts (Node), which `hemnet/node` and the CLI load.
 * Adding a dataset: a file exporting a `DatasetSpec` and one
 * `DATASETS.register(spec)` (docs/design.md "Add a dataset").
 */
import { Registry, type Named } from '../registry.js';
import type { SegmentationModelConfig } from '../models/zoo.js';
import type { DataConfig } from './config.js';
import type { SegmentationDataset } from './types.js';

export interface DatasetMetadata {
  /** Classes, background included (the model's `numClasses` must match). */
  numClasses: number;
  classNames: readonly string[];
  /** Label value excluded from loss and metrics (255 as in VOC). */
  ignoreLabel: number;
  /** Per-channel normalisation the images carry: image = (rgb/255 − mean) / std. */
  mean: readonly number[];
  std: readonly number[];
  /** Class → RGB for masks and overlays (predict, predictions.png). */
  palette: (classIndex: number) => [number, number, number];
}

/** What a dataset spec reads from the run config. */
export interface DatasetRunConfig {
  data: DataConfig;
  model: SegmentationModelConfig;
  /** The evaluation settings (a dataset may keep validation images at their own size unless `mode` is 'resize'). */
  eval?: { mode: 'auto' | 'whole' | 'slide' | 'resize' };
}

export interface DatasetSplits {
  /** The training split, augmented as `data` asks. */
  train: SegmentationDataset;
  /** The validation split (at the model's input size, or at the images' own size for evaluation at original resolution). */
  val: SegmentationDataset;
}

/** A complete run config (typed loosely here: the data registry sits below train/runConfig). */
export type RunConfigLike = DatasetRunConfig & { train: object; backend: string };

export interface DatasetSpec extends Named {
  metadata(config: DatasetRunConfig): DatasetMetadata;
  /**
   * Checks that need the whole run config (e.g. a folder that must be named,
   * an input size the dataset fixes); throws with `where` as the prefix.
   */
  check?(config: DatasetRunConfig, where: string): void;
  /**
   * The run defaults this dataset starts from when a run names it (e.g. the
   * paper's VOC recipe scaled to a CPU); absent: the library's defaults.
   */
  runDefaults?(): RunConfigLike;
  /** Builds the splits; `which: 'val'` may skip the training split (then `train` is `val`). */
  create(config: DatasetRunConfig, which: 'both' | 'val'): Promise<DatasetSplits>;
}

export const DATASETS = new Registry<DatasetSpec>('dataset');
