/**
 * The dataset contract shared by the built-in scenes, the VOC loader, the
 * training loop and evaluation. Platform-neutral: plain typed arrays.
 */

/** One image with its per-pixel labels. */
export interface SegmentationSample {
  /** Normalised pixels, row-major `[height, width, channels]`. */
  image: Float32Array;
  /** Class per pixel, row-major `[height, width]`; `ignoreLabel` = not scored. */
  label: Uint8Array;
  height: number;
  width: number;
  channels: number;
  /** Identifier for messages and file names (e.g. VOC image id). */
  id: string;
}

/** A finite, indexable dataset of segmentation samples. */
export interface SegmentationDataset {
  /** Number of classes, background included (labels are 0..numClasses−1). */
  readonly numClasses: number;
  /** Label value excluded from loss and metrics (255 as in VOC). */
  readonly ignoreLabel: number;
  /** Human-readable class names, length `numClasses`. */
  readonly classNames: readonly string[];
  /** Number of samples. */
  readonly size: number;
  /**
   * Sample `index` (0 ≤ index < size). Datasets with random augmentation
   * take an `epoch` so that a sample is deterministic given (seed, epoch, index).
   */
  get(index: number, epoch?: number): SegmentationSample;
}
