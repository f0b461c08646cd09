/**
 * Command-line flags of `hemnet train|eval|predict|info`: each maps to a path
 * in the run config, with the paper symbol in its help text.
 */
import type { PartialRunConfig } from '../train/runConfig.js';

type FlagType = 'number' | 'integer' | 'string' | 'boolean' | 'numbers' | 'integer-or-null';

export interface FlagSpec {
  flag: string;
  /** Dotted path in the run config. */
  path: string;
  type: FlagType;
  help: string;
}

export const CONFIG_FLAGS: readonly FlagSpec[] = [
  { flag: 'backend', path: 'backend', type: 'string', help: 'wasm | cpu | tensorflow | auto (env HEMNET_BACKEND)' },
  // model
  { flag: 'backbone', path: 'model.backbone', type: 'string', help: "compact | resnet50" },
  { flag: 'head', path: 'model.head', type: 'string', help: 'hem (HEMNet) | ema (EMANet baseline) | fcn (no attention)' },
  { flag: 'num-bases', path: 'model.hem.numBases', type: 'integer', help: 'K, Gaussian bases of the HEM head' },
  { flag: 'step-size', path: 'model.hem.stepSize', type: 'number', help: 'η of the N-step (Eq. 13), in (0, 1]; 1 = plain EM' },
  { flag: 'train-iterations', path: 'model.hem.trainIterations', type: 'integer', help: 'T_train, unrolled HEM iterations in training' },
  { flag: 'eval-iterations', path: 'model.hem.evalIterations', type: 'integer', help: 'T_eval, iterations in inference (default T_train)' },
  { flag: 'temperature', path: 'model.hem.temperature', type: 'number', help: 'σ² of the E-step (Eq. 7/8); default √C' },
  { flag: 'kernel', path: 'model.hem.kernel', type: 'string', help: "E-step kernel: dot (Eq. 8) | rbf (Eq. 7)" },
  { flag: 'normalize-bases', path: 'model.hem.normalizeBases', type: 'boolean', help: 'L2-normalise μ after each N-step (EMANet)' },
  { flag: 'detach-em', path: 'model.hem.detachEm', type: 'boolean', help: 'no gradient through the EM iterations (EMANet)' },
  { flag: 'bases-momentum', path: 'model.hem.basesMomentum', type: 'number', help: 'm of the μ⁽⁰⁾ moving average (0.9)' },
  { flag: 'channels', path: 'model.channels', type: 'integer', help: 'C, channels of the head and of x [B, N, C]' },
  { flag: 'output-stride', path: 'model.outputStride', type: 'integer', help: 'OS of the backbone: compact 4|8, resnet50 8|16' },
  { flag: 'width', path: 'model.width', type: 'integer', help: 'backbone base width' },
  { flag: 'aux-head', path: 'model.auxiliaryHead', type: 'boolean', help: 'add the auxiliary FCN head (loss weight 0.4)' },
  { flag: 'model-seed', path: 'model.seed', type: 'integer', help: 'seed of the weight initialisers' },
  // data
  { flag: 'data', path: 'data.source', type: 'string', help: 'scenes (built-in MNIST scenes) | voc' },
  { flag: 'voc-root', path: 'data.vocRoot', type: 'string', help: 'PASCAL-VOC-format folder (JPEGImages/, SegmentationClass/, ImageSets/)' },
  { flag: 'train-size', path: 'data.trainSize', type: 'integer', help: 'scenes in the training split' },
  { flag: 'val-size', path: 'data.valSize', type: 'integer', help: 'scenes in the validation split' },
  { flag: 'canvas-size', path: 'data.canvasSize', type: 'integer', help: 'scene side in pixels (and VOC crop size)' },
  { flag: 'digit-scale', path: 'data.digitScale', type: 'numbers', help: 'min,max digit scale (side = 28·scale pixels)' },
  { flag: 'clutter', path: 'data.clutterFragments', type: 'numbers', help: 'min,max digit fragments of background clutter per scene' },
  { flag: 'label-dilation', path: 'data.labelDilation', type: 'integer', help: 'grow digit labels by this many pixels (0: strokes only)' },
  { flag: 'data-seed', path: 'data.seed', type: 'integer', help: 'seed of the scenes and the augmentation' },
  // training
  { flag: 'optimizer', path: 'train.optimizer', type: 'string', help: 'sgd (momentum, the paper\'s recipe) | adam' },
  { flag: 'steps', path: 'train.steps', type: 'integer', help: 'optimisation steps' },
  { flag: 'batch-size', path: 'train.batchSize', type: 'integer', help: 'images per step' },
  { flag: 'lr', path: 'train.learningRate', type: 'number', help: 'base learning rate (poly decay, power 0.9)' },
  { flag: 'momentum', path: 'train.momentum', type: 'number', help: 'SGD momentum' },
  { flag: 'weight-decay', path: 'train.weightDecay', type: 'number', help: 'L2 weight decay on kernels' },
  { flag: 'seed', path: 'train.seed', type: 'integer', help: 'seed of the sample order' },
  { flag: 'step-size-end', path: 'train.stepSizeEnd', type: 'number', help: 'anneal η from --step-size to this value during training (GradNets schedule)' },
  { flag: 'step-size-tau', path: 'train.stepSizeTau', type: 'integer', help: 'τ, steps over which η anneals (default: half the steps)' },
  { flag: 'workers', path: 'train.workers', type: 'integer', help: 'training threads (data-parallel, gradients averaged; default: one per core)' },
  { flag: 'checkpoint-every', path: 'train.checkpointEvery', type: 'integer', help: 'steps between checkpoints (0: only at the end)' },
  // evaluation
  { flag: 'eval-scales', path: 'eval.scales', type: 'numbers', help: 'comma-separated input scales, e.g. 0.75,1,1.25 (multi-scale)' },
  { flag: 'eval-flip', path: 'eval.flip', type: 'boolean', help: 'also average the flipped input' },
  { flag: 'eval-limit', path: 'eval.limit', type: 'integer', help: 'evaluate at most this many images' },
  { flag: 'eval-batch-size', path: 'eval.batchSize', type: 'integer', help: 'images per forward pass in evaluation' },
];

/** parseArgs option definitions for the config flags. */
export function configFlagOptions(): Record<string, { type: 'string' | 'boolean' }> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const spec of CONFIG_FLAGS) {
    options[spec.flag] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
    if (spec.type === 'boolean') options[`no-${spec.flag}`] = { type: 'boolean' };
  }
  return options;
}

function parseValue(spec: FlagSpec, raw: string | boolean): unknown {
  if (spec.type === 'boolean') return raw;
  const text = String(raw);
  if (spec.type === 'string') return text;
  if (spec.type === 'numbers') {
    return text.split(',').map((part) => {
      const value = Number(part);
      if (part.trim() === '' || !Number.isFinite(value)) throw new Error(`hemnet: '--${spec.flag}' must be comma-separated numbers, received '${text}'`);
      return value;
    });
  }
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || (spec.type === 'integer' && !Number.isInteger(value))) {
    throw new Error(`hemnet: '--${spec.flag}' must be ${spec.type === 'integer' ? 'an integer' : 'a number'}, received '${text}'`);
  }
  return value;
}

/** Turns parsed flag values into a partial run config (validated later by mergeRunConfig). */
export function flagsToConfig(values: Record<string, string | boolean | undefined>): PartialRunConfig {
  const config: Record<string, unknown> = {};
  for (const spec of CONFIG_FLAGS) {
    let raw = values[spec.flag];
    if (spec.type === 'boolean' && values[`no-${spec.flag}`] === true) raw = false;
    if (raw === undefined) continue;
    const parts = spec.path.split('.');
    let node = config;
    for (const part of parts.slice(0, -1)) {
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = parseValue(spec, raw);
  }
  return config as PartialRunConfig;
}

/** Help lines for the config flags. */
export function configFlagHelp(): string {
  const width = Math.max(...CONFIG_FLAGS.map((s) => s.flag.length + (s.type === 'boolean' ? 0 : 4)));
  return CONFIG_FLAGS.map((s) => {
    const name = s.type === 'boolean' ? `--${s.flag}` : `--${s.flag} ${s.type === 'numbers' ? 'L' : s.type === 'string' ? 'S' : 'N'}`;
    return `  ${name.padEnd(width + 3)} ${s.help}  [${s.path}]`;
  }).join('\n');
}
