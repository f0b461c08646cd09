/**
 * The segmentation model zoo: a typed config → an ordinary tfjs-layers
 * functional model (`model.save()` / `tf.loadLayersModel()` work, with the
 * registered HemHead).
 *
 *   image [B, H, W, C_in] → backbone → features [B, H/OS, W/OS, C_b]
 *     → head (hem | ema | fcn) → logits [B, H, W, numClasses]
 *   (+ auxiliary FCN head on stage-3 features → aux logits [B, H, W, numClasses])
 */
import * as tf from '@tensorflow/tfjs';
import type { HemHead } from '../layers/hemHead.js';
import { shortClassName } from '../layers/serialization.js';
import { checkComplete, checkKnownKeys, checkObject, checkOneOf, defaultsOf, keysOf, validateAgainstSchema, type Schema } from '../schema.js';
import { BACKBONES, type BackboneName, type BackboneOutput } from './backbones.js';
import { fcnAuxHead, HEADS, SEGMENTATION_HEM_SCHEMA, type HeadName, type SegmentationHemOptions } from './heads.js';

export interface SegmentationModelConfig {
  /** A registered backbone: 'compact' (basic blocks), 'resnet50' or 'resnet101' (bottlenecks), … */
  backbone: BackboneName;
  /** A registered head: 'hem' (HEMNet), 'ema' (EMANet), 'fcn' (no attention), … */
  head: HeadName;
  /** Classes, background included. */
  numClasses: number;
  /** [H, W] of the input images; both divisible by `outputStride`. */
  inputSize: [number, number];
  /** C_in of the input images. */
  inputChannels: number;
  /** C of the head: the 3×3 conv after the backbone and the attention module. */
  channels: number;
  /** Channels of the 3×3 conv before each classifier. */
  midChannels: number;
  /** OS: compact 4 or 8, resnet50/101 8 or 16. */
  outputStride: number;
  /** Backbone base width: compact stages w·[1, 2, 4, 8]; resnet50 scales 64..2048 by width/64. */
  width: number;
  /** Residual blocks per stage of the compact backbone (ignored by resnet50). */
  blocksPerStage: number;
  /** Adds the auxiliary FCN head on stage-3 features as a second output. */
  auxiliaryHead: boolean;
  /** Dropout before the classifiers. */
  dropout: number;
  /** HemHead options for 'hem'/'ema' (K, η, T_train, T_eval, σ², kernel, ...); 'fcn' ignores them. */
  hem: SegmentationHemOptions;
  /** Seed of every initialiser (null = unseeded). */
  seed: number | null;
}

/**
 * The model config schema: one entry per key (type, range, default, doc,
 * CLI flag); `hem` holds HemHead's own schema (src/layers/hemHead.ts).
 * Backbone and head names are checked against their registries.
 */
export const MODEL_SCHEMA = {
  backbone: { kind: 'enum', values: () => BACKBONES.names(), default: 'compact', flag: 'backbone', doc: 'backbone (registry BACKBONES)' },
  head: { kind: 'enum', values: () => HEADS.names(), default: 'hem', flag: 'head', doc: 'segmentation head (registry HEADS): hem (HEMNet), ema (EMANet baseline), fcn (no attention)' },
  numClasses: { kind: 'integer', min: 1, default: 11, flag: 'num-classes', doc: 'classes, background included (scenes 11; --data voc 21)' },
  inputSize: { kind: 'numbers', integer: true, length: 2, min: 1, default: [64, 64], doc: '[H, W] of the input images, both divisible by outputStride' },
  inputChannels: { kind: 'integer', min: 1, default: 3, doc: 'C_in of the input images' },
  channels: { kind: 'integer', min: 1, default: 64, flag: 'channels', doc: 'C, channels of the head and of x [B, N, C]' },
  midChannels: { kind: 'integer', min: 1, default: 64, doc: 'channels of the 3×3 conv before each classifier' },
  outputStride: { kind: 'integer', min: 1, default: 8, flag: 'output-stride', doc: "OS of the backbone (one of the backbone's outputStrides: compact 4|8, resnet50/101 8|16)" },
  width: { kind: 'integer', min: 1, default: 16, flag: 'width', doc: 'backbone base width' },
  blocksPerStage: { kind: 'integer', min: 1, default: 1, doc: 'residual blocks per stage of the compact backbone' },
  auxiliaryHead: { kind: 'boolean', default: false, flag: 'aux-head', doc: 'add the auxiliary FCN head (loss weight 0.4)' },
  dropout: {
    kind: 'number', min: 0, max: 1, exclusiveMax: true, default: 0.1, doc: 'dropout before the classifiers',
    check: (where: string, v: unknown) => {
      if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new Error(`${where}: 'dropout' must be in [0, 1), received ${JSON.stringify(v)}`);
    },
  },
  hem: { kind: 'object', fields: SEGMENTATION_HEM_SCHEMA, default: { numBases: 16 }, doc: "HemHead options of the 'hem'/'ema' heads" },
  seed: { kind: 'integer', nullable: true, default: 0, flag: 'model-seed', doc: 'seed of the weight initialisers (null: unseeded)' },
} as const satisfies Schema;

/** Keys of the model config (derived from `MODEL_SCHEMA`). */
export const MODEL_CONFIG_KEYS: readonly (keyof SegmentationModelConfig)[] = keysOf<keyof SegmentationModelConfig>(MODEL_SCHEMA);

const DEFAULTS: SegmentationModelConfig = defaultsOf<SegmentationModelConfig>(MODEL_SCHEMA);

const BUILD = 'buildSegmentationModel';

/** Validates a complete config (e.g. parsed from JSON); unknown keys are errors. */
export function validateModelConfig(config: unknown, fn = BUILD): SegmentationModelConfig {
  checkObject(fn, 'config', config);
  checkKnownKeys(fn, 'config key', config, MODEL_SCHEMA);
  validateAgainstSchema(fn, MODEL_SCHEMA, config);
  checkComplete(fn, MODEL_SCHEMA, config);
  const c = config as unknown as SegmentationModelConfig;
  checkOneOf(fn, 'outputStride', c.outputStride, BACKBONES.get(c.backbone, fn).outputStrides);
  const [height, width] = c.inputSize;
  if (height % c.outputStride !== 0 || width % c.outputStride !== 0) {
    throw new Error(`${fn}: 'inputSize' must be [H, W] of positive integers divisible by outputStride ${c.outputStride}, received ${JSON.stringify(c.inputSize)}`);
  }
  return { ...c, inputSize: [height, width], hem: { ...c.hem } };
}

/** The default config (compact backbone, hem head, 64×64 scenes, 11 classes) with `overrides` applied; `hem` merges key by key. */
export function defaultModelConfig(overrides: Partial<SegmentationModelConfig> = {}): SegmentationModelConfig {
  checkObject('defaultModelConfig', 'overrides', overrides);
  checkKnownKeys('defaultModelConfig', 'config key', overrides, MODEL_SCHEMA);
  const merged = { ...DEFAULTS, ...overrides, hem: { ...DEFAULTS.hem, ...(overrides.hem ?? {}) } };
  return validateModelConfig(merged, 'defaultModelConfig');
}

export interface SegmentationModel {
  /** Input `[B, H, W, C_in]`; outputs logits `[B, H, W, numClasses]` (then aux logits when `auxiliaryHead`). */
  model: tf.LayersModel;
  /** The backbone alone (shares layers with `model`; dispose `model`, not this). */
  backbone: tf.LayersModel;
  outputStride: number;
  /** The attention layer of 'hem'/'ema' heads, null for 'fcn'. */
  hemHead: HemHead | null;
  /** The complete config the model was built from. */
  config: SegmentationModelConfig;
}

/**
 * Builds a segmentation model from a config; missing keys take the defaults
 * of `defaultModelConfig`, unknown keys and bad values are errors.
 */
export function buildSegmentationModel(config: Partial<SegmentationModelConfig> = {}): SegmentationModel {
  checkObject(BUILD, 'config', config);
  checkKnownKeys(BUILD, 'config key', config, MODEL_SCHEMA);
  const merged = { ...DEFAULTS, ...config, hem: { ...DEFAULTS.hem, ...(config.hem ?? {}) } };
  const c = validateModelConfig(merged, BUILD);
  const [height, width] = c.inputSize;
  const input = tf.input({ name: 'image', shape: [height, width, c.inputChannels] });
  const seed = c.seed;
  const backbone: BackboneOutput = BACKBONES.get(c.backbone, BUILD).build(input, { outputStride: c.outputStride, width: c.width, blocksPerStage: c.blocksPerStage, seed });
  const head = HEADS.get(c.head, BUILD).build(backbone.features, {
    numClasses: c.numClasses,
    channels: c.channels,
    midChannels: c.midChannels,
    upsample: backbone.outputStride,
    dropout: c.dropout,
    hem: c.hem,
    seed,
  });
  const outputs = [head.logits];
  if (c.auxiliaryHead) {
    outputs.push(fcnAuxHead(backbone.stage3, { numClasses: c.numClasses, midChannels: c.midChannels, upsample: backbone.outputStride, dropout: c.dropout, seed }));
  }
  const model = tf.model({ name: `hemnet_${c.backbone}_${c.head}`, inputs: input, outputs: outputs.length === 1 ? head.logits : outputs });
  const backboneModel = tf.model({ name: `hemnet_${c.backbone}_backbone`, inputs: input, outputs: backbone.features });
  return { model, backbone: backboneModel, outputStride: backbone.outputStride, hemHead: head.hemHead, config: c };
}

export type ParameterSelection = 'all' | 'trainable' | 'nonTrainable';

/** Number of scalar weights of a model (`'all'`, `'trainable'` or `'nonTrainable'`, e.g. BN statistics and μ⁽⁰⁾). */
export function countParameters(model: tf.LayersModel, which: ParameterSelection = 'all'): number {
  checkOneOf('countParameters', 'which', which, ['all', 'trainable', 'nonTrainable'] as const);
  const weights = which === 'all' ? model.weights : which === 'trainable' ? model.trainableWeights : model.nonTrainableWeights;
  return weights.reduce((sum, weight) => sum + weight.shape.reduce((product: number, dim) => product * (dim ?? 0), 1), 0);
}

function describeShape(layer: tf.layers.Layer): string {
  try {
    const shape = layer.outputShape;
    const format = (s: tf.Shape): string => `[${s.map((d) => (d === null ? 'B' : String(d))).join(', ')}]`;
    return Array.isArray(shape[0]) ? (shape as tf.Shape[]).map(format).join(' ') : format(shape as tf.Shape);
  } catch {
    return '(multiple)';
  }
}

/** A text table of the layers (name, class, output shape, parameters) and the totals. */
export function summarizeModel(model: tf.LayersModel): string {
  const rows = model.layers.map((layer) => [
    layer.name,
    shortClassName(layer.getClassName()),
    describeShape(layer),
    String(layer.weights.reduce((sum, w) => sum + w.shape.reduce((p: number, d) => p * (d ?? 0), 1), 0)),
  ]);
  const header = ['layer', 'class', 'output shape', 'params'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1));
  const total = countParameters(model);
  const trainable = countParameters(model, 'trainable');
  return [
    `model ${model.name}`,
    rule,
    line(header),
    rule,
    ...rows.map(line),
    rule,
    `total params: ${total} (trainable ${trainable}, non-trainable ${total - trainable})`,
  ].join('\n');
}
