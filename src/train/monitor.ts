/**
 * What to watch during training beyond the loss (issue 11, the paper's
 * Fig. 3d and the collapse of the bases):
 * - the usage of the bases of every HEM/EMA head: the effective number of
 *   bases exp(H(p)) and the share p_k per basis (src/metrics/bases.ts),
 *   from the responsibilities γ the head computes on a fixed probe batch;
 * - optionally, the L2 norm of ∂loss/∂(backbone output) on that batch: how
 *   much gradient reaches the backbone through the head (HEMNet lets it flow
 *   through the unrolled EM, EMANet stops it).
 * Both are measured in inference mode (BN uses its moving statistics,
 * dropout is off), so measuring changes nothing in the training state.
 * Platform-neutral.
 */
import * as tf from '@tensorflow/tfjs';
import { batchSamples, batchToTensors } from '../data/augment.js';
import { loadSamples, type SegmentationDataset, type SegmentationSample } from '../data/types.js';
import { disposeHemResult } from '../em/unroll.js';
import { basesUsage, distinctBases, effectiveNumber } from '../metrics/bases.js';
import { ConfusionMatrix } from '../metrics/confusion.js';
import { findHemHeads, predictProbabilities } from './evaluate.js';
import { segmentationCrossEntropy } from './loss.js';

/** Usage of one head's bases. */
export interface HeadBasesUsage {
  /** The HemHead layer's name. */
  head: string;
  effectiveBases: number;
  /** Mean responsibility per basis, length K, summing to 1. */
  share: number[];
  /** exp of the mean per-pixel entropy of γ (1: every pixel on one basis; K: uniform rows). */
  pixelBases: number;
  /** Distinct rows of μ⁽⁰⁾ (cosine < 0.999 to every earlier one; `distinctBases`): collapse of the bases themselves. */
  distinctBases: number;
}

/** Dataset-level metrics on the fixed validation subset (a point of the validation curve). */
export interface ValidationMetrics {
  /** Images evaluated (the first `samples` of the validation split). */
  samples: number;
  meanIoU: number;
  pixelAccuracy: number;
}

export interface TrainingMeasurement {
  bases: HeadBasesUsage[];
  /** ‖∂loss/∂(backbone output)‖₂ on the probe batch; null when not asked for or no backbone output was found. */
  backboneGradientNorm: number | null;
  /** mIoU and pixel accuracy on the validation subset (`train.monitorValidation`); null when off. */
  validation: ValidationMetrics | null;
}

/** A fixed batch to measure on (images normalised as in training). */
export interface ProbeBatch {
  images: tf.Tensor4D;
  labels: tf.Tensor3D;
  ignoreLabel: number;
}

/**
 * `sample` centre-cropped (and zero-padded, labels with the ignore label) to
 * `[height, width]`: validation images at their own size (VOC, folders) into
 * a model built for one input size. Unchanged when the size already matches.
 */
export function fitSample(sample: SegmentationSample, size: readonly [number, number] | null, ignoreLabel: number): SegmentationSample {
  if (size === null || (sample.height === size[0] && sample.width === size[1])) return sample;
  const [height, width] = size;
  const c = sample.channels;
  const image = new Float32Array(height * width * c);
  const label = new Uint8Array(height * width).fill(ignoreLabel);
  const top = Math.floor((sample.height - height) / 2);
  const left = Math.floor((sample.width - width) / 2);
  for (let y = 0; y < height; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= sample.height) continue;
    for (let x = 0; x < width; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= sample.width) continue;
      label[y * width + x] = sample.label[sy * sample.width + sx] as number;
      for (let k = 0; k < c; k++) image[(y * width + x) * c + k] = sample.image[(sy * sample.width + sx) * c + k] as number;
    }
  }
  return { ...sample, image, label, height, width };
}

/** [H, W] of a model's input when it is fixed, else null. */
export function fixedInputSize(model: tf.LayersModel): [number, number] | null {
  const shape = model.inputs[0]?.shape ?? [];
  const h = shape[1];
  const w = shape[2];
  return typeof h === 'number' && typeof w === 'number' ? [h, w] : null;
}

/**
 * The first `count` samples of `dataset` as a probe batch (dispose it with
 * `disposeProbe`), centre-cropped to `size` when given (see `fitSample`).
 */
export async function probeBatch(dataset: SegmentationDataset, count: number, size: readonly [number, number] | null = null): Promise<ProbeBatch> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`probeBatch: 'count' must be an integer ≥ 1, received ${String(count)}`);
  const n = Math.min(count, dataset.size);
  const samples = await loadSamples(dataset, Array.from({ length: n }, (_, i) => ({ index: i, epoch: 0 })));
  const { images, labels } = batchToTensors(batchSamples(samples.map((sample) => fitSample(sample, size, dataset.ignoreLabel))));
  return { images, labels, ignoreLabel: dataset.ignoreLabel };
}

export function disposeProbe(probe: ProbeBatch): void {
  tf.dispose([probe.images, probe.labels]);
}

/** Bases usage of every HEM/EMA head of `model` on `images` (T = the head's evaluation T unless `iterations`). */
export function headBasesUsage(model: tf.LayersModel, images: tf.Tensor4D, iterations?: number): HeadBasesUsage[] {
  return findHemHeads(model).map((head) => {
    const featureModel = tf.model({ inputs: model.inputs, outputs: head.input as tf.SymbolicTensor });
    const features = tf.tidy(() => featureModel.predict(images) as tf.Tensor4D);
    const result = head.attend(features, iterations ?? head.evalIterations);
    const mu0 = head.initialBases();
    try {
      return { head: head.name, ...basesUsage(result.gamma), distinctBases: distinctBases(mu0) };
    } finally {
      mu0.dispose();
      disposeHemResult(result);
      features.dispose();
    }
  });
}

/** Name prefix of the layers of the segmentation head (src/models/heads.ts, option 'prefix'). */
const HEAD_PREFIX = 'head/';

interface GraphNode {
  layer: tf.layers.Layer;
  inputs: tf.SymbolicTensor[];
  outputs: tf.SymbolicTensor[];
}

function nodesOf(model: tf.LayersModel): GraphNode[] {
  const nodes: GraphNode[] = [];
  for (const layer of model.layers) {
    for (const node of layer.inboundNodes) nodes.push({ layer, inputs: node.inputTensors, outputs: node.outputTensors });
  }
  return nodes;
}

/**
 * The backbone output: the one tensor that enters the segmentation head's
 * layers (`head/…`) from outside them; null when the model has
 * no such head or it has several entries.
 */
export function backboneOutput(model: tf.LayersModel): tf.SymbolicTensor | null {
  const headNodes = nodesOf(model).filter((n) => n.layer.name.startsWith(HEAD_PREFIX));
  const produced = new Set(headNodes.flatMap((n) => n.outputs.map((t) => t.id)));
  const entries = new Map<number, tf.SymbolicTensor>();
  for (const node of headNodes) for (const t of node.inputs) if (!produced.has(t.id)) entries.set(t.id, t);
  return entries.size === 1 ? ([...entries.values()][0] as tf.SymbolicTensor) : null;
}

/**
 * Runs the part of `model` downstream of the symbolic tensor `from`, given
 * its value, eagerly layer by layer in inference mode (inside a gradient
 * tape this is differentiable): the main output's value.
 */
export function applyFrom(model: tf.LayersModel, from: tf.SymbolicTensor, value: tf.Tensor): tf.Tensor {
  const values = new Map<number, tf.Tensor>([[from.id, value]]);
  const target = model.outputs[0] as tf.SymbolicTensor;
  for (const node of nodesOf(model)) {
    if (node.inputs.length === 0 || !node.inputs.every((t) => values.has(t.id))) continue;
    if (node.outputs.every((t) => values.has(t.id))) continue;
    const inputs = node.inputs.map((t) => values.get(t.id) as tf.Tensor);
    const out = node.layer.apply(inputs.length === 1 ? (inputs[0] as tf.Tensor) : inputs, { training: false }) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(out) ? out : [out];
    node.outputs.forEach((t, i) => values.set(t.id, outs[i] as tf.Tensor));
  }
  const result = values.get(target.id);
  if (result === undefined) throw new Error(`backboneGradientNorm: the main output of '${model.name}' does not depend on '${from.name}'`);
  return result;
}

/** ‖∂loss/∂(backbone output)‖₂ of the cross-entropy on `probe`; null when the model has no single backbone output. */
export function backboneGradientNorm(model: tf.LayersModel, probe: ProbeBatch): number | null {
  const from = backboneOutput(model);
  if (from === null) return null;
  const featureModel = tf.model({ inputs: model.inputs, outputs: from });
  return tf.tidy(() => {
    const features = featureModel.predict(probe.images) as tf.Tensor;
    const gradient = tf.grad((f: tf.Tensor) => segmentationCrossEntropy(applyFrom(model, from, f) as tf.Tensor4D, probe.labels, probe.ignoreLabel))(features);
    return tf.norm(gradient).dataSync()[0] as number;
  });
}

/**
 * A fixed validation subset held as tensors (the first `count` samples of
 * `dataset`, centre-cropped to `size`), in batches of `batchSize`, so that
 * the monitor can evaluate it synchronously between training steps.
 * Dispose it with `disposeValidationProbe`.
 */
export interface ValidationProbe {
  batches: { images: tf.Tensor4D; labels: Int32Array }[];
  samples: number;
  numClasses: number;
  ignoreLabel: number;
}

export async function validationProbe(
  dataset: SegmentationDataset,
  count: number,
  size: readonly [number, number] | null = null,
  batchSize = 8,
): Promise<ValidationProbe> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`validationProbe: 'count' must be an integer ≥ 1, received ${String(count)}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`validationProbe: 'batchSize' must be an integer ≥ 1, received ${String(batchSize)}`);
  const total = Math.min(count, dataset.size);
  const batches: ValidationProbe['batches'] = [];
  for (let start = 0; start < total; start += batchSize) {
    const n = Math.min(batchSize, total - start);
    const samples = await loadSamples(dataset, Array.from({ length: n }, (_, i) => ({ index: start + i, epoch: 0 })));
    const batch = batchSamples(samples.map((sample) => fitSample(sample, size, dataset.ignoreLabel)));
    const { images, labels } = batchToTensors(batch);
    labels.dispose();
    batches.push({ images, labels: batch.labels });
  }
  return { batches, samples: total, numClasses: dataset.numClasses, ignoreLabel: dataset.ignoreLabel };
}

export function disposeValidationProbe(probe: ValidationProbe): void {
  tf.dispose(probe.batches.map((b) => b.images));
}

/** Dataset-level mIoU and pixel accuracy of `model` (inference mode, single scale) on the validation probe. */
export function validationMetrics(model: tf.LayersModel, probe: ValidationProbe): ValidationMetrics {
  const confusion = new ConfusionMatrix(probe.numClasses, { ignoreLabel: probe.ignoreLabel });
  for (const batch of probe.batches) {
    const probabilities = predictProbabilities(model, batch.images);
    confusion.updateFromTensors(probabilities, batch.labels);
    probabilities.dispose();
  }
  return { samples: probe.samples, meanIoU: confusion.meanIoU(), pixelAccuracy: confusion.pixelAccuracy() };
}

/** The measurements on `probe` (bases usage, optionally the gradient norm) and, when given, on the validation subset. */
export function measureTraining(model: tf.LayersModel, probe: ProbeBatch, options: { gradient: boolean; validation?: ValidationProbe | null }): TrainingMeasurement {
  return {
    bases: headBasesUsage(model, probe.images),
    backboneGradientNorm: options.gradient ? backboneGradientNorm(model, probe) : null,
    validation: options.validation != null ? validationMetrics(model, options.validation) : null,
  };
}

/** One head's bases usage summed over images (`datasetBasesUsage` adds these batch by batch, in dataset order). */
export interface BasesUsageSums {
  head: string;
  /** Σ over images of the share per basis. */
  share: number[];
  /** Σ over images of the log of the per-pixel bases (every image has the same number of pixels). */
  pixelEntropy: number;
  images: number;
  distinct: number;
}

/** The sums of one batch: `samples` centre-cropped to the model's input size (`fitSample`), every head's bases usage. */
export function basesUsageSumsOf(model: tf.LayersModel, samples: readonly SegmentationSample[], ignoreLabel: number, iterations: number | null): BasesUsageSums[] {
  const size = fixedInputSize(model);
  const { images, labels } = batchToTensors(batchSamples(samples.map((sample) => fitSample(sample, size, ignoreLabel))));
  labels.dispose();
  const n = samples.length;
  try {
    return headBasesUsage(model, images, iterations ?? undefined).map((usage) => ({
      head: usage.head,
      share: usage.share.map((p) => p * n),
      pixelEntropy: Math.log(usage.pixelBases) * n,
      images: n,
      distinct: usage.distinctBases,
    }));
  } finally {
    images.dispose();
  }
}

/**
 * Threads computing bases usage besides the calling one, each with its own
 * copy of the dataset (Node: `createEvaluationWorkers` with a mirrored
 * dataset, src/train/parallelEval.ts).
 */
export interface BasesUsageWorkers {
  readonly count: number;
  /** Gives every worker `model`'s weights and head state (once, before `basesUsage`). */
  load(model: tf.LayersModel): Promise<void>;
  /** True when the workers hold their own copy of `dataset`. */
  mirrors(dataset: SegmentationDataset): boolean;
  /** `basesUsageSumsOf` of samples `indices` of the mirrored dataset, on worker `slot`. */
  basesUsage(slot: number, indices: readonly number[], iterations: number | null): Promise<BasesUsageSums[]>;
}

/**
 * Bases usage of every head over a whole dataset (at most `limit` samples),
 * in batches: the shares are averaged over all pixels of all images. With
 * `workers` that mirror `dataset`, batches are computed on them too; the
 * sums are added in dataset order, so the result is the same.
 */
export async function datasetBasesUsage(
  model: tf.LayersModel,
  dataset: SegmentationDataset,
  options: { batchSize?: number; limit?: number | null; iterations?: number | null; workers?: BasesUsageWorkers | null } = {},
): Promise<HeadBasesUsage[]> {
  const batchSize = options.batchSize ?? 8;
  const total = Math.min(dataset.size, options.limit ?? dataset.size);
  const iterations = options.iterations ?? null;
  const workers = options.workers !== undefined && options.workers !== null && options.workers.count > 0 && options.workers.mirrors(dataset) ? options.workers : null;
  const hasHeads = findHemHeads(model).length > 0;
  if (workers !== null && hasHeads) await workers.load(model);
  const sums = new Map<string, { share: number[]; pixelEntropy: number; images: number; distinct: number }>();
  const add = (parts: readonly BasesUsageSums[]) => {
    for (const part of parts) {
      const entry = sums.get(part.head) ?? { share: part.share.map(() => 0), pixelEntropy: 0, images: 0, distinct: part.distinct };
      part.share.forEach((p, k) => (entry.share[k] = (entry.share[k] as number) + p));
      entry.pixelEntropy += part.pixelEntropy;
      entry.images += part.images;
      sums.set(part.head, entry);
    }
  };
  if (hasHeads) {
    const perRound = batchSize * (1 + (workers?.count ?? 0));
    for (let start = 0; start < total; start += perRound) {
      const end = Math.min(start + perRound, total);
      const remote: Promise<BasesUsageSums[]>[] = [];
      for (let from = start + batchSize, slot = 0; workers !== null && from < end; from += batchSize, slot++) {
        remote.push(workers.basesUsage(slot, Array.from({ length: Math.min(batchSize, end - from) }, (_, i) => from + i), iterations));
      }
      remote.forEach((p) => p.catch(() => undefined));
      // Streaming datasets decode on demand (load); in-memory ones answer get.
      const own = Math.min(batchSize, end - start);
      const samples = await loadSamples(dataset, Array.from({ length: own }, (_, i) => ({ index: start + i })));
      add(basesUsageSumsOf(model, samples, dataset.ignoreLabel, iterations));
      for (const parts of await Promise.all(remote)) add(parts);
    }
  }
  return [...sums.entries()].map(([head, { share, pixelEntropy, images, distinct }]) => {
    const mean = share.map((s) => s / images);
    return { head, effectiveBases: effectiveNumber(mean), share: mean, pixelBases: Math.exp(pixelEntropy / images), distinctBases: distinct };
  });
}

/** One line per head: "bases <head>: effective 3.21 of 16 (top shares 0.41 0.22 0.10 …)". */
export function formatBasesUsage(usages: readonly HeadBasesUsage[]): string {
  return usages
    .map((u) => {
      const top = [...u.share].sort((a, b) => b - a).slice(0, 4).map((p) => p.toFixed(2));
      return `bases ${u.head}: effective ${u.effectiveBases.toFixed(2)} of ${u.share.length} (top shares ${top.join(' ')}${u.share.length > 4 ? ' …' : ''}; per pixel ${u.pixelBases.toFixed(2)}; distinct μ⁽⁰⁾ ${u.distinctBases})`;
    })
    .join('\n');
}
