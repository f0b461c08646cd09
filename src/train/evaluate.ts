/**
 * Evaluation: a dataset-level confusion matrix → per-class IoU, mIoU (classes
 * absent from both prediction and truth excluded), pixel accuracy. Single
 * scale, or multi-scale + flip (class probabilities averaged at the label size).
 */
import * as tf from '@tensorflow/tfjs';
import { batchSamples, batchToTensors } from '../data/augment.js';
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
      const h = Math.max(sizeMultiple, Math.round((height * scale) / sizeMultiple) * sizeMultiple);
      const w = Math.max(sizeMultiple, Math.round((width * scale) / sizeMultiple) * sizeMultiple);
      const scaled = h === height && w === width ? images : tf.image.resizeBilinear(images, [h, w]);
      const variants = flip ? [scaled, tf.reverse(scaled, 2)] : [scaled];
      variants.forEach((input, index) => {
        const logits = folded !== null ? folded.logits(input) : mainOutput(model.predict(input) as tf.Tensor | tf.Tensor[]);
        let probabilities = tf.softmax(logits);
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
 * Evaluates `model` on `dataset`. For scales ≠ 1 a model built for a fixed
 * input size is evaluated through a variable-size copy with the same weights.
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
  if (options.inference !== undefined) return evaluateAtOriginalSize(model, dataset, { ...options, scales });
  const multiScale = scales.some((s) => s !== 1);
  const target = multiScale && hasFixedSpatialInput(model) ? await withVariableInputSize(model) : model;
  const folded = options.fold === false ? null : foldInference(target);
  const heads = findHemHeads(target);
  const evalIterations = options.evalIterations ?? null;
  if (evalIterations !== null) for (const head of heads) head.setEvalIterations(evalIterations);
  const confusion = new ConfusionMatrix(dataset.numClasses, { ignoreLabel: dataset.ignoreLabel, classNames: dataset.classNames });
  const total = Math.min(dataset.size, options.limit ?? dataset.size);
  try {
    // A streaming dataset decodes the next batch while this one runs.
    const requestBatch = (start: number): Promise<SegmentationSample[]> | null => {
      if (start >= total) return null;
      const promise = loadSamples(dataset, Array.from({ length: Math.min(batchSize, total - start) }, (_, i) => ({ index: start + i })));
      promise.catch(() => undefined);
      return promise;
    };
    let next = requestBatch(0);
    for (let start = 0; start < total; start += batchSize) {
      const samples = await (next as Promise<SegmentationSample[]>);
      next = requestBatch(start + batchSize);
      const indices = samples.map((_, i) => start + i);
      const batch = batchSamples(samples);
      const { images, labels } = batchToTensors(batch);
      const probabilities = predictProbabilities(target, images, scales, options.flip ?? false, options.sizeMultiple ?? 8, folded);
      confusion.updateFromTensors(probabilities, batch.labels);
      tf.dispose([images, labels, probabilities]);
      options.onProgress?.(start + indices.length, total);
    }
  } finally {
    if (evalIterations !== null) for (const head of heads) head.setEvalIterations(null);
    folded?.dispose();
    if (target !== model) target.dispose();
  }
  return { metrics: confusion.toJSON(), confusion, samples: total };
}

/** One image at a time at its own resolution (whole image or sliding windows). */
async function evaluateAtOriginalSize(model: tf.LayersModel, dataset: SegmentationDataset, options: EvaluateOptions & { scales: number[] }): Promise<EvaluationResult> {
  const heads = findHemHeads(model);
  const evalIterations = options.evalIterations ?? null;
  if (evalIterations !== null) for (const head of heads) head.setEvalIterations(evalIterations);
  const confusion = new ConfusionMatrix(dataset.numClasses, { ignoreLabel: dataset.ignoreLabel, classNames: dataset.classNames });
  const total = Math.min(dataset.size, options.limit ?? dataset.size);
  const inference: InferenceOptions = {
    sizeMultiple: options.sizeMultiple ?? 8,
    ...options.inference,
    scales: options.scales,
    flip: options.flip ?? false,
  };
  // Folded once for this evaluation and disposed at its end (a bare model given to inferProbabilities would keep its shared fold alive after it).
  const folded = (inference.fold ?? options.fold) === false ? null : foldInference(model);
  try {
    // A streaming dataset decodes the next image while this one runs.
    const request = (i: number): Promise<SegmentationSample[]> | null => {
      if (i >= total) return null;
      const promise = loadSamples(dataset, [{ index: i }]);
      promise.catch(() => undefined);
      return promise;
    };
    let next = request(0);
    for (let i = 0; i < total; i++) {
      const [sample] = (await next) as SegmentationSample[];
      next = request(i + 1);
      if (sample === undefined) throw new Error(`evaluateSegmentation: the dataset returned no sample ${i}`);
      const image = tf.tensor4d(sample.image, [1, sample.height, sample.width, sample.channels]);
      const probabilities = inferProbabilities(folded ?? model, image, { ...inference, fold: folded !== null });
      confusion.updateFromTensors(probabilities, sample.label);
      tf.dispose([image, probabilities]);
      options.onProgress?.(i + 1, total);
    }
  } finally {
    folded?.dispose();
    if (evalIterations !== null) for (const head of heads) head.setEvalIterations(null);
  }
  return { metrics: confusion.toJSON(), confusion, samples: total };
}
