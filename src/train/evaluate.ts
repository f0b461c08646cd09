/**
 * Evaluation: a dataset-level confusion matrix → per-class IoU, mIoU (classes
 * absent from both prediction and truth excluded), pixel accuracy. Single
 * scale, or multi-scale + flip (class probabilities averaged at the label size).
 */
import * as tf from '@tensorflow/tfjs';
import { batchSamples, type SegmentationBatch } from '../data/augment.js';
import { loadSamples, type SegmentationDataset, type SegmentationSample } from '../data/types.js';
import type { HemHead } from '../layers/hemHead.js';
import { findHemHeadLayers } from '../gradnets/hemStepSize.js';
import { ConfusionMatrix, type ConfusionMatrixJSON } from '../metrics/confusion.js';
import { inferProbabilities, type InferenceOptions } from '../infer/inference.js';
import { foldInference, type FoldedInference } from '../infer/folded.js';

export interface EvaluateOptions {
  /** Images per forward pass. Default 8. */
  batchSize?: number;
  /** Input scales; [1] is single-scale. Each scaled side is rounded to a multiple of `sizeMultiple`. */
  scales?: number[];
  /** Also average the horizontally flipped input. Default false. */
  flip?: boolean;
  /** T_eval for every HEM head during this evaluation (null: each head's own). */
  evalIterations?: number | null;
  /** Scaled input sides are multiples of this (the output stride). Default 8. */
  sizeMultiple?: number;
  /** Evaluate only the first `limit` samples. */
  limit?: number;
  /**
   * Evaluate every image at its own size, one at a time, with
   * `inferProbabilities` ('whole' image or sliding windows; `scales` and
   * `flip` apply on top). Without it, images are batched and must share one size.
   */
  inference?: InferenceOptions;
  /**
   * Fold each batch norm into the convolution before it once for the whole
   * evaluation (`foldInference`: the same logits, fewer kernels). Default
   * true; false runs the plain model (`predict` / `execute`).
   */
  fold?: boolean;
  /**
   * Threads evaluating batches besides the calling one (Node:
   * `createEvaluationWorkers`); the same result as without them. The
   * caller creates and closes them.
   */
  workers?: EvaluationWorkers | null;
  onProgress?: (done: number, total: number) => void;
}

export interface EvaluationResult {
  metrics: ConfusionMatrixJSON;
  confusion: ConfusionMatrix;
  samples: number;
}

/** Every HemHead inside a model (nested models, wrappers and GradNet sublayers included). */
export function findHemHeads(model: tf.LayersModel): HemHead[] {
  return findHemHeadLayers(model);
}

function mainOutput(output: tf.Tensor | tf.Tensor[]): tf.Tensor4D {
  const main = Array.isArray(output) ? output[0] : output;
  if (main === undefined) throw new Error('evaluateSegmentation: the model returned no output');
  return main as tf.Tensor4D;
}

/** Logits of one pass: through `folded` (a `foldInference` of `model`) when given, else `model.predict`'s main output. */
function passLogits(model: tf.LayersModel, input: tf.Tensor4D, folded: FoldedInference | null): tf.Tensor4D {
  return folded !== null ? folded.logits(input) : mainOutput(model.predict(input) as tf.Tensor | tf.Tensor[]);
}

/** The input size a pass at `scale` runs at: the scaled size rounded to a multiple of `sizeMultiple` (at least one). */
function scaledSize(height: number, width: number, scale: number, sizeMultiple: number): [number, number] {
  const round = (size: number) => Math.max(sizeMultiple, Math.round((size * scale) / sizeMultiple) * sizeMultiple);
  return [round(height), round(width)];
}

/**
 * Class probabilities [B, H, W, K] at the label size, averaged over scales
 * and flips; through `folded` (a `foldInference` of `model`) when given,
 * else `model.predict`.
 */
export function predictProbabilities(
  model: tf.LayersModel,
  images: tf.Tensor4D,
  scales: number[] = [1],
  flip = false,
  sizeMultiple = 8,
  folded: FoldedInference | null = null,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [, height, width] = images.shape;
    const parts: tf.Tensor4D[] = [];
    for (const scale of scales) {
      const [h, w] = scaledSize(height, width, scale, sizeMultiple);
      const scaled = h === height && w === width ? images : tf.image.resizeBilinear(images, [h, w]);
      const variants = flip ? [scaled, tf.reverse(scaled, 2)] : [scaled];
      variants.forEach((input, index) => {
        let probabilities = tf.softmax(passLogits(model, input, folded));
        if (index === 1) probabilities = tf.reverse(probabilities, 2);
        if (h !== height || w !== width) probabilities = tf.image.resizeBilinear(probabilities as tf.Tensor4D, [height, width]);
        parts.push(probabilities as tf.Tensor4D);
      });
    }
    return (parts.length === 1 ? parts[0] : tf.div(tf.addN(parts), parts.length)) as tf.Tensor4D;
  });
}

/**
 * A copy of `model` (same weights) whose input accepts any height and width,
 * for multi-scale inference of a model built for one input size.
 */
export async function withVariableInputSize(model: tf.LayersModel): Promise<tf.LayersModel> {
  const topology = model.toJSON(null, false) as unknown as { config: { layers: Array<{ class_name: string; config: Record<string, unknown> }> } };
  for (const layer of topology.config.layers) {
    if (layer.class_name === 'InputLayer') {
      const shape = layer.config['batch_input_shape'] as (number | null)[];
      layer.config['batch_input_shape'] = [null, null, null, shape[shape.length - 1] ?? null];
    }
  }
  const copy = await tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'] });
  copy.setWeights(model.getWeights());
  return copy;
}

function hasFixedSpatialInput(model: tf.LayersModel): boolean {
  const shape = model.inputs[0]?.shape ?? [];
  return shape[1] !== null || shape[2] !== null;
}

/**
 * How one evaluation turns images into predicted classes: the same on the
 * calling thread and on evaluation workers (a plain object: it is posted to them).
 */
export interface EvaluationSettings {
  scales: number[];
  flip: boolean;
  sizeMultiple: number;
  /** Fold each batch norm into the conv before it (`foldInference`). */
  fold: boolean;
  /** T_eval for every HEM head (null: each head's own). */
  evalIterations: number | null;
  /**
   * Every image at its own size through `inferProbabilities` with these
   * options (scales, flip, sizeMultiple included), one image per call; null:
   * batches through `predictProbabilities`.
   */
  inference: InferenceOptions | null;
}

/**
 * Threads that evaluate whole batches besides the calling one (Node:
 * `createEvaluationWorkers` in src/train/parallelEval.ts). The confusion
 * counts are integers summed over batches, so an evaluation with workers
 * equals the one without exactly.
 */
export interface EvaluationWorkers {
  /** Worker threads (the calling thread evaluates besides them). */
  readonly count: number;
  /** Gives every worker `model`'s weights (`model.weights`, in order); once per evaluation, before `predict`. */
  load(model: tf.LayersModel): Promise<void>;
  /** The predicted class of every pixel ([B, H, W] row-major) of `images` [B, H, W, C], on worker `slot` ∈ [0, count). */
  predict(slot: number, images: Float32Array, shape: [number, number, number, number], settings: EvaluationSettings): Promise<Int32Array>;
  /**
   * True when the workers hold their own copy of `dataset` (built from the
   * same source), so that `evaluate` can load samples where they are used.
   */
  mirrors(dataset: SegmentationDataset): boolean;
  /**
   * Samples `indices` of the mirrored dataset, loaded and evaluated on worker
   * `slot` (one batch, or one image at a time with `settings.inference`):
   * their confusion counts [truth][prediction].
   */
  evaluate(slot: number, indices: readonly number[], settings: EvaluationSettings): Promise<number[][]>;
}

/**
 * Adds samples to `confusion` as an evaluation does: one batch through
 * `runner`, or (with `settings.inference`) one image at a time, each at its
 * own size. Leaks no tensors.
 */
export function evaluateSamples(runner: EvaluationRunner, samples: readonly SegmentationSample[], settings: EvaluationSettings, confusion: ConfusionMatrix): void {
  const batches = settings.inference !== null ? samples.map((sample) => [sample]) : [samples];
  for (const part of batches) {
    const batch = batchSamples(part);
    const images = tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, batch.channels], 'float32');
    try {
      confusion.update(runner.predict(images, settings), batch.labels);
    } finally {
      images.dispose();
    }
  }
}

/**
 * A model prepared for evaluations with one kind of settings: for batched
 * multi-scale inference a model built for one input size runs through a
 * variable-size copy with the same weights; with `fold`, its batch norms
 * are folded once; a T_eval override holds for the HEM heads until
 * `dispose`. `predict` gives the predicted classes of a batch, on
 * whichever thread holds the runner (`evaluateSegmentation` and its workers).
 */
export class EvaluationRunner {
  private constructor(
    private readonly model: tf.LayersModel,
    private readonly target: tf.LayersModel,
    private readonly folded: FoldedInference | null,
    private readonly evalIterations: number | null,
  ) {
    // For the runner's lifetime (the whole evaluation), as a caller sees it.
    if (evalIterations !== null) for (const head of findHemHeads(target)) head.setEvalIterations(evalIterations);
  }

  /** Batched multi-scale inference: a model built for one input size runs through a variable-size copy. */
  private static multiScale(settings: EvaluationSettings): boolean {
    return settings.inference === null && settings.scales.some((scale) => scale !== 1);
  }

  private static folds(settings: EvaluationSettings): boolean {
    return (settings.inference?.fold ?? settings.fold) !== false;
  }

  /** True when `settings` need another runner than one made for `other`. */
  static differ(settings: EvaluationSettings, other: EvaluationSettings): boolean {
    const { multiScale, folds } = EvaluationRunner;
    return multiScale(settings) !== multiScale(other) || folds(settings) !== folds(other) || settings.evalIterations !== other.evalIterations;
  }

  static async create(model: tf.LayersModel, settings: EvaluationSettings): Promise<EvaluationRunner> {
    const target = EvaluationRunner.multiScale(settings) && hasFixedSpatialInput(model) ? await withVariableInputSize(model) : model;
    // Original-size inference: folded once for the evaluation and disposed at its end (a bare model given to inferProbabilities would keep its shared fold alive after it).
    return new EvaluationRunner(model, target, EvaluationRunner.folds(settings) ? foldInference(target) : null, settings.evalIterations);
  }

  /** Predicted classes [B·H·W] of `images` [B, H, W, C] (label size: the image size). */
  predict(images: tf.Tensor4D, settings: EvaluationSettings): Int32Array {
    // The classes leave the tidy as a tensor and are read after it: a typed array returned from
    // tf.tidy is walked element by element as a tensor container (bench/eval-classes.ts: ≈ 1 ms per
    // batch of 8 × 64 × 64 labels, 6.6 ms at 8 × 128 × 128).
    const classes = tf.tidy((): tf.Tensor => {
      // One pass at the image's own size: the classes are the arg-max of the logits, softmax being
      // increasing (its 1.5 ms per batch of 8 at 64×64 on wasm is skipped; averaged passes need it).
      const [, height, width] = images.shape;
      const [h, w] = scaledSize(height, width, settings.scales[0] ?? 1, settings.sizeMultiple);
      if (settings.inference === null && !settings.flip && settings.scales.length === 1 && h === height && w === width) {
        return tf.argMax(passLogits(this.target, images, this.folded), -1);
      }
      const probabilities =
        settings.inference !== null
          ? inferProbabilities(this.folded ?? this.target, images, { ...settings.inference, fold: this.folded !== null })
          : predictProbabilities(this.target, images, settings.scales, settings.flip, settings.sizeMultiple, this.folded);
      return tf.argMax(probabilities, -1);
    });
    try {
      return classes.dataSync() as Int32Array;
    } finally {
      classes.dispose();
    }
  }

  /** Ends the runner: its heads' T_eval back to their own, the fold and the variable-size copy disposed. */
  dispose(): void {
    if (this.evalIterations !== null) for (const head of findHemHeads(this.target)) head.setEvalIterations(null);
    this.folded?.dispose();
    if (this.target !== this.model) this.target.dispose();
  }
}

/**
 * Evaluates `model` on `dataset`. For scales ≠ 1 a model built for a fixed
 * input size is evaluated through a variable-size copy with the same weights.
 * With `workers`, whole batches (single images at original size) go to the
 * worker threads while the calling thread evaluates one more; the result is
 * the same as without them.
 */
export async function evaluateSegmentation(model: tf.LayersModel, dataset: SegmentationDataset, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const batchSize = options.batchSize ?? 8;
  const scales = options.scales ?? [1];
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`evaluateSegmentation: 'batchSize' must be a positive integer, received ${batchSize}`);
  }
  if (scales.length === 0 || scales.some((s) => !(s > 0) || !Number.isFinite(s))) {
    throw new Error(`evaluateSegmentation: 'scales' must be positive numbers, received [${scales.join(', ')}]`);
  }
  // Checked here: the whole-image path replaces inference.fold with its own fold, so inferProbabilities never sees it.
  for (const [name, value] of [['fold', options.fold], ['inference.fold', options.inference?.fold]] as const) {
    if (value !== undefined && typeof value !== 'boolean') throw new Error(`evaluateSegmentation: '${name}' must be a boolean, received ${JSON.stringify(value)}`);
  }
  const flip = options.flip ?? false;
  const sizeMultiple = options.sizeMultiple ?? 8;
  const settings: EvaluationSettings = {
    scales,
    flip,
    sizeMultiple,
    fold: options.fold !== false,
    evalIterations: options.evalIterations ?? null,
    inference: options.inference !== undefined ? { sizeMultiple, ...options.inference, scales, flip } : null,
  };
  const workers = options.workers !== undefined && options.workers !== null && options.workers.count > 0 ? options.workers : null;
  // Batches, or one image at a time at its own resolution (whole image or sliding windows).
  const unit = settings.inference !== null ? 1 : batchSize;
  const confusion = new ConfusionMatrix(dataset.numClasses, { ignoreLabel: dataset.ignoreLabel, classNames: dataset.classNames });
  const total = Math.min(dataset.size, options.limit ?? dataset.size);
  const runner = await EvaluationRunner.create(model, settings);
  try {
    if (workers !== null) await workers.load(model);
    // Workers with their own copy of the dataset load their samples themselves; others get the images.
    const remoteLoads = workers?.mirrors(dataset) === true;
    // One round: a unit (batch or image) for this thread and one for every worker.
    const perRound = unit * (1 + (workers?.count ?? 0));
    const load = (from: number, count: number): Promise<SegmentationSample[]> | null => {
      if (from >= total) return null;
      // A streaming dataset decodes the next round while this one runs.
      const promise = loadSamples(dataset, Array.from({ length: Math.min(count, total - from) }, (_, i) => ({ index: from + i })));
      promise.catch(() => undefined);
      return promise;
    };
    const loadRound = (start: number) => load(start, remoteLoads ? unit : perRound);
    let next = loadRound(0);
    for (let start = 0; start < total; start += perRound) {
      const samples = await (next as Promise<SegmentationSample[]>);
      if (samples.length === 0) throw new Error(`evaluateSegmentation: the dataset returned no samples from ${start}`);
      const end = Math.min(start + perRound, total);
      // This thread's unit first; the workers' are sent before it runs, so they run while it does.
      let remote: Promise<number[][] | null>[] = [];
      if (workers !== null && remoteLoads) {
        for (let from = start + unit, slot = 0; from < end; from += unit, slot++) {
          const indices = Array.from({ length: Math.min(unit, end - from) }, (_, i) => from + i);
          remote.push(workers.evaluate(slot, indices, settings));
        }
      } else if (workers !== null) {
        for (let from = unit, slot = 0; from < samples.length; from += unit, slot++) {
          const batch = batchSamples(samples.slice(from, from + unit));
          remote.push(
            workers.predict(slot, batch.images, [batch.batchSize, batch.height, batch.width, batch.channels], settings).then((prediction) => {
              confusion.update(prediction, batch.labels);
              return null;
            }),
          );
        }
      }
      remote.forEach((p) => p.catch(() => undefined));
      // After the workers' requests are out: an in-memory dataset renders the next round right here.
      next = loadRound(start + perRound);
      evaluateSamples(runner, samples.slice(0, unit), settings, confusion);
      for (const counts of await Promise.all(remote)) {
        if (counts !== null) confusion.merge(ConfusionMatrix.fromJSON({ numClasses: dataset.numClasses, ignoreLabel: dataset.ignoreLabel, matrix: counts }));
      }
      options.onProgress?.(end, total);
    }
  } finally {
    runner.dispose();
  }
  return { metrics: confusion.toJSON(), confusion, samples: total };
}
