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
import { HemHead, resolveHemHeadOptions } from '../layers/hemHead.js';
import {
  BACKBONE_NAMES,
  BACKBONE_OUTPUT_STRIDES,
  compactBackbone,
  resnetBackbone,
  type BackboneName,
  type BackboneOutput,
} from './backbones.js';
import { checkKeys, checkOneOf, checkPositiveInteger } from './builders.js';
import { fcnAuxHead, HEAD_NAMES, HEM_OPTION_KEYS, segmentationHead, type HeadName, type SegmentationHemOptions } from './heads.js';

export interface SegmentationModelConfig {
  /** 'compact' (basic blocks), 'resnet50' or 'resnet101' (bottlenecks). */
  backbone: BackboneName;
  /** 'hem' (HEMNet), 'ema' (EMANet) or 'fcn' (no attention). */
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

export const MODEL_CONFIG_KEYS: readonly (keyof SegmentationModelConfig)[] = [
  'backbone', 'head', 'numClasses', 'inputSize', 'inputChannels', 'channels', 'midChannels', 'outputStride',
  'width', 'blocksPerStage', 'auxiliaryHead', 'dropout', 'hem', 'seed',
];

const DEFAULTS: SegmentationModelConfig = {
  backbone: 'compact',
  head: 'hem',
  numClasses: 11,
  inputSize: [64, 64],
  inputChannels: 3,
  channels: 64,
  midChannels: 64,
  outputStride: 8,
  width: 16,
  blocksPerStage: 1,
  auxiliaryHead: false,
  dropout: 0.1,
  hem: { numBases: 16 },
  seed: 0,
};

const BUILD = 'buildSegmentationModel';

/** Validates a complete config (e.g. parsed from JSON); unknown keys are errors. */
export function validateModelConfig(config: unknown, fn = BUILD): SegmentationModelConfig {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new Error(`${fn}: config must be an object, received ${JSON.stringify(config)}`);
  }
  checkKeys(fn, 'config key', config, MODEL_CONFIG_KEYS);
  for (const key of MODEL_CONFIG_KEYS) {
    if (!(key in config)) throw new Error(`${fn}: config is missing '${key}'`);
  }
  const c = config as SegmentationModelConfig;
  checkOneOf(fn, 'backbone', c.backbone, BACKBONE_NAMES);
  checkOneOf(fn, 'head', c.head, HEAD_NAMES);
  checkPositiveInteger(fn, 'numClasses', c.numClasses);
  checkPositiveInteger(fn, 'inputChannels', c.inputChannels);
  checkPositiveInteger(fn, 'channels', c.channels);
  checkPositiveInteger(fn, 'midChannels', c.midChannels);
  checkPositiveInteger(fn, 'width', c.width);
  checkPositiveInteger(fn, 'blocksPerStage', c.blocksPerStage);
  checkOneOf(fn, 'outputStride', c.outputStride, BACKBONE_OUTPUT_STRIDES[c.backbone]);
  const size: unknown = c.inputSize;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0 && v % c.outputStride === 0)) {
    throw new Error(`${fn}: 'inputSize' must be [H, W] of positive integers divisible by outputStride ${c.outputStride}, received ${JSON.stringify(size)}`);
  }
  if (typeof c.auxiliaryHead !== 'boolean') throw new Error(`${fn}: 'auxiliaryHead' must be a boolean, received ${JSON.stringify(c.auxiliaryHead)}`);
  if (typeof c.dropout !== 'number' || !(c.dropout >= 0 && c.dropout < 1)) {
    throw new Error(`${fn}: 'dropout' must be in [0, 1), received ${JSON.stringify(c.dropout)}`);
  }
  if (c.seed !== null && !Number.isInteger(c.seed)) throw new Error(`${fn}: 'seed' must be an integer or null, received ${JSON.stringify(c.seed)}`);
  if (typeof c.hem !== 'object' || c.hem === null || Array.isArray(c.hem)) {
    throw new Error(`${fn}: 'hem' must be an object of HemHead options, received ${JSON.stringify(c.hem)}`);
  }
  checkKeys(fn, "'hem' option", c.hem, HEM_OPTION_KEYS);
  resolveHemHeadOptions(c.hem); // value checks, with HemHead's messages
  return { ...c, inputSize: [size[0] as number, size[1] as number], hem: { ...c.hem } };
}

/** The default config (compact backbone, hem head, 64×64 scenes, 11 classes) with `overrides` applied; `hem` merges key by key. */
export function defaultModelConfig(overrides: Partial<SegmentationModelConfig> = {}): SegmentationModelConfig {
  if (typeof overrides !== 'object' || overrides === null) {
    throw new Error(`defaultModelConfig: 'overrides' must be an object, received ${JSON.stringify(overrides)}`);
  }
  checkKeys('defaultModelConfig', 'config key', overrides, MODEL_CONFIG_KEYS);
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
  if (typeof config !== 'object' || config === null) throw new Error(`${BUILD}: config must be an object, received ${JSON.stringify(config)}`);
  checkKeys(BUILD, 'config key', config, MODEL_CONFIG_KEYS);
  const merged = { ...DEFAULTS, ...config, hem: { ...DEFAULTS.hem, ...(config.hem ?? {}) } };
  const c = validateModelConfig(merged, BUILD);
  const [height, width] = c.inputSize;
  const input = tf.input({ name: 'image', shape: [height, width, c.inputChannels] });
  const seed = c.seed;
  const backbone: BackboneOutput =
    c.backbone === 'compact'
      ? compactBackbone(input, { outputStride: c.outputStride, width: c.width, blocksPerStage: c.blocksPerStage, seed })
      : resnetBackbone(input, { depth: c.backbone === 'resnet101' ? 101 : 50, outputStride: c.outputStride, widthMultiplier: c.width / 64, seed });
  const head = segmentationHead(c.head, backbone.features, {
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
    layer.getClassName(),
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
