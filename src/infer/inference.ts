/**
 * Inference on images of any size with a model trained on fixed-size crops
 * (platform-neutral). Three ways, as in mmsegmentation's `test_cfg`:
 *
 * - 'whole': the whole image in one pass, padded bottom/right to a multiple
 *   of the output stride (mmseg's size divisor) and cropped back;
 * - 'slide': windows of `cropSize` every `stride` pixels (mmseg's
 *   `slide_inference`: the last window is shifted to end at the border,
 *   windows smaller than `cropSize` are padded), logits summed and divided
 *   by the number of windows covering each pixel;
 * - 'resize': the image resized to the model's input size and the
 *   probabilities resized back (cheap, loses detail).
 *
 * 'auto' is 'whole' unless the longer side exceeds `maxWholeSide`, then 'slide'.
 * Any of them runs per scale (and on the flipped image), and the class
 * probabilities are averaged at the image's own size.
 *
 * The model runs with its batch norms folded into the convolutions before
 * them (`foldInference`, src/infer/folded.ts: one fused conv + bias + ReLU
 * kernel per conv → BN → ReLU unit, the same logits to float32 rounding;
 * the fold is kept with the model between calls, `sharedFoldedInference`);
 * `fold: false` runs the plain model through `LayersModel.execute` instead.
 * Neither checks the input's height and width against the model's input
 * shape (unlike `predict`); every layer of the zoo's models is size-agnostic,
 * so no copy of the model is needed and the weights are shared.
 */
import * as tf from '@tensorflow/tfjs';
import { FoldedInference, sharedFoldedInference } from './folded.js';

export const INFERENCE_MODES = ['auto', 'whole', 'slide', 'resize'] as const;
export type InferenceMode = (typeof INFERENCE_MODES)[number];

export interface InferenceOptions {
  /** 'auto' (default), 'whole', 'slide' or 'resize' (see the module comment). */
  mode?: InferenceMode;
  /** [h, w] of a sliding window (and the 'resize' target). Default: the model's input size, else [512, 512]. */
  cropSize?: [number, number];
  /** [h, w] between window origins. Default: ⌈2/3⌉ of the crop (mmseg: 512 crop, 341 stride). */
  stride?: [number, number];
  /** 'whole': pad each side up to a multiple of this (the output stride). Default 8. */
  sizeMultiple?: number;
  /** 'auto': slide when the longer side exceeds this many pixels. Default 1024. */
  maxWholeSide?: number;
  /** Input scales; [1] (default) is single-scale. */
  scales?: number[];
  /** Also average the horizontally flipped image. Default false. */
  flip?: boolean;
  /**
   * Fold each batch norm into the convolution before it (`foldInference`).
   * Default true; false runs the plain model (`model.execute`).
   */
  fold?: boolean;
}

/** What inference runs: a model, or a model already folded with `foldInference` (reused across calls). */
export type InferenceTarget = tf.LayersModel | FoldedInference;

export interface ResolvedInference {
  mode: Exclude<InferenceMode, 'auto'>;
  cropSize: [number, number];
  stride: [number, number];
  sizeMultiple: number;
  maxWholeSide: number;
  scales: number[];
  flip: boolean;
  fold: boolean;
}

const FN = 'inferProbabilities';

function checkPair(name: string, value: unknown): [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || !value.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${FN}: '${name}' must be [h, w] of positive integers, received ${JSON.stringify(value)}`);
  }
  return [value[0] as number, value[1] as number];
}

/** The model's fixed input [h, w], or null when either side is variable. */
export function modelInputSize(model: tf.LayersModel): [number, number] | null {
  const shape = model.inputs[0]?.shape ?? [];
  const h = shape[1];
  const w = shape[2];
  return typeof h === 'number' && typeof w === 'number' ? [h, w] : null;
}

/** Fills the defaults of `options` for `model` and an image of `height`×`width`, validating every value. */
export function resolveInference(model: tf.LayersModel, height: number, width: number, options: InferenceOptions = {}): ResolvedInference {
  if (options === null || typeof options !== 'object') throw new Error(`${FN}: 'options' must be an object, received ${String(options)}`);
  const known = new Set(['mode', 'cropSize', 'stride', 'sizeMultiple', 'maxWholeSide', 'scales', 'flip', 'fold']);
  for (const key of Object.keys(options)) if (!known.has(key)) throw new Error(`${FN}: unknown option '${key}'`);
  const mode = options.mode ?? 'auto';
  if (!(INFERENCE_MODES as readonly string[]).includes(mode)) {
    throw new Error(`${FN}: 'mode' must be one of ${INFERENCE_MODES.map((m) => `'${m}'`).join(', ')}, received '${String(mode)}'`);
  }
  const cropSize = checkPair('cropSize', options.cropSize ?? modelInputSize(model) ?? [512, 512]);
  const stride = checkPair('stride', options.stride ?? [Math.ceil((2 * cropSize[0]) / 3), Math.ceil((2 * cropSize[1]) / 3)]);
  const sizeMultiple = options.sizeMultiple ?? 8;
  if (!Number.isInteger(sizeMultiple) || sizeMultiple < 1) throw new Error(`${FN}: 'sizeMultiple' must be a positive integer, received ${String(sizeMultiple)}`);
  const maxWholeSide = options.maxWholeSide ?? 1024;
  if (!Number.isInteger(maxWholeSide) || maxWholeSide < 1) throw new Error(`${FN}: 'maxWholeSide' must be a positive integer, received ${String(maxWholeSide)}`);
  const scales = options.scales ?? [1];
  if (!Array.isArray(scales) || scales.length === 0 || scales.some((s) => !(typeof s === 'number' && s > 0 && Number.isFinite(s)))) {
    throw new Error(`${FN}: 'scales' must be a non-empty list of positive numbers, received ${JSON.stringify(scales)}`);
  }
  const flip = options.flip ?? false;
  if (typeof flip !== 'boolean') throw new Error(`${FN}: 'flip' must be a boolean, received ${JSON.stringify(flip)}`);
  const fold = options.fold ?? true;
  if (typeof fold !== 'boolean') throw new Error(`${FN}: 'fold' must be a boolean, received ${JSON.stringify(fold)}`);
  const resolvedMode = mode === 'auto' ? (Math.max(height, width) > maxWholeSide ? 'slide' : 'whole') : mode;
  return { mode: resolvedMode, cropSize, stride, sizeMultiple, maxWholeSide, scales: [...scales], flip, fold };
}

/** The main output (logits [1, h, w, K]) of `model` on `input`, at the input's size. */
export function executeLogits(model: tf.LayersModel, input: tf.Tensor4D): tf.Tensor4D {
  const output = model.outputs[0];
  if (output === undefined) throw new Error(`${FN}: the model has no output`);
  return model.execute(input, output.name) as tf.Tensor4D;
}

/** Logits [B, h, w, K] of one pass. */
type Logits = (input: tf.Tensor4D) => tf.Tensor4D;

function padTo(image: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  const [, h, w] = image.shape;
  if (h === height && w === width) return image;
  return tf.pad(image, [[0, 0], [0, height - h], [0, width - w], [0, 0]]);
}

function wholeLogits(run: Logits, image: tf.Tensor4D, multiple: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = image.shape;
    const padded = padTo(image, Math.ceil(h / multiple) * multiple, Math.ceil(w / multiple) * multiple);
    const logits = run(padded);
    return padded === image ? logits : (tf.slice(logits, [0, 0, 0, 0], [1, h, w, -1]) as tf.Tensor4D);
  });
}

/** The windows [y1, x1, y2, x2] of mmseg's slide_inference over an image of `height`×`width`. */
export function slidingWindows(height: number, width: number, cropSize: [number, number], stride: [number, number]): Array<[number, number, number, number]> {
  const [hCrop, wCrop] = cropSize;
  const [hStride, wStride] = stride;
  const hGrids = Math.floor(Math.max(height - hCrop + hStride - 1, 0) / hStride) + 1;
  const wGrids = Math.floor(Math.max(width - wCrop + wStride - 1, 0) / wStride) + 1;
  const windows: Array<[number, number, number, number]> = [];
  for (let i = 0; i < hGrids; i++) {
    for (let j = 0; j < wGrids; j++) {
      const y2 = Math.min(i * hStride + hCrop, height);
      const x2 = Math.min(j * wStride + wCrop, width);
      windows.push([Math.max(y2 - hCrop, 0), Math.max(x2 - wCrop, 0), y2, x2]);
    }
  }
  return windows;
}

function slideLogits(run: Logits, image: tf.Tensor4D, cropSize: [number, number], stride: [number, number]): tf.Tensor4D {
  const [, height, width] = image.shape;
  const windows = slidingWindows(height, width, cropSize, stride);
  let sum: Float32Array | null = null;
  let classes = 0;
  const count = new Uint16Array(height * width);
  for (const [y1, x1, y2, x2] of windows) {
    const h = y2 - y1;
    const w = x2 - x1;
    const values = tf.tidy(() => {
      const crop = tf.slice(image, [0, y1, x1, 0], [1, h, w, -1]) as tf.Tensor4D;
      const logits = run(padTo(crop, cropSize[0], cropSize[1]));
      return tf.slice(logits, [0, 0, 0, 0], [1, h, w, -1]);
    });
    classes = values.shape[3] as number;
    const data = values.dataSync();
    values.dispose();
    sum ??= new Float32Array(height * width * classes);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = (y1 + y) * width + (x1 + x);
        count[p] = (count[p] as number) + 1;
        const from = (y * w + x) * classes;
        for (let k = 0; k < classes; k++) sum[p * classes + k] = (sum[p * classes + k] as number) + (data[from + k] as number);
      }
    }
  }
  const total = sum as Float32Array;
  for (let p = 0; p < height * width; p++) {
    const c = count[p] as number;
    for (let k = 0; k < classes; k++) total[p * classes + k] = (total[p * classes + k] as number) / c;
  }
  return tf.tensor4d(total, [1, height, width, classes]);
}

function resizeLogits(run: Logits, image: tf.Tensor4D, cropSize: [number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = image.shape;
    const resized = h === cropSize[0] && w === cropSize[1] ? image : tf.image.resizeBilinear(image, cropSize, false, true);
    const logits = run(resized);
    return logits.shape[1] === h && logits.shape[2] === w ? logits : tf.image.resizeBilinear(logits, [h, w], false, true);
  });
}

/** Logits [1, H, W, K] of one mode at the image's own size. */
function logitsAt(run: Logits, image: tf.Tensor4D, r: ResolvedInference): tf.Tensor4D {
  if (r.mode === 'whole') return wholeLogits(run, image, r.sizeMultiple);
  if (r.mode === 'slide') return slideLogits(run, image, r.cropSize, r.stride);
  return resizeLogits(run, image, r.cropSize);
}

/**
 * Class probabilities [1, H, W, K] of `target` on one normalised image
 * [1, H, W, C] of any size, averaged over `scales` and the flip. `target`
 * is a model (folded once and kept with it, `sharedFoldedInference`,
 * unless `fold: false`) or a `FoldedInference` (`fold: false` then runs
 * its plain model). The caller owns (disposes) the result; nothing else is
 * left behind but the model's kept fold (freed with the model).
 */
export function inferProbabilities(target: InferenceTarget, image: tf.Tensor4D, options: InferenceOptions = {}): tf.Tensor4D {
  const model = target instanceof FoldedInference ? target.model : target;
  if (!(image instanceof tf.Tensor) || image.rank !== 4 || image.shape[0] !== 1) {
    throw new Error(`${FN}: 'image' must be a tensor [1, H, W, C], received ${image instanceof tf.Tensor ? `shape [${image.shape.join(', ')}]` : typeof image}`);
  }
  const [, height, width] = image.shape;
  const channels = model.inputs[0]?.shape[3];
  if (typeof channels === 'number' && image.shape[3] !== channels) {
    throw new Error(`${FN}: 'image' has ${image.shape[3]} channels, the model expects ${channels}`);
  }
  const r = resolveInference(model, height, width, options);
  const folded = !r.fold ? null : target instanceof FoldedInference ? target : sharedFoldedInference(model);
  const run: Logits = folded !== null ? (input) => folded.logits(input) : (input) => executeLogits(model, input);
  const parts: tf.Tensor4D[] = [];
  try {
    for (const scale of r.scales) {
      const h = Math.max(1, Math.round(height * scale));
      const w = Math.max(1, Math.round(width * scale));
      const scaled = h === height && w === width ? image : tf.tidy(() => tf.image.resizeBilinear(image, [h, w], false, true));
      const atScale = resolveInference(model, h, w, { ...options, scales: [1], flip: false });
      for (const flipped of r.flip ? [false, true] : [false]) {
        const input = flipped ? tf.reverse(scaled, 2) : scaled;
        const logits = logitsAt(run, input, atScale);
        if (input !== scaled) input.dispose();
        parts.push(
          tf.tidy(() => {
            let probabilities = tf.softmax(logits) as tf.Tensor4D;
            if (flipped) probabilities = tf.reverse(probabilities, 2);
            return h === height && w === width ? probabilities : tf.image.resizeBilinear(probabilities, [height, width], false, true);
          }),
        );
        logits.dispose();
      }
      if (scaled !== image) scaled.dispose();
    }
    return parts.length === 1 ? (parts[0] as tf.Tensor4D) : tf.tidy(() => tf.div(tf.addN(parts), parts.length) as tf.Tensor4D);
  } finally {
    if (parts.length > 1) tf.dispose(parts);
  }
}
