/**
 * Builds the hemnet model a PyTorch checkpoint loads into, sized from the
 * checkpoint's own tensor shapes, and loads it (`hemnet import`).
 *
 * - torchvision-resnet50/101: a backbone-only model (`backbone/…` layers,
 *   torchvision's dilation rates so that it reproduces torchvision's outputs);
 *   width from `conv1.weight`.
 * - emanet / mmseg-emahead: a zoo segmentation model (resnet50 backbone of
 *   width C_in/32, head 'ema' with C, K, mid channels and classes from the
 *   head's tensors); only the head is loaded (their backbones have a deep stem
 *   that hemnet's do not).
 */
import * as tf from '@tensorflow/tfjs';
import { resnetBackbone, type ResNetDepth } from '../models/backbones.js';
import { buildSegmentationModel, type SegmentationModelConfig } from '../models/zoo.js';
import { importTorchWeights, type ImportTorchOptions, type TorchImportReport } from './importTorch.js';
import type { SafetensorsFile, TorchTensor } from './safetensors.js';
import { torchMappingFor, TORCH_SOURCES, type TorchSource } from './torchMaps.js';

export interface TorchvisionResNetModelOptions {
  depth?: ResNetDepth;
  /** Base width (64 = the real ResNet). Default 64. */
  width?: number;
  /** OS 8 (replace_stride_with_dilation [F, T, T]) or 16 ([F, F, T]). Default 8. */
  outputStride?: number;
  /** [H, W]. Default [224, 224]. */
  inputSize?: [number, number];
  inputChannels?: number;
}

/**
 * A backbone-only model with torchvision's structure: input `[B, H, W, C_in]`
 * → outputs [features `[B, H/OS, W/OS, 32·width]`, stage-3 features
 * `[B, H/OS, W/OS, 16·width]`] (torchvision's `layer4` and `layer3`).
 */
export function buildTorchvisionResNet(options: TorchvisionResNetModelOptions = {}): tf.LayersModel {
  const depth = options.depth ?? 50;
  const width = options.width ?? 64;
  const [height, w] = options.inputSize ?? [224, 224];
  const input = tf.input({ name: 'image', shape: [height, w, options.inputChannels ?? 3] });
  const out = resnetBackbone(input, { depth, widthMultiplier: width / 64, outputStride: options.outputStride ?? 8, dilationStyle: 'torchvision', seed: 0 }, 'buildTorchvisionResNet');
  return tf.model({ name: `hemnet_resnet${depth}_torchvision`, inputs: input, outputs: [out.features, out.stage3] });
}

export interface ImportTorchCheckpointOptions extends ImportTorchOptions {
  /** OS of the model built. Default 8. */
  outputStride?: number;
  /** [H, W] of the model built. Default [224, 224]. */
  inputSize?: [number, number];
  /** EM iterations T of the ema head (EMANet's stage_num, mmseg's num_stages). Default 3. */
  emIterations?: number;
  /** mmseg-emahead: also load the FCN auxiliary head. Default false. */
  auxiliaryHead?: boolean;
  /** Names the file in error messages. */
  sourceName?: string;
}

export interface ImportedTorchModel {
  model: tf.LayersModel;
  report: TorchImportReport;
  /** What was built: the zoo config (emanet, mmseg-emahead) or the backbone options (torchvision). */
  built: { kind: 'backbone'; options: Required<Omit<TorchvisionResNetModelOptions, 'inputChannels'>> } | { kind: 'segmentation'; config: SegmentationModelConfig };
}

const FN = 'importTorchCheckpoint';

function stripped(file: SafetensorsFile, prefix: string | undefined): Map<string, TorchTensor> {
  const names = [...file.tensors.keys()];
  const strip = prefix ?? (names.length > 0 && names.every((n) => n.startsWith('module.')) ? 'module.' : '');
  return new Map([...file.tensors].map(([name, t]) => [strip !== '' && name.startsWith(strip) ? name.slice(strip.length) : name, t]));
}

function need(tensors: Map<string, TorchTensor>, name: string, rank: number, source: string, what: string): number[] {
  const tensor = tensors.get(name);
  if (tensor === undefined) throw new Error(`${FN}: '${source}' has no tensor '${name}' — not ${what}?`);
  if (tensor.shape.length !== rank) throw new Error(`${FN}: '${source}' tensor '${name}' must have rank ${rank}, received [${tensor.shape.join(', ')}]`);
  return tensor.shape;
}

/** Builds the hemnet model for `source`, sized from the tensors, and loads them (`importTorchWeights`). */
export function importTorchCheckpoint(file: SafetensorsFile, source: TorchSource, options: ImportTorchCheckpointOptions = {}): ImportedTorchModel {
  if (!(TORCH_SOURCES as readonly string[]).includes(source)) {
    throw new Error(`${FN}: 'source' must be one of ${TORCH_SOURCES.map((s) => `'${s}'`).join(', ')}, received ${JSON.stringify(source)}`);
  }
  const name = options.sourceName ?? '<buffer>';
  const tensors = stripped(file, options.stripPrefix);
  const outputStride = options.outputStride ?? 8;
  const inputSize = options.inputSize ?? [224, 224];
  const mapping = torchMappingFor(source, { auxiliaryHead: options.auxiliaryHead ?? false });
  const importOptions: ImportTorchOptions = { stripPrefix: '', ...(options.strict !== undefined ? { strict: options.strict } : {}), ...(options.torchEpsilon !== undefined ? { torchEpsilon: options.torchEpsilon } : {}) };
  if (source === 'torchvision-resnet50' || source === 'torchvision-resnet101') {
    const [width, inputChannels] = need(tensors, 'conv1.weight', 4, name, 'a torchvision ResNet state_dict') as [number, number];
    const depth: ResNetDepth = source === 'torchvision-resnet50' ? 50 : 101;
    const model = buildTorchvisionResNet({ depth, width, outputStride, inputSize, inputChannels });
    try {
      const report = importTorchWeights(model, tensors, mapping, importOptions);
      return { model, report, built: { kind: 'backbone', options: { depth, width, outputStride, inputSize } } };
    } catch (error) {
      model.dispose();
      throw error;
    }
  }
  const names =
    source === 'emanet'
      ? { conv: 'fc0.conv.weight', bases: 'emau.mu', mid: 'fc1.0.conv.weight', classifier: 'fc2.weight', what: 'an EMANet state_dict (fc0, emau, fc1, fc2)' }
      : {
          conv: 'decode_head.ema_in_conv.conv.weight',
          bases: 'decode_head.ema_module.bases',
          mid: 'decode_head.bottleneck.conv.weight',
          classifier: 'decode_head.conv_seg.weight',
          what: 'an mmseg EMAHead state_dict (decode_head.ema_*)',
        };
  const [channels, inChannels] = need(tensors, names.conv, 4, name, names.what) as [number, number];
  const [, , numBases] = need(tensors, names.bases, 3, name, names.what) as [number, number, number];
  const [midChannels] = need(tensors, names.mid, 4, name, names.what) as [number];
  const [numClasses] = need(tensors, names.classifier, 4, name, names.what) as [number];
  if (inChannels % 32 !== 0) {
    throw new Error(`${FN}: '${source}' head input has ${inChannels} channels; hemnet's resnet50 backbone gives 32·width, so it must be a multiple of 32`);
  }
  const built = buildSegmentationModel({
    backbone: 'resnet50',
    width: inChannels / 32,
    head: 'ema',
    channels,
    midChannels,
    numClasses,
    outputStride,
    inputSize,
    auxiliaryHead: options.auxiliaryHead ?? false,
    hem: { numBases, trainIterations: options.emIterations ?? 3 },
    seed: 0,
  });
  try {
    const report = importTorchWeights(built.model, tensors, mapping, importOptions);
    return { model: built.model, report, built: { kind: 'segmentation', config: built.config } };
  } catch (error) {
    built.model.dispose();
    throw error;
  }
}
