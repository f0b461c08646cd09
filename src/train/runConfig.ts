/**
 * The run config: everything `hemnet train` needs, as typed data. A JSON
 * config file is validated against the schema (unknown keys are errors) and
 * merged over the defaults; command-line flags are merged over that.
 */
import { BACKEND_NAMES, type BackendName } from '../backend.js';
import { defaultModelConfig, validateModelConfig, type SegmentationModelConfig } from '../models/zoo.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from './loop.js';
import { validateAgainstSchema, type Schema } from './validateConfig.js';
import { OPTIMIZER_NAMES } from './optimizer.js';

export interface DataConfig {
  /** 'scenes': the built-in MNIST scenes; 'voc': a PASCAL-VOC-format folder. */
  source: 'scenes' | 'voc';
  /** Root of the VOC-format folder (source 'voc'). */
  vocRoot: string | null;
  /** Scenes in the training split (source 'scenes'). */
  trainSize: number;
  /** Scenes in the validation split (source 'scenes'); VOC uses its val list. */
  valSize: number;
  /** Canvas side of the scenes (and the VOC training crop when `cropSize` is null). */
  canvasSize: number;
  /** VOC: side of the random training crops, which is also the model's input size (null: `canvasSize`). Evaluation is at the original resolution (`eval.mode`). */
  cropSize: number | null;
  /** VOC: one name per class (null: VOC's 21 names when numClasses is 21, else class0…). */
  classNames: string[] | null;
  /** VOC: 'color' (SegmentationClass palette PNGs) or 'index' (grey PNGs holding class indices, e.g. SegmentationClassAug). */
  maskFormat: 'color' | 'index';
  /** VOC: folder of the masks under the root (null: SegmentationClass for 'color', SegmentationClassAug for 'index'). */
  maskDir: string | null;
  /** VOC: list names in ImageSets/Segmentation for training and evaluation. */
  trainSplit: string;
  valSplit: string;
  /** Digits per scene [min, max]. */
  digitsPerScene: [number, number];
  /** Digit side = 28·scale pixels, scale drawn from [min, max] (null: [1.5, 2.2], capped at canvas/28). */
  digitScale: [number, number] | null;
  /** Grow digit labels by this many pixels so strokes become regions (0: labels follow the strokes). */
  labelDilation: number;
  /** Digit fragments pasted as background clutter per scene, [min, max]. */
  clutterFragments: [number, number];
  /** Random rescaling range of the training augmentation. */
  scaleRange: [number, number];
  /** Random horizontal flips in training. */
  flip: boolean;
  /** Seed of the dataset and of the augmentation. */
  seed: number;
}

export interface EvalConfig {
  /**
   * 'auto': the whole image at its original resolution, sliding windows when
   * its longer side exceeds 1024 px; 'whole' / 'slide' force one;
   * 'resize': images shrunk and padded to the training size (fast, inexact).
   */
  mode: 'auto' | 'whole' | 'slide' | 'resize';
  /** Side of the sliding window (null: the model's input size, i.e. the training crop). */
  cropSize: number | null;
  /** Pixels between sliding windows (null: 2/3 of the window, as mmseg's 512/341). */
  stride: number | null;
  batchSize: number;
  /** Input scales; [1] = single-scale. */
  scales: number[];
  /** Average with the flipped input. */
  flip: boolean;
  /** T_eval override for every HEM head (null: the model's own). */
  evalIterations: number | null;
  /** Evaluate on at most this many samples (null: all). */
  limit: number | null;
}

/** Training settings beyond the loop's own: an annealed η for the HEM heads (GradNets-style). */
export interface RunTrainConfig extends TrainOptions {
  /** Anneal η linearly from the model's stepSize to this value (null: η fixed). */
  stepSizeEnd: number | null;
  /** Steps over which η anneals (null: half of the steps). */
  stepSizeTau: number | null;
}

export interface RunConfig {
  backend: BackendName;
  model: SegmentationModelConfig;
  data: DataConfig;
  train: RunTrainConfig;
  eval: EvalConfig;
}

/** A JSON config file: every section and key optional. */
export interface PartialRunConfig {
  backend?: BackendName;
  model?: Partial<SegmentationModelConfig>;
  data?: Partial<DataConfig>;
  train?: Partial<RunTrainConfig>;
  eval?: Partial<EvalConfig>;
}

/**
 * The default run (`npm start`): HEMNet on the built-in scenes, sized to
 * train and evaluate in under five minutes on a 2-core machine with wasm.
 */
export function defaultRunConfig(): RunConfig {
  return {
    backend: 'auto',
    model: defaultModelConfig(),
    data: {
      source: 'scenes',
      vocRoot: null,
      trainSize: 4000,
      valSize: 500,
      canvasSize: 64,
      cropSize: null,
      classNames: null,
      maskFormat: 'color',
      maskDir: null,
      trainSplit: 'train',
      valSplit: 'val',
      digitsPerScene: [1, 2],
      digitScale: null,
      labelDilation: 1,
      clutterFragments: [0, 2],
      scaleRange: [1, 1],
      flip: false,
      seed: 0,
    },
    // Adam, not the paper's SGD: from scratch on the scenes, SGD (lr 0.01–0.1)
    // stalls for >1000 steps on a plateau that knows digit from background but
    // not which digit; Adam leaves it within a few hundred steps.
    train: { ...DEFAULT_TRAIN_OPTIONS, optimizer: 'adam', steps: 1000, batchSize: 8, learningRate: 2e-3, checkpointEvery: 200, stepSizeEnd: null, stepSizeTau: null },
    eval: { mode: 'auto', cropSize: null, stride: null, batchSize: 16, scales: [1], flip: false, evalIterations: null, limit: null },
  };
}

/**
 * Defaults for `--data voc`: the paper's VOC recipe (EMANet/HEMNet: SGD
 * momentum 0.9, lr 9e-3 with poly decay 0.9, weight decay 1e-4, random
 * scale 0.5–2 and flips, K = 64 bases, T = 3, η = 0.5, output stride 8,
 * evaluation of whole images at their original resolution) scaled to a
 * CPU: the compact backbone (base width 16) instead of ResNet-101, C = 64
 * instead of 512, 256×256 crops instead of 513, batch 4 instead of 16,
 * 2000 steps instead of 30k. Every value can be overridden by a config
 * file or a flag.
 */
export function vocRunConfig(): RunConfig {
  const base = defaultRunConfig();
  return {
    backend: 'auto',
    model: defaultModelConfig({
      numClasses: 21,
      inputSize: [256, 256],
      width: 16,
      channels: 64,
      midChannels: 64,
      outputStride: 8,
      hem: { numBases: 64 }, // η 0.5, T 3 and σ² = √C come from the head's preset (hemnet; emanet for --head ema)
    }),
    data: { ...base.data, source: 'voc', canvasSize: 256, cropSize: 256, scaleRange: [0.5, 2], flip: true },
    train: { ...DEFAULT_TRAIN_OPTIONS, optimizer: 'sgd', steps: 2000, batchSize: 4, learningRate: 9e-3, checkpointEvery: 200, stepSizeEnd: null, stepSizeTau: null },
    eval: { ...base.eval, mode: 'auto', batchSize: 1 },
  };
}

/** The defaults a run starts from: `vocRunConfig()` for 'voc', else `defaultRunConfig()`. */
export function defaultRunConfigFor(source: 'scenes' | 'voc'): RunConfig {
  return source === 'voc' ? vocRunConfig() : defaultRunConfig();
}

const SECTIONS: Schema = {
  backend: { kind: 'enum', values: BACKEND_NAMES },
  model: { kind: 'any-object' },
  data: {
    kind: 'object',
    fields: {
      source: { kind: 'enum', values: ['scenes', 'voc'] },
      vocRoot: { kind: 'string', nullable: true },
      trainSize: { kind: 'integer', min: 1 },
      valSize: { kind: 'integer', min: 1 },
      canvasSize: { kind: 'integer', min: 8 },
      cropSize: { kind: 'integer', min: 8, nullable: true },
      classNames: { kind: 'strings', nullable: true },
      maskFormat: { kind: 'enum', values: ['color', 'index'] },
      maskDir: { kind: 'string', nullable: true },
      trainSplit: { kind: 'string' },
      valSplit: { kind: 'string' },
      digitsPerScene: { kind: 'numbers', length: 2, min: 1 },
      digitScale: { kind: 'numbers', length: 2, min: 0, exclusiveMin: true, nullable: true },
      labelDilation: { kind: 'integer', min: 0, max: 8 },
      clutterFragments: { kind: 'numbers', length: 2, min: 0 },
      scaleRange: { kind: 'numbers', length: 2, min: 0, exclusiveMin: true },
      flip: { kind: 'boolean' },
      seed: { kind: 'integer', min: 0 },
    },
  },
  train: {
    kind: 'object',
    fields: {
      optimizer: { kind: 'enum', values: OPTIMIZER_NAMES },
      steps: { kind: 'integer', min: 1 },
      batchSize: { kind: 'integer', min: 1 },
      learningRate: { kind: 'number', min: 0, exclusiveMin: true },
      momentum: { kind: 'number', min: 0, max: 1 },
      weightDecay: { kind: 'number', min: 0 },
      lrPower: { kind: 'number', min: 0 },
      seed: { kind: 'integer', min: 0 },
      checkpointEvery: { kind: 'integer', min: 0 },
      stepSizeEnd: { kind: 'number', min: 0, exclusiveMin: true, max: 1, nullable: true },
      stepSizeTau: { kind: 'integer', min: 1, nullable: true },
    },
  },
  eval: {
    kind: 'object',
    fields: {
      mode: { kind: 'enum', values: ['auto', 'whole', 'slide', 'resize'] },
      cropSize: { kind: 'integer', min: 8, nullable: true },
      stride: { kind: 'integer', min: 1, nullable: true },
      batchSize: { kind: 'integer', min: 1 },
      scales: { kind: 'numbers', min: 0, exclusiveMin: true },
      flip: { kind: 'boolean' },
      evalIterations: { kind: 'integer', min: 1, nullable: true },
      limit: { kind: 'integer', min: 1, nullable: true },
    },
  },
};

/**
 * Validates a (partial) run config and merges it over `base`, section by
 * section (the model's `hem` options merge key by key). `source` names where
 * it came from (a file path, 'flags') for messages.
 */
export function mergeRunConfig(base: RunConfig, partial: unknown, source = 'config'): RunConfig {
  validateAgainstSchema(source, SECTIONS, partial);
  const p = partial as PartialRunConfig;
  const modelPartial: Partial<SegmentationModelConfig> = { ...(p.model ?? {}) };
  // The scenes' canvas (VOC: the training crop) sets the model's input size unless the model names one.
  const canvas = p.data?.cropSize ?? p.data?.canvasSize;
  if (canvas !== undefined && modelPartial.inputSize === undefined) modelPartial.inputSize = [canvas, canvas];
  const model = validateModelConfig(
    { ...base.model, ...modelPartial, hem: { ...base.model.hem, ...(modelPartial.hem ?? {}) } },
    source,
  );
  const merged: RunConfig = {
    backend: p.backend ?? base.backend,
    model,
    data: { ...base.data, ...(p.data ?? {}) },
    train: { ...base.train, ...(p.train ?? {}) },
    eval: { ...base.eval, ...(p.eval ?? {}) },
  };
  const [minDigits, maxDigits] = merged.data.digitsPerScene;
  if (minDigits > maxDigits) throw new Error(`${source}: 'data.digitsPerScene' must be [min, max] with min ≤ max, received [${minDigits}, ${maxDigits}]`);
  if (merged.data.source === 'voc' && merged.data.vocRoot === null) {
    throw new Error(`${source}: 'data.vocRoot' must name the VOC-format folder when 'data.source' is 'voc'`);
  }
  const names = merged.data.classNames;
  if (names !== null && names.length !== model.numClasses) {
    throw new Error(`${source}: 'data.classNames' must have 'model.numClasses' = ${model.numClasses} names, received ${names.length}`);
  }
  if (merged.data.source === 'scenes' && (model.inputSize[0] !== merged.data.canvasSize || model.inputSize[1] !== merged.data.canvasSize)) {
    throw new Error(
      `${source}: 'model.inputSize' [${model.inputSize.join(', ')}] must equal the scene canvas [${merged.data.canvasSize}, ${merged.data.canvasSize}] ('data.canvasSize')`,
    );
  }
  return merged;
}
