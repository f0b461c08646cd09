/**
 * Segmentation heads on backbone features `[B, H/OS, W/OS, C_b]`
 * (DESIGN.md "Head around it"):
 *
 * - `hem`: 3×3 conv → C (BN, ReLU) → HemHead (preset 'hemnet') → 3×3 conv →
 *   mid (BN, ReLU, dropout 0.1) → 1×1 classifier → bilinear ×OS.
 * - `ema`: the same with HemHead preset 'emanet' (EMANet's EMAU).
 * - `fcn`: the same without attention.
 *
 * The auxiliary head (`fcnAuxHead`) is the FCN head on stage-3 features
 * (PSPNet/mmseg); its logits are a second model output for an auxiliary loss.
 * Logits are upsampled with `BilinearUpsample` (half-pixel centres) so that the
 * models stay ordinary, serialisable tfjs-layers models.
 */
import * as tf from '@tensorflow/tfjs';
import { BilinearUpsample } from '../layers/resize.js';
import { hemHead, type HemHead, type HemHeadOptions } from '../layers/hemHead.js';
import { checkOneOf, checkPositiveInteger, convBnRelu, SeedSequence } from './builders.js';

export const HEAD_NAMES = ['hem', 'ema', 'fcn'] as const;
export type HeadName = (typeof HEAD_NAMES)[number];

/**
 * HemHead options a segmentation head passes through (the preset follows
 * from the head name and the seed from the model): K `numBases`, η
 * `stepSize` (Eq. 13), T_train `trainIterations`, T_eval `evalIterations`,
 * σ² `temperature` (Eq. 7/8), `kernel`, `normalizeBases`, `detachEm`,
 * `basesMomentum`, `emChannels`, `batchNormMomentum`.
 */
export type SegmentationHemOptions = Omit<HemHeadOptions, 'preset' | 'seed'>;

/** Keys of `SegmentationHemOptions` (for config validation). */
export const HEM_OPTION_KEYS = [
  'numBases', 'emChannels', 'stepSize', 'trainIterations', 'evalIterations', 'temperature', 'kernel',
  'normalizeBases', 'detachEm', 'basesMomentum', 'batchNormMomentum',
] as const;

export interface SegmentationHeadOptions {
  numClasses: number;
  /** C: channels of the first 3×3 conv and of the attention module. */
  channels: number;
  /** Channels of the 3×3 conv before the classifier. */
  midChannels: number;
  /** Upsampling factor of the logits (the backbone's OS). */
  upsample: number;
  /** Dropout rate before the classifier. Default 0.1. */
  dropout?: number;
  /** HemHead options (`hem`/`ema` only; ignored by `fcn`). */
  hem?: SegmentationHemOptions;
  /** Layer-name prefix. Default 'head'. */
  prefix?: string;
  seed?: number | null;
}

export interface SegmentationHeadOutput {
  /** Logits `[B, H, W, numClasses]` (upsampled ×OS). */
  logits: tf.SymbolicTensor;
  /** The attention layer, or null for `fcn`. */
  hemHead: HemHead | null;
}

function checkDropout(fn: string, rate: number): void {
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
    throw new Error(`${fn}: 'dropout' must be in [0, 1), received ${JSON.stringify(rate)}`);
  }
}

/** 3×3 conv → mid (BN, ReLU) → dropout → 1×1 classifier → bilinear upsampling: `[B, h, w, ·]` → `[B, h·s, w·s, numClasses]`. */
function classify(
  x: tf.SymbolicTensor,
  prefix: string,
  midChannels: number,
  numClasses: number,
  dropout: number,
  upsample: number,
  seeds: SeedSequence,
): tf.SymbolicTensor {
  let y = convBnRelu(x, `${prefix}/conv_mid`, { filters: midChannels, kernelSize: 3 }, seeds);
  if (dropout > 0) y = tf.layers.dropout({ name: `${prefix}/dropout`, rate: dropout, seed: seeds.next() }).apply(y) as tf.SymbolicTensor;
  y = tf.layers
    .conv2d({
      name: `${prefix}/classifier`,
      filters: numClasses,
      kernelSize: 1,
      kernelInitializer: tf.initializers.glorotNormal({ seed: seeds.next() }),
    })
    .apply(y) as tf.SymbolicTensor;
  if (upsample === 1) return y;
  return new BilinearUpsample({ name: `${prefix}/logits`, factor: upsample }).apply(y) as tf.SymbolicTensor;
}

/** A segmentation head (`hem`, `ema` or `fcn`): features `[B, h, w, C_b]` → logits `[B, h·OS, w·OS, numClasses]`. */
export function segmentationHead(kind: HeadName, features: tf.SymbolicTensor, options: SegmentationHeadOptions): SegmentationHeadOutput {
  const fn = 'segmentationHead';
  checkOneOf(fn, 'head', kind, HEAD_NAMES);
  checkPositiveInteger(fn, 'numClasses', options.numClasses);
  checkPositiveInteger(fn, 'channels', options.channels);
  checkPositiveInteger(fn, 'midChannels', options.midChannels);
  checkPositiveInteger(fn, 'upsample', options.upsample);
  const dropout = options.dropout ?? 0.1;
  checkDropout(fn, dropout);
  const prefix = options.prefix ?? 'head';
  const seeds = new SeedSequence(options.seed ?? null, prefix);

  let x = convBnRelu(features, `${prefix}/conv_in`, { filters: options.channels, kernelSize: 3 }, seeds);
  let attention: HemHead | null = null;
  if (kind !== 'fcn') {
    attention = hemHead({
      ...options.hem,
      preset: kind === 'hem' ? 'hemnet' : 'emanet',
      seed: seeds.nextOrNull(),
      name: `${prefix}/${kind}`,
    });
    x = attention.apply(x) as tf.SymbolicTensor;
  }
  const logits = classify(x, prefix, options.midChannels, options.numClasses, dropout, options.upsample, seeds);
  return { logits, hemHead: attention };
}

export interface AuxHeadOptions {
  numClasses: number;
  midChannels: number;
  upsample: number;
  dropout?: number;
  /** Layer-name prefix. Default 'aux'. */
  prefix?: string;
  seed?: number | null;
}

/** The auxiliary FCN head: 3×3 conv → mid (BN, ReLU, dropout) → 1×1 classifier → bilinear ×upsample. */
export function fcnAuxHead(features: tf.SymbolicTensor, options: AuxHeadOptions): tf.SymbolicTensor {
  const fn = 'fcnAuxHead';
  checkPositiveInteger(fn, 'numClasses', options.numClasses);
  checkPositiveInteger(fn, 'midChannels', options.midChannels);
  checkPositiveInteger(fn, 'upsample', options.upsample);
  const dropout = options.dropout ?? 0.1;
  checkDropout(fn, dropout);
  const prefix = options.prefix ?? 'aux';
  const seeds = new SeedSequence(options.seed ?? null, prefix);
  return classify(features, prefix, options.midChannels, options.numClasses, dropout, options.upsample, seeds);
}
