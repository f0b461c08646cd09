/**
 * Name maps from PyTorch state_dict names onto hemnet layer names
 * (docs/interop.md):
 *
 * - torchvision ResNet-50/101: `conv1`/`bn1` → `backbone/stem/{conv,bn}`,
 *   `layerS.B.convN`/`bnN` → `backbone/stageS/block(B+1)/convN/{conv,bn}`,
 *   `layerS.0.downsample.0/1` → `backbone/stageS/block1/shortcut/{conv,bn}`;
 *   `fc.*` (the ImageNet classifier) is ignored.
 * - official EMANet (XiaLiPKU/EMANet): `fc0` → `head/conv_in`, `emau` (`mu`
 *   [1, C, K], `conv1` 1×1 with bias, `conv2.0` 1×1, `conv2.1` BN) →
 *   `head/ema` (HemHead, preset 'ema'), `fc1.0` → `head/conv_mid`, `fc2`
 *   → `head/classifier`.
 * - mmsegmentation's EMAHead (`decode_head.` prefix): `ema_in_conv` →
 *   `head/conv_in`, `ema_module.bases` + `ema_mid_conv` + `ema_out_conv` →
 *   `head/ema`, `bottleneck` → `head/conv_mid`, `conv_seg` →
 *   `head/classifier`; optionally the FCN auxiliary head
 *   (`auxiliary_head.convs.0`, `auxiliary_head.conv_seg`) → `aux/…`.
 *
 * A map is data: rules on modules, tensors to ignore (with the reason), and
 * the hemnet layer prefixes it is meant to fill completely.
 */
import { BACKBONE_PREFIX, RESNET_BLOCKS, type ResNetDepth } from '../models/backbones.js';

/** A torch conv (`P.weight` OIHW, `P.bias` when `bias`) → a tfjs Conv2D layer (`kernel` HWIO, `bias`). */
export interface ConvRule {
  kind: 'conv';
  torch: string;
  layer: string;
  bias: boolean;
}

/** A torch BatchNorm2d (`weight`, `bias`, `running_mean`, `running_var`) → a tfjs BatchNormalization layer. */
export interface BatchNormRule {
  kind: 'bn';
  torch: string;
  layer: string;
}

/**
 * An EMA unit → a HemHead layer: bases [1, C, K] → `bases` [K, C]; the 1×1
 * conv in (with bias) → `in_kernel` [C_in, C] + `in_bias`; the 1×1 conv out
 * (no bias) → `out_kernel` [C, C_in]; its BN → `bn_gamma`, `bn_beta`,
 * `moving_mean`, `moving_variance`.
 */
export interface HemRule {
  kind: 'hem';
  layer: string;
  /** Full tensor name of the bases buffer. */
  bases: string;
  /** Module names (without `.weight`). */
  inConv: string;
  outConv: string;
  bn: string;
}

export type TorchRule = ConvRule | BatchNormRule | HemRule;

export interface IgnoreRule {
  /** Tensors whose name matches are not loaded (and reported as ignored). */
  pattern: RegExp;
  reason: string;
}

export interface TorchMapping {
  /** e.g. 'torchvision-resnet50'. */
  name: string;
  rules: TorchRule[];
  ignore: IgnoreRule[];
  /** hemnet layer prefixes the map fills: a weight under them that nothing loads is reported. */
  targetPrefixes: string[];
}

/** The torch sources `hemnet import --from` knows. */
export const TORCH_SOURCES = ['torchvision-resnet50', 'torchvision-resnet101', 'emanet', 'mmseg-emahead'] as const;
export type TorchSource = (typeof TORCH_SOURCES)[number];

const NUM_BATCHES: IgnoreRule = { pattern: /(^|\.)num_batches_tracked$/, reason: 'BatchNorm step counter (not a weight)' };

export interface TorchvisionResNetMappingOptions {
  /** 50 or 101. Default 50. */
  depth?: ResNetDepth;
  /** Prefix of the torch names, e.g. 'backbone.' inside a larger model. Default ''. */
  torchPrefix?: string;
}

/** torchvision `resnet50`/`resnet101` state_dict → hemnet's `backbone/…` layers. */
export function torchvisionResNetMapping(options: TorchvisionResNetMappingOptions = {}): TorchMapping {
  const depth = options.depth ?? 50;
  const blocks = RESNET_BLOCKS[depth];
  if (blocks === undefined) throw new Error(`torchvisionResNetMapping: 'depth' must be one of 50, 101, received ${JSON.stringify(depth)}`);
  const t = options.torchPrefix ?? '';
  const p = BACKBONE_PREFIX;
  const rules: TorchRule[] = [
    { kind: 'conv', torch: `${t}conv1`, layer: `${p}/stem/conv`, bias: false },
    { kind: 'bn', torch: `${t}bn1`, layer: `${p}/stem/bn` },
  ];
  blocks.forEach((count, stage) => {
    for (let block = 0; block < count; block++) {
      const torch = `${t}layer${stage + 1}.${block}`;
      const layer = `${p}/stage${stage + 1}/block${block + 1}`;
      for (const n of [1, 2, 3]) {
        rules.push({ kind: 'conv', torch: `${torch}.conv${n}`, layer: `${layer}/conv${n}/conv`, bias: false });
        rules.push({ kind: 'bn', torch: `${torch}.bn${n}`, layer: `${layer}/conv${n}/bn` });
      }
      // Every stage's first bottleneck changes the channels (×4 expansion), so it has a projection shortcut.
      if (block === 0) {
        rules.push({ kind: 'conv', torch: `${torch}.downsample.0`, layer: `${layer}/shortcut/conv`, bias: false });
        rules.push({ kind: 'bn', torch: `${torch}.downsample.1`, layer: `${layer}/shortcut/bn` });
      }
    }
  });
  const escaped = t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return {
    name: `torchvision-resnet${depth}`,
    rules,
    ignore: [NUM_BATCHES, { pattern: new RegExp(`^${escaped}fc\\.(weight|bias)$`), reason: 'ImageNet classifier (segmentation heads replace it)' }],
    targetPrefixes: [p],
  };
}

export interface EmanetMappingOptions {
  /** Prefix of the torch names (e.g. 'module.' from DataParallel). Default ''. */
  torchPrefix?: string;
  /** Prefix of hemnet's head layers. Default 'head'. */
  headPrefix?: string;
  /** Map the EMAU only (fc0/fc1/fc2 are then neither expected nor filled). Default false. */
  emauOnly?: boolean;
  /** Prefix of the EMAU's own names (`mu`, `conv1`, `conv2.0/1`); '' for a bare EMAU state_dict. Default `${torchPrefix}emau.`. */
  emauPrefix?: string;
}

/** The official EMANet's head (`fc0`, `emau`, `fc1.0`, `fc2`) → hemnet's `ema` head. */
export function emanetMapping(options: EmanetMappingOptions = {}): TorchMapping {
  const t = options.torchPrefix ?? '';
  const h = options.headPrefix ?? 'head';
  const e = options.emauPrefix ?? `${t}emau.`;
  const hem: HemRule = { kind: 'hem', layer: `${h}/ema`, bases: `${e}mu`, inConv: `${e}conv1`, outConv: `${e}conv2.0`, bn: `${e}conv2.1` };
  const rules: TorchRule[] = options.emauOnly
    ? [hem]
    : [
        { kind: 'conv', torch: `${t}fc0.conv`, layer: `${h}/conv_in/conv`, bias: false },
        { kind: 'bn', torch: `${t}fc0.bn`, layer: `${h}/conv_in/bn` },
        hem,
        { kind: 'conv', torch: `${t}fc1.0.conv`, layer: `${h}/conv_mid/conv`, bias: false },
        { kind: 'bn', torch: `${t}fc1.0.bn`, layer: `${h}/conv_mid/bn` },
        { kind: 'conv', torch: `${t}fc2`, layer: `${h}/classifier`, bias: true },
      ];
  return {
    name: options.emauOnly ? 'emanet-emau' : 'emanet',
    rules,
    ignore: [
      NUM_BATCHES,
      {
        pattern: /(^|\.)extractor\./,
        reason: "EMANet's backbone is a deep-stem ResNet (conv1.0–6, 128-channel stem) that hemnet's backbones do not have",
      },
    ],
    targetPrefixes: options.emauOnly ? [`${h}/ema`] : [h],
  };
}

export interface MmsegEmaHeadMappingOptions {
  /** Prefix of the decode head's names. Default 'decode_head.'. */
  torchPrefix?: string;
  /** Prefix of hemnet's head layers. Default 'head'. */
  headPrefix?: string;
  /** Also map mmseg's FCN auxiliary head (`auxiliary_head.convs.0`, `.conv_seg`) onto `aux/…`. Default false. */
  auxiliaryHead?: boolean;
  /** Prefix of the auxiliary head's names. Default 'auxiliary_head.'. */
  auxiliaryPrefix?: string;
}

/** mmsegmentation's `EMAHead` (and optionally its FCN auxiliary head) → hemnet's `ema` head. */
export function mmsegEmaHeadMapping(options: MmsegEmaHeadMappingOptions = {}): TorchMapping {
  const t = options.torchPrefix ?? 'decode_head.';
  const h = options.headPrefix ?? 'head';
  const rules: TorchRule[] = [
    { kind: 'conv', torch: `${t}ema_in_conv.conv`, layer: `${h}/conv_in/conv`, bias: false },
    { kind: 'bn', torch: `${t}ema_in_conv.bn`, layer: `${h}/conv_in/bn` },
    { kind: 'hem', layer: `${h}/ema`, bases: `${t}ema_module.bases`, inConv: `${t}ema_mid_conv.conv`, outConv: `${t}ema_out_conv.conv`, bn: `${t}ema_out_conv.bn` },
    { kind: 'conv', torch: `${t}bottleneck.conv`, layer: `${h}/conv_mid/conv`, bias: false },
    { kind: 'bn', torch: `${t}bottleneck.bn`, layer: `${h}/conv_mid/bn` },
    { kind: 'conv', torch: `${t}conv_seg`, layer: `${h}/classifier`, bias: true },
  ];
  const targetPrefixes = [h];
  if (options.auxiliaryHead) {
    const a = options.auxiliaryPrefix ?? 'auxiliary_head.';
    rules.push(
      { kind: 'conv', torch: `${a}convs.0.conv`, layer: 'aux/conv_mid/conv', bias: false },
      { kind: 'bn', torch: `${a}convs.0.bn`, layer: 'aux/conv_mid/bn' },
      { kind: 'conv', torch: `${a}conv_seg`, layer: 'aux/classifier', bias: true },
    );
    targetPrefixes.push('aux');
  }
  return {
    name: 'mmseg-emahead',
    rules,
    ignore: [
      NUM_BATCHES,
      { pattern: /^backbone\./, reason: "mmseg's ResNetV1c backbone has a deep stem (stem.0–8) that hemnet's backbones do not have" },
      ...(options.auxiliaryHead ? [] : [{ pattern: /^auxiliary_head\./, reason: 'auxiliary head not requested (auxiliaryHead: false)' }]),
    ],
    targetPrefixes,
  };
}

/** The map `hemnet import --from <source>` uses. */
export function torchMappingFor(source: TorchSource, options: { auxiliaryHead?: boolean } = {}): TorchMapping {
  switch (source) {
    case 'torchvision-resnet50':
      return torchvisionResNetMapping({ depth: 50 });
    case 'torchvision-resnet101':
      return torchvisionResNetMapping({ depth: 101 });
    case 'emanet':
      return emanetMapping();
    case 'mmseg-emahead':
      return mmsegEmaHeadMapping({ auxiliaryHead: options.auxiliaryHead ?? false });
    default:
      throw new Error(`torchMappingFor: 'source' must be one of ${TORCH_SOURCES.map((s) => `'${s}'`).join(', ')}, received ${JSON.stringify(source)}`);
  }
}
