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
  /**
   * Optional asynchronous access for datasets that decode on demand (files
   * on disk): resolves to the samples of `requests`, in order, equal to what
   * `get(index, epoch)` returns. The training loop and evaluation call it a
   * few batches ahead of use, so decoding (e.g. sharp on libuv threads)
   * overlaps the steps. Datasets held in memory leave it out; their
   * synchronous `get` serves everything (also in a browser).
   */
  load?(requests: readonly SampleRequest[]): Promise<SegmentationSample[]>;
}

/** One sample to `load`: its index and the epoch its augmentation is drawn for. */
export interface SampleRequest {
  index: number;
  epoch?: number;
}

/**
 * The samples of `requests`: through `dataset.load` when the dataset has it,
 * else through its synchronous `get`.
 */
export function loadSamples(dataset: SegmentationDataset, requests: readonly SampleRequest[]): Promise<SegmentationSample[]> {
  if (dataset.load !== undefined) return dataset.load(requests);
  return Promise.resolve(requests.map((r) => dataset.get(r.index, r.epoch)));
}
