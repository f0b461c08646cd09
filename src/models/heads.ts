/**
 * Segmentation heads on backbone features `[B, H/OS, W/OS, C_b]`
 * (docs/design.md "The head around the EM module"), and the head registry:
 *
 * - `hem`: 3×3 conv → C (BN, ReLU) → HemHead (preset 'hem') → 3×3 conv →
 *   mid (BN, ReLU, dropout 0.1) → 1×1 classifier → bilinear ×OS.
 * - `ema`: the same with HemHead preset 'ema' (EMANet's EMAU).
 * - `fcn`: the same without attention.
 *
 * The auxiliary head (`fcnAuxHead`) is the FCN head on stage-3 features
 * (PSPNet/mmseg); its logits are a second model output for an auxiliary loss.
 * Logits are upsampled with `BilinearUpsample` (half-pixel centres) so that the
 * models stay ordinary, serialisable tfjs-layers models.
 */
import * as tf from '@tensorflow/tfjs';
import { Dropout } from '../layers/dropout.js';
import { BilinearUpsample } from '../layers/resize.js';
import { HEM_HEAD_SCHEMA, hemHead, type HemHead, type HemHeadOptions, type HemPreset } from '../layers/hemHead.js';
import { Registry, type Named } from '../registry.js';
import { keysOf, omitKeys } from '../schema.js';
import { checkPositiveInteger, convBnRelu, SeedSequence } from './builders.js';

/**
 * HemHead options a segmentation head passes through (the preset follows
 * from the head name and the seed from the model): K `numBases`, η
 * `stepSize` (Eq. 13), T_train `trainIterations`, T_eval `evalIterations`,
 * σ² `temperature` (Eq. 7/8), `kernel`, `normalizeBases`, `detachEm`,
 * `basesMomentum`, `emChannels`, `batchNormMomentum`.
 */
export type SegmentationHemOptions = Omit<HemHeadOptions, 'preset' | 'seed'>;

/** The schema of `SegmentationHemOptions`: HemHead's, without what the head and the model decide. */
export const SEGMENTATION_HEM_SCHEMA = omitKeys(HEM_HEAD_SCHEMA, ['preset', 'seed']);
/** Keys of `SegmentationHemOptions` (derived from HemHead's schema). */
export const HEM_OPTION_KEYS: readonly string[] = keysOf(SEGMENTATION_HEM_SCHEMA);

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
  // hemnet's Dropout, not tf.layers.dropout: a seeded tfjs Dropout draws the same mask every step (src/layers/dropout.ts).
  if (dropout > 0) y = new Dropout({ name: `${prefix}/dropout`, rate: dropout, seed: seeds.next() }).apply(y) as tf.SymbolicTensor;
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

/** A registered segmentation head: features `[B, h, w, C_b]` → logits `[B, h·OS, w·OS, numClasses]`. */
export interface HeadSpec extends Named {
  /** The HemHead preset of its attention module, or null when it has none (then `model.hem` is ignored). */
  hemPreset: HemPreset | null;
  build(features: tf.SymbolicTensor, options: SegmentationHeadOptions): SegmentationHeadOutput;
}

function checkHeadOptions(fn: string, options: SegmentationHeadOptions): number {
  checkPositiveInteger(fn, 'numClasses', options.numClasses);
  checkPositiveInteger(fn, 'midChannels', options.midChannels);
  checkPositiveInteger(fn, 'upsample', options.upsample);
  const dropout = options.dropout ?? 0.1;
  checkDropout(fn, dropout);
  return dropout;
}

/**
 * conv in → (attention) → classifier: the shape every built-in head shares.
 * `attend` adds the attention module (null: none); a new head can reuse
 * this with its own module, or build anything else in `HeadSpec.build`.
 */
export function buildAttentionHead(
  fn: string,
  features: tf.SymbolicTensor,
  options: SegmentationHeadOptions,
  attend: ((x: tf.SymbolicTensor, prefix: string, seeds: SeedSequence) => { output: tf.SymbolicTensor; hemHead: HemHead | null }) | null,
): SegmentationHeadOutput {
  const dropout = checkHeadOptions(fn, options);
  checkPositiveInteger(fn, 'channels', options.channels);
  const prefix = options.prefix ?? 'head';
  const seeds = new SeedSequence(options.seed ?? null, prefix);
  let x = convBnRelu(features, `${prefix}/conv_in`, { filters: options.channels, kernelSize: 3 }, seeds);
  let attention: HemHead | null = null;
  if (attend !== null) {
    const attended = attend(x, prefix, seeds);
    x = attended.output;
    attention = attended.hemHead;
  }
  const logits = classify(x, prefix, options.midChannels, options.numClasses, dropout, options.upsample, seeds);
  return { logits, hemHead: attention };
}

/** A head whose attention module is a HemHead with `preset` (the layer is named `<prefix>/<name>`). */
function hemAttentionHead(name: string, summary: string, preset: HemPreset): HeadSpec {
  return {
    name,
    summary,
    hemPreset: preset,
    build: (features, options) =>
      buildAttentionHead('segmentationHead', features, options, (x, prefix, seeds) => {
        const layer = hemHead({ ...options.hem, preset, seed: seeds.nextOrNull(), name: `${prefix}/${name}` });
        return { output: layer.apply(x) as tf.SymbolicTensor, hemHead: layer };
      }),
  };
}

/**
 * The head registry: `model.head` names one of these. Adding a head is a
 * file exporting a `HeadSpec` and one entry here (or `HEADS.register(spec)`
 * from your own code); docs/design.md shows one.
 */
export const HEADS = new Registry<HeadSpec>('head', [
  hemAttentionHead('hem', 'HEMNet: highway EM attention (η 0.5, gradients through EM, σ² = √C)', 'hem'),
  hemAttentionHead('ema', 'EMANet baseline: plain EM under no-grad, normalised bases', 'ema'),
  { name: 'fcn', summary: 'no attention (FCN head)', hemPreset: null, build: (features, options) => buildAttentionHead('segmentationHead', features, options, null) },
]);

/** Names of the built-in heads (the registry may hold more: `HEADS.names()`). */
export const HEAD_NAMES = ['hem', 'ema', 'fcn'] as const;
/** A head name: a built-in one or any registered later. */
export type HeadName = (typeof HEAD_NAMES)[number] | (string & {});

/** A registered segmentation head by name: features `[B, h, w, C_b]` → logits `[B, h·OS, w·OS, numClasses]`. */
export function segmentationHead(kind: HeadName, features: tf.SymbolicTensor, options: SegmentationHeadOptions): SegmentationHeadOutput {
  return HEADS.get(kind, 'segmentationHead').build(features, options);
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
  const dropout = checkHeadOptions('fcnAuxHead', { ...options, channels: options.midChannels });
  const prefix = options.prefix ?? 'aux';
  const seeds = new SeedSequence(options.seed ?? null, prefix);
  return classify(features, prefix, options.midChannels, options.numClasses, dropout, options.upsample, seeds);
}
