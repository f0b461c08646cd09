/**
 * One-line inference (platform-neutral): `segment(model, image)` for a
 * tensor, a plain pixel object, or in a browser an ImageData, an image, a
 * canvas, an ImageBitmap or a video frame; `loadSegmenter(url)` loads a
 * saved run's model with its class names and normalisation (the
 * `segmenter.json` that `hemnet train` writes next to `model.json`).
 * `hemnet/node` adds file paths and Buffers and run folders.
 */
import * as tf from '@tensorflow/tfjs';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/augment.js';
import { attentionMaps, type AttentionMaps } from '../train/attention.js';
import { findHemHeads } from '../train/evaluate.js';
import { inferProbabilities, modelInputSize, resolveInference, type InferenceMode, type InferenceOptions } from './inference.js';
import { flushSubnormalWeights } from '../kernels/denormals.js';

export const SEGMENTER_FORMAT = 'hemnet-segmenter';
export const SEGMENTER_VERSION = 1;
/** File name of the segmenter description, next to `model.json`. */
export const SEGMENTER_FILE = 'segmenter.json';

/** What an app needs besides the weights, as saved in `segmenter.json`. */
export interface SegmenterInfo {
  format: typeof SEGMENTER_FORMAT;
  version: typeof SEGMENTER_VERSION;
  /** One name per class, background included. */
  classNames: string[];
  /** Per-channel mean and std applied to pixels / 255. */
  mean: number[];
  std: number[];
  /** Label value the model never predicts but masks may hold (255 in VOC). */
  ignoreLabel: number;
  /** [H, W] the model was trained on (the sliding-window size). */
  inputSize: [number, number];
  outputStride: number;
  /** Inference defaults (mode, window, stride, scales, flip). */
  inference: InferenceOptions;
}

/** A loaded model with everything needed to segment an image. */
export interface Segmenter {
  model: tf.LayersModel;
  info: SegmenterInfo;
}

/** RGB or RGBA bytes, row-major: what a decoder or `getImageData` gives. */
export interface PixelImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA; alpha ignored). Default: data.length / (width·height). */
  channels?: number;
}

/** A tensor of pixel values in [0, 255] ([H, W, C] or [1, H, W, C]), pixels, or a browser image source. */
export type SegmentInput =
  | tf.Tensor3D
  | tf.Tensor4D
  | PixelImage
  | ImageData
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | ImageBitmap;

export interface SegmentOptions extends InferenceOptions {
  /** The input tensor is already normalised (skip pixels / 255, mean, std). Default false. */
  normalized?: boolean;
  /** Override the segmenter's (or, for a bare model, ImageNet's) normalisation. */
  mean?: number[];
  std?: number[];
  /** T_eval for the HEM heads during this call (null: the model's own). */
  evalIterations?: number | null;
  /** Compute the attention maps of a 'hem'/'ema' head. Default true. */
  attention?: boolean;
  /** Bases shown in the attention grid. Default 8. */
  attentionColumns?: number;
}

export interface SegmentResult {
  /** Class per pixel [H, W], row-major, at the input's own size. */
  labels: Uint8Array;
  /** Class probabilities [H, W, K], row-major. */
  probabilities: Float32Array;
  height: number;
  width: number;
  numClasses: number;
  /** Names of the classes (from the segmenter; 'class0'… for a bare model). */
  classNames: string[];
  /** The mode used ('whole', 'slide' or 'resize'). */
  mode: Exclude<InferenceMode, 'auto'>;
  /** The first HEM head's attention maps γ·k per iteration and ELBO (null for 'fcn' models or `attention: false`). */
  attention: AttentionMaps | null;
}

const FN = 'segment';

function isTensor(value: unknown): value is tf.Tensor {
  return value instanceof tf.Tensor;
}

function isPixelImage(value: unknown): value is PixelImage {
  const v = value as PixelImage | null;
  return (
    typeof v === 'object' && v !== null && (v.data instanceof Uint8Array || v.data instanceof Uint8ClampedArray) &&
    Number.isInteger(v.width) && Number.isInteger(v.height) && v.width > 0 && v.height > 0
  );
}

function isBrowserSource(value: unknown): boolean {
  const kinds = ['ImageData', 'HTMLImageElement', 'HTMLCanvasElement', 'HTMLVideoElement', 'ImageBitmap', 'OffscreenCanvas'];
  const scope = globalThis as unknown as Record<string, unknown>;
  return kinds.some((name) => typeof scope[name] === 'function' && value instanceof (scope[name] as new () => unknown));
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (isTensor(value)) return `a tensor of shape [${value.shape.join(', ')}]`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return typeof value;
}

/** Pixels [1, H, W, 3] as float32 in [0, 255] from any supported input. */
export function imageToPixelTensor(image: SegmentInput | unknown, fn = FN): tf.Tensor4D {
  if (isTensor(image)) {
    const shape = image.shape;
    const rank4 = image.rank === 4 && shape[0] === 1;
    if (!(image.rank === 3 || rank4) || (shape[shape.length - 1] !== 3 && shape[shape.length - 1] !== 1)) {
      throw new Error(`${fn}: a tensor 'image' must be [H, W, 3] or [1, H, W, 3] (or 1 channel), received shape [${shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      const x = (rank4 ? image : tf.expandDims(image, 0)).toFloat() as tf.Tensor4D;
      return x.shape[3] === 1 ? (tf.tile(x, [1, 1, 1, 3]) as tf.Tensor4D) : x;
    });
  }
  if (isPixelImage(image)) {
    const { data, width, height } = image;
    const channels = image.channels ?? data.length / (width * height);
    if ((channels !== 3 && channels !== 4) || data.length !== width * height * channels) {
      throw new Error(`${fn}: pixel 'image' must hold width·height·3 or ·4 bytes, received ${data.length} bytes for ${width}×${height}`);
    }
    return tf.tidy(() => {
      const x = tf.tensor4d(Float32Array.from(data), [1, height, width, channels]);
      return channels === 4 ? (tf.slice(x, [0, 0, 0, 0], [1, height, width, 3]) as tf.Tensor4D) : x;
    });
  }
  if (isBrowserSource(image)) {
    return tf.tidy(() => tf.expandDims(tf.browser.fromPixels(image as HTMLCanvasElement, 3), 0).toFloat() as tf.Tensor4D);
  }
  throw new Error(
    `${fn}: 'image' must be a tensor of pixels, {data, width, height}, or an ImageData / image / canvas / video / ImageBitmap, received ${describe(image)}`,
  );
}

function checkNormalization(fn: string, mean: readonly number[], std: readonly number[]): void {
  if (mean.length !== 3 || std.length !== 3 || mean.some((v) => !Number.isFinite(v)) || std.some((v) => !(v > 0))) {
    throw new Error(`${fn}: 'mean' and 'std' must be 3 numbers each (std > 0), received [${mean.join(', ')}] and [${std.join(', ')}]`);
  }
}

function isSegmenter(value: unknown): value is Segmenter {
  const v = value as Segmenter | null;
  return typeof v === 'object' && v !== null && v.model instanceof tf.LayersModel && typeof v.info === 'object' && v.info !== null;
}

/** Segmenter info for a bare model: ImageNet normalisation, 'class0'… names, the model's input size. */
export function defaultSegmenterInfo(model: tf.LayersModel): SegmenterInfo {
  const classes = model.outputs[0]?.shape[3];
  const numClasses = typeof classes === 'number' ? classes : 0;
  return {
    format: SEGMENTER_FORMAT,
    version: SEGMENTER_VERSION,
    classNames: Array.from({ length: numClasses }, (_, i) => `class${i}`),
    mean: [...IMAGENET_MEAN],
    std: [...IMAGENET_STD],
    ignoreLabel: 255,
    inputSize: modelInputSize(model) ?? [512, 512],
    outputStride: 8,
    inference: {},
  };
}

/**
 * Segments one image of any size: class per pixel, class probabilities and
 * (for 'hem'/'ema' heads) the attention maps, all at the image's own size.
 * `target` is a `Segmenter` (from `loadSegmenter`) or a bare model (then
 * the image is normalised with ImageNet's mean/std unless options say otherwise).
 * Inference is whole-image or sliding-window (`inferProbabilities`).
 * Leaves no tensors behind, except the fold a bare model keeps between calls (`sharedFoldedInference`: freed by `model.dispose()` or `releaseFoldedInference`).
 */
export function segmentSync(target: Segmenter | tf.LayersModel, image: SegmentInput, options: SegmentOptions = {}): SegmentResult {
  if (!(target instanceof tf.LayersModel) && !isSegmenter(target)) {
    throw new Error(`${FN}: 'target' must be a Segmenter (loadSegmenter) or a tf.LayersModel, received ${describe(target)}`);
  }
  const { model, info } = target instanceof tf.LayersModel ? { model: target, info: defaultSegmenterInfo(target) } : target;
  const { normalized = false, mean = info.mean, std = info.std, evalIterations = null, attention = true, attentionColumns = 8, ...inferenceOverrides } = options;
  checkNormalization(FN, mean, std);
  const pixels = imageToPixelTensor(image);
  const [, height, width] = pixels.shape;
  const input = normalized
    ? pixels
    : tf.tidy(() => tf.div(tf.sub(tf.div(pixels, 255), tf.tensor1d(mean)), tf.tensor1d(std)) as tf.Tensor4D);
  if (input !== pixels) pixels.dispose();
  const inference: InferenceOptions = { ...info.inference, ...inferenceOverrides };
  const heads = findHemHeads(model);
  if (evalIterations !== null) for (const head of heads) head.setEvalIterations(evalIterations);
  try {
    const resolved = resolveInference(model, height, width, inference);
    const probabilities = inferProbabilities(model, input, inference);
    const numClasses = probabilities.shape[3];
    if (numClasses > 256) {
      probabilities.dispose();
      throw new Error(`${FN}: the model has ${numClasses} classes; labels are bytes (at most 256)`);
    }
    const labelTensor = tf.tidy(() => tf.argMax(probabilities, -1));
    const labels = Uint8Array.from(labelTensor.dataSync());
    const probabilityValues = probabilities.dataSync() as Float32Array;
    tf.dispose([labelTensor, probabilities]);
    let maps: AttentionMaps | null = null;
    if (attention && heads.length > 0) {
      // At most maxWholeSide on the longer side, padded to the output stride, as in 'whole'.
      const multiple = resolved.sizeMultiple;
      const shrink = Math.min(1, resolved.maxWholeSide / Math.max(height, width));
      const h = Math.ceil(Math.max(1, Math.round(height * shrink)) / multiple) * multiple;
      const w = Math.ceil(Math.max(1, Math.round(width * shrink)) / multiple) * multiple;
      const fitted = tf.tidy(() => tf.image.resizeBilinear(input, [h, w], false, true));
      const values = fitted.dataSync() as Float32Array;
      fitted.dispose();
      maps = attentionMaps(model, { image: values, label: new Uint8Array(h * w), height: h, width: w, channels: input.shape[3], id: 'segment' }, { columns: attentionColumns });
    }
    const classNames = info.classNames.length === numClasses ? [...info.classNames] : Array.from({ length: numClasses }, (_, i) => info.classNames[i] ?? `class${i}`);
    return { labels, probabilities: probabilityValues, height, width, numClasses, classNames, mode: resolved.mode, attention: maps };
  } finally {
    input.dispose();
    if (evalIterations !== null) for (const head of heads) head.setEvalIterations(null);
  }
}

/**
 * `segmentSync`, after waiting for an `HTMLImageElement` to finish loading.
 * `hemnet/node`'s `segment` also takes file paths and encoded bytes.
 */
export async function segment(target: Segmenter | tf.LayersModel, image: SegmentInput, options: SegmentOptions = {}): Promise<SegmentResult> {
  if (typeof HTMLImageElement === 'function' && image instanceof HTMLImageElement && !image.complete) await image.decode();
  return segmentSync(target, image, options);
}

/** Validates a parsed `segmenter.json`; `source` names it in messages. */
export function checkSegmenterInfo(value: unknown, source: string): SegmenterInfo {
  const fn = 'loadSegmenter';
  const v = value as Partial<SegmenterInfo> | null;
  if (typeof v !== 'object' || v === null || v.format !== SEGMENTER_FORMAT) {
    throw new Error(`${fn}: '${source}' is not a hemnet segmenter description (format '${SEGMENTER_FORMAT}'), received ${JSON.stringify(v?.format ?? v)}`);
  }
  if (v.version !== SEGMENTER_VERSION) throw new Error(`${fn}: '${source}' has version ${String(v.version)}; this hemnet reads version ${SEGMENTER_VERSION}`);
  if (!Array.isArray(v.classNames) || v.classNames.some((n) => typeof n !== 'string')) throw new Error(`${fn}: '${source}': 'classNames' must be a list of strings`);
  checkNormalization(`${fn}: '${source}'`, v.mean ?? [], v.std ?? []);
  const size = v.inputSize;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isInteger(s) && s > 0)) throw new Error(`${fn}: '${source}': 'inputSize' must be [H, W]`);
  return {
    format: SEGMENTER_FORMAT,
    version: SEGMENTER_VERSION,
    classNames: [...v.classNames],
    mean: [...(v.mean as number[])],
    std: [...(v.std as number[])],
    ignoreLabel: typeof v.ignoreLabel === 'number' ? v.ignoreLabel : 255,
    inputSize: [size[0] as number, size[1] as number],
    outputStride: typeof v.outputStride === 'number' ? v.outputStride : 8,
    inference: typeof v.inference === 'object' && v.inference !== null ? { ...v.inference } : {},
  };
}

/**
 * Loads a saved model and its `segmenter.json` from a URL: the folder
 * (ending in '/') or its `model.json`. In Node, `hemnet/node`'s
 * `loadSegmenter` also takes a run folder or a model folder on disk.
 * `fetchFn` defaults to the global `fetch`.
 */
export async function loadSegmenterFromUrl(url: string, fetchFn?: typeof fetch): Promise<Segmenter> {
  if (typeof url !== 'string' || url === '') throw new Error(`loadSegmenter: 'url' must be a URL string, received ${JSON.stringify(url)}`);
  const base = typeof location !== 'undefined' ? location.href : undefined;
  const modelUrl = new URL(url.endsWith('.json') ? url : `${url.replace(/\/?$/, '/')}model.json`, base);
  const infoUrl = new URL(SEGMENTER_FILE, modelUrl);
  // Called unbound, window.fetch throws 'Illegal invocation': call it through globalThis.
  const response = await (fetchFn ?? ((input, init) => globalThis.fetch(input, init)))(infoUrl.href);
  if (!response.ok) {
    throw new Error(`loadSegmenter: cannot fetch '${infoUrl.href}' (HTTP ${response.status}); a run's model folder holds model.json, weights.bin and ${SEGMENTER_FILE}`);
  }
  const info = checkSegmenterInfo(await response.json(), infoUrl.href);
  const model = await tf.loadLayersModel(modelUrl.href, fetchFn !== undefined ? { fetchFunc: fetchFn } : {});
  flushSubnormalWeights(model);
  return { model, info };
}

/** A segmenter from a model and a description (e.g. a model built or trained in the page). */
export function createSegmenter(model: tf.LayersModel, info: Partial<Omit<SegmenterInfo, 'format' | 'version'>> = {}): Segmenter {
  const merged = { ...defaultSegmenterInfo(model), ...info };
  return { model, info: checkSegmenterInfo(merged, 'createSegmenter') };
}
