/**
 * Dilated ResNet backbones for segmentation (DeepLab style): the network
 * strides until the feature map is at H/OS (OS = output stride) and dilates
 * its 3×3 convolutions afterwards, so deeper stages keep the resolution and
 * still grow their receptive field.
 *
 * - `compact`: basic residual blocks (two 3×3 convs), 4 stages of widths
 *   w·[1, 2, 4, 8]; small enough to train in minutes on 2 CPU cores at 64×64.
 * - `resnet50` / `resnet101`: ResNet-50/101 (bottleneck blocks [3, 4, 6, 3] /
 *   [3, 4, 23, 3], widths 64..2048 scaled by `widthMultiplier`), the
 *   structure of torchvision's ResNet (v1.5: stride on the 3×3 conv,
 *   expansion 4, PyTorch's symmetric padding on every strided conv and on the
 *   max pool), with multi-grid dilation (1, 2, 4) in the last stage
 *   (DeepLabv3) or, with `dilationStyle: 'torchvision'`, torchvision's
 *   `replace_stride_with_dilation` rates (docs/interop.md).
 *
 * Every layer is named `backbone/...` (stem, stageS/blockB/conv1, ...) so
 * weights transfer by name (`loadBackboneWeights`).
 */
import * as tf from '@tensorflow/tfjs';
import { Registry, type Named } from '../registry.js';
import { checkOneOf } from '../schema.js';
import { channelsOf, checkPositiveInteger, convBnRelu, SeedSequence } from './builders.js';

/** What the model config gives a backbone (each backbone reads `width` its own way). */
export interface BackboneBuildOptions {
  outputStride: number;
  /** Base width: compact stages w·[1, 2, 4, 8]; resnet50 scales 64..2048 by w/64. */
  width: number;
  /** Residual blocks per stage (compact; others may ignore it). */
  blocksPerStage: number;
  seed: number | null;
}

/** A registered backbone: image `[B, H, W, C_in]` → features at 1/OS (and stage-3 features for the auxiliary head). */
export interface BackboneSpec extends Named {
  /** Output strides it supports (the model config's `outputStride` must be one). */
  outputStrides: readonly number[];
  build(input: tf.SymbolicTensor, options: BackboneBuildOptions): BackboneOutput;
}

const COMPACT_OUTPUT_STRIDES = [4, 8] as const;
const RESNET50_OUTPUT_STRIDES = [8, 16] as const;

/** Bottleneck blocks per stage of the ResNet depths (He et al. 2016, Table 1). */
export const RESNET_BLOCKS = { 50: [3, 4, 6, 3], 101: [3, 4, 23, 3] } as const;
export type ResNetDepth = keyof typeof RESNET_BLOCKS;

/** Name prefix of every backbone layer. */
export const BACKBONE_PREFIX = 'backbone';

export interface BackboneOutput {
  /** Last-stage features `[B, H/OS, W/OS, C_out]`. */
  features: tf.SymbolicTensor;
  /** Stage-3 features `[B, H/OS, W/OS, C_3]` (input of the auxiliary head). */
  stage3: tf.SymbolicTensor;
  /** OS: input size / feature size. */
  outputStride: number;
}

export interface CompactBackboneOptions {
  /** OS, 4 or 8. Default 8. */
  outputStride?: number;
  /** Base channels w; the stages have w·[1, 2, 4, 8]. Default 16. */
  width?: number;
  /** Residual blocks per stage: one number for all 4 stages, or 4 numbers. Default 1. */
  blocksPerStage?: number | readonly number[];
  /** Seed of the weight initialisers (null = unseeded). */
  seed?: number | null;
}

export interface ResNet50BackboneOptions {
  /** OS, 8 or 16. Default 8. */
  outputStride?: number;
  /** Scales the widths 64..2048 (1 = ResNet-50). Default 1. */
  widthMultiplier?: number;
  /** Multi-grid dilation factors of the last stage's blocks ('multiGrid' style only). Default [1, 2, 4]. */
  multiGrid?: readonly number[];
  /**
   * How the stages past OS dilate. 'multiGrid' (default, DeepLabv3): every
   * block of a dilated stage uses the stage's rate d, the last stage's
   * block b uses d·multiGrid[b]. 'torchvision' (`replace_stride_with_dilation`):
   * the first block of a dilated stage keeps the previous stage's rate, the
   * others use d; no multi-grid. The weights are the same either way.
   */
  dilationStyle?: 'multiGrid' | 'torchvision';
  seed?: number | null;
}

export interface ResNetBackboneOptions extends ResNet50BackboneOptions {
  /** 50 ([3, 4, 6, 3] blocks) or 101 ([3, 4, 23, 3]). Default 50. */
  depth?: ResNetDepth;
}

function blockCounts(fn: string, value: number | readonly number[]): number[] {
  const counts = typeof value === 'number' ? [value, value, value, value] : [...value];
  if (counts.length !== 4) throw new Error(`${fn}: 'blocksPerStage' must be a number or 4 numbers, received ${JSON.stringify(value)}`);
  counts.forEach((count) => checkPositiveInteger(fn, 'blocksPerStage', count));
  return counts;
}

/** Tracks the running stride and turns further striding into dilation once OS is reached. */
class StrideSchedule {
  stride: number;
  dilation = 1;
  constructor(initialStride: number, private readonly outputStride: number) {
    this.stride = initialStride;
  }
  /** For a stage that would halve the resolution: its stride and dilation. */
  downsample(): { stride: number; dilation: number } {
    if (this.stride < this.outputStride) {
      this.stride *= 2;
      return { stride: 2, dilation: this.dilation };
    }
    this.dilation *= 2;
    return { stride: 1, dilation: this.dilation };
  }
}

/** Basic block: 3×3 conv (stride s, dilation d) → BN → ReLU → 3×3 conv → BN, + shortcut, ReLU. */
function basicBlock(
  input: tf.SymbolicTensor,
  name: string,
  filters: number,
  stride: number,
  dilation: number,
  seeds: SeedSequence,
): tf.SymbolicTensor {
  const inChannels = channelsOf(name, input);
  let x = convBnRelu(input, `${name}/conv1`, { filters, kernelSize: 3, strides: stride, dilation }, seeds);
  x = convBnRelu(x, `${name}/conv2`, { filters, kernelSize: 3, dilation, relu: false }, seeds);
  const shortcut =
    stride === 1 && inChannels === filters
      ? input
      : convBnRelu(input, `${name}/shortcut`, { filters, kernelSize: 1, strides: stride, relu: false }, seeds);
  const sum = tf.layers.add({ name: `${name}/add` }).apply([x, shortcut]) as tf.SymbolicTensor;
  return tf.layers.reLU({ name: `${name}/relu` }).apply(sum) as tf.SymbolicTensor;
}

/** Bottleneck block (v1.5): 1×1 → 3×3 (stride s, dilation d) → 1×1 (×4), + shortcut, ReLU. */
function bottleneckBlock(
  input: tf.SymbolicTensor,
  name: string,
  midChannels: number,
  stride: number,
  dilation: number,
  seeds: SeedSequence,
): tf.SymbolicTensor {
  const inChannels = channelsOf(name, input);
  const outChannels = 4 * midChannels;
  let x = convBnRelu(input, `${name}/conv1`, { filters: midChannels, kernelSize: 1 }, seeds);
  x = convBnRelu(x, `${name}/conv2`, { filters: midChannels, kernelSize: 3, strides: stride, dilation, padding: 'symmetric' }, seeds);
  x = convBnRelu(x, `${name}/conv3`, { filters: outChannels, kernelSize: 1, relu: false }, seeds);
  const shortcut =
    stride === 1 && inChannels === outChannels
      ? input
      : convBnRelu(input, `${name}/shortcut`, { filters: outChannels, kernelSize: 1, strides: stride, relu: false, padding: 'symmetric' }, seeds);
  const sum = tf.layers.add({ name: `${name}/add` }).apply([x, shortcut]) as tf.SymbolicTensor;
  return tf.layers.reLU({ name: `${name}/relu` }).apply(sum) as tf.SymbolicTensor;
}

/**
 * The compact dilated ResNet. Input `[B, H, W, C_in]` → features
 * `[B, H/OS, W/OS, 8w]`; stem: 3×3 conv stride 2 (BN, ReLU); stages 1–4 of
 * basic blocks with w·[1, 2, 4, 8] channels; stages 2–4 stride 2 until OS,
 * dilation ×2 afterwards.
 */
export function compactBackbone(input: tf.SymbolicTensor, options: CompactBackboneOptions = {}): BackboneOutput {
  const fn = 'compactBackbone';
  const outputStride = options.outputStride ?? 8;
  checkOneOf(fn, 'outputStride', outputStride, COMPACT_OUTPUT_STRIDES);
  const width = options.width ?? 16;
  checkPositiveInteger(fn, 'width', width);
  const blocks = blockCounts(fn, options.blocksPerStage ?? 1);
  channelsOf(fn, input);
  const seeds = new SeedSequence(options.seed ?? null, BACKBONE_PREFIX);
  const p = BACKBONE_PREFIX;

  let x = convBnRelu(input, `${p}/stem`, { filters: width, kernelSize: 3, strides: 2 }, seeds);
  const schedule = new StrideSchedule(2, outputStride);
  let stage3: tf.SymbolicTensor | null = null;
  for (let stage = 0; stage < 4; stage++) {
    const { stride, dilation } = stage === 0 ? { stride: 1, dilation: 1 } : schedule.downsample();
    const filters = width * 2 ** stage;
    for (let block = 0; block < (blocks[stage] as number); block++) {
      const name = `${p}/stage${stage + 1}/block${block + 1}`;
      x = basicBlock(x, name, filters, block === 0 ? stride : 1, dilation, seeds);
    }
    if (stage === 2) stage3 = x;
  }
  return { features: x, stage3: stage3 as tf.SymbolicTensor, outputStride };
}

/**
 * A dilated ResNet-50/101 backbone. Input `[B, H, W, C_in]` → features
 * `[B, H/OS, W/OS, 2048·m]`; stem: 7×7 conv stride 2 (BN, ReLU), 3×3 max
 * pool stride 2 (both padded symmetrically, as PyTorch does); stages of
 * [3, 4, 6, 3] or [3, 4, 23, 3] bottlenecks with inner widths
 * 64·m·[1, 2, 4, 8]; dilation past OS as `dilationStyle` says.
 */
export function resnetBackbone(input: tf.SymbolicTensor, options: ResNetBackboneOptions = {}, fn = 'resnetBackbone'): BackboneOutput {
  const depth = options.depth ?? 50;
  checkOneOf(fn, 'depth', depth, [50, 101]);
  const outputStride = options.outputStride ?? 8;
  checkOneOf(fn, 'outputStride', outputStride, RESNET50_OUTPUT_STRIDES);
  const multiplier = options.widthMultiplier ?? 1;
  if (typeof multiplier !== 'number' || !(multiplier > 0) || !Number.isFinite(multiplier)) {
    throw new Error(`${fn}: 'widthMultiplier' must be a positive number, received ${JSON.stringify(multiplier)}`);
  }
  const style = options.dilationStyle ?? 'multiGrid';
  checkOneOf(fn, 'dilationStyle', style, ['multiGrid', 'torchvision']);
  if (style === 'torchvision' && options.multiGrid !== undefined) {
    throw new Error(`${fn}: 'multiGrid' applies to dilationStyle 'multiGrid' only, received ${JSON.stringify(options.multiGrid)} with 'torchvision'`);
  }
  const multiGrid = options.multiGrid ?? [1, 2, 4];
  if (multiGrid.length !== 3) throw new Error(`${fn}: 'multiGrid' must have 3 factors (one per last-stage block), received ${JSON.stringify(multiGrid)}`);
  multiGrid.forEach((factor) => checkPositiveInteger(fn, 'multiGrid', factor));
  channelsOf(fn, input);
  const seeds = new SeedSequence(options.seed ?? null, BACKBONE_PREFIX);
  const p = BACKBONE_PREFIX;
  const scaled = (channels: number): number => Math.max(1, Math.round(channels * multiplier));

  let x = convBnRelu(input, `${p}/stem`, { filters: scaled(64), kernelSize: 7, strides: 2, padding: 'symmetric' }, seeds);
  // PyTorch pads the pool with −∞; after the ReLU every value is ≥ 0, so zeros give the same maxima.
  x = tf.layers.zeroPadding2d({ name: `${p}/stem/pool_pad`, padding: [[1, 1], [1, 1]] }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ name: `${p}/stem/pool`, poolSize: 3, strides: 2, padding: 'valid' }).apply(x) as tf.SymbolicTensor;
  const schedule = new StrideSchedule(4, outputStride);
  const blocks = RESNET_BLOCKS[depth];
  let stage3: tf.SymbolicTensor | null = null;
  for (let stage = 0; stage < 4; stage++) {
    const previousDilation = schedule.dilation;
    const { stride, dilation } = stage === 0 ? { stride: 1, dilation: 1 } : schedule.downsample();
    const mid = scaled(64 * 2 ** stage);
    for (let block = 0; block < (blocks[stage] as number); block++) {
      const name = `${p}/stage${stage + 1}/block${block + 1}`;
      let rate = dilation;
      if (style === 'multiGrid' && stage === 3) rate = dilation * (multiGrid[block] as number);
      if (style === 'torchvision' && block === 0) rate = previousDilation;
      x = bottleneckBlock(x, name, mid, block === 0 ? stride : 1, rate, seeds);
    }
    if (stage === 2) stage3 = x;
  }
  return { features: x, stage3: stage3 as tf.SymbolicTensor, outputStride };
}

/** `resnetBackbone` with depth 50 ([3, 4, 6, 3] bottlenecks). */
export function resnet50Backbone(input: tf.SymbolicTensor, options: ResNet50BackboneOptions = {}): BackboneOutput {
  return resnetBackbone(input, { ...options, depth: 50 }, 'resnet50Backbone');
}

/** `resnetBackbone` with depth 101 ([3, 4, 23, 3] bottlenecks). */
export function resnet101Backbone(input: tf.SymbolicTensor, options: ResNet50BackboneOptions = {}): BackboneOutput {
  return resnetBackbone(input, { ...options, depth: 101 }, 'resnet101Backbone');
}

/**
 * The backbone registry: `model.backbone` names one of these. Adding a
 * backbone is a file exporting a `BackboneSpec` and one entry here (or
 * `BACKBONES.register(spec)` from your own code); docs/design.md shows one.
 */
export const BACKBONES = new Registry<BackboneSpec>('backbone', [
  {
    name: 'compact',
    summary: 'compact dilated ResNet (basic blocks, widths w·[1, 2, 4, 8])',
    outputStrides: COMPACT_OUTPUT_STRIDES,
    build: (input, o) => compactBackbone(input, { outputStride: o.outputStride, width: o.width, blocksPerStage: o.blocksPerStage, seed: o.seed }),
  },
  {
    name: 'resnet50',
    summary: 'ResNet-50 dilated backbone (torchvision structure, bottlenecks [3, 4, 6, 3], multi-grid), widths scaled by width/64',
    outputStrides: RESNET50_OUTPUT_STRIDES,
    build: (input, o) => resnet50Backbone(input, { outputStride: o.outputStride, widthMultiplier: o.width / 64, seed: o.seed }),
  },
  {
    name: 'resnet101',
    summary: 'ResNet-101 dilated backbone (torchvision structure, bottlenecks [3, 4, 23, 3], multi-grid), widths scaled by width/64',
    outputStrides: RESNET50_OUTPUT_STRIDES,
    build: (input, o) => resnet101Backbone(input, { outputStride: o.outputStride, widthMultiplier: o.width / 64, seed: o.seed }),
  },
]);

/** Names of the built-in backbones (the registry may hold more: `BACKBONES.names()`). */
export const BACKBONE_NAMES = ['compact', 'resnet50', 'resnet101'] as const;
/** A backbone name: a built-in one or any registered later. */
export type BackboneName = (typeof BACKBONE_NAMES)[number] | (string & {});

/** Output strides of the built-in backbones (`BACKBONES.get(name).outputStrides` for any registered one). */
export const BACKBONE_OUTPUT_STRIDES: Readonly<Record<(typeof BACKBONE_NAMES)[number], readonly number[]>> = {
  compact: COMPACT_OUTPUT_STRIDES,
  resnet50: RESNET50_OUTPUT_STRIDES,
  resnet101: RESNET50_OUTPUT_STRIDES,
};
