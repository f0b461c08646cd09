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
  /** Canvas side of the scenes, also the training crop size for VOC. */
  canvasSize: number;
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
    eval: { batchSize: 16, scales: [1], flip: false, evalIterations: null, limit: null },
  };
}

const SECTIONS: Schema = {
  backend: { kind: 'enum', values: BACKEND_NAMES },
  model: { kind: 'any-object' },
  data: {
    kind: 'object',
    fields: {
      source: { kind: 'enum', values: ['scenes', 'voc'] },
      vocRoot: { kind: 'string', nullable: true },
      trainSize: { kind: 'integer', min: 1, max: 10_000_000 },
      valSize: { kind: 'integer', min: 1, max: 10_000_000 },
      canvasSize: { kind: 'integer', min: 8, max: 8192 },
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
      steps: { kind: 'integer', min: 1, max: 1_000_000_000 },
      batchSize: { kind: 'integer', min: 1, max: 4096 },
      learningRate: { kind: 'number', min: 0, exclusiveMin: true, max: 100 },
      momentum: { kind: 'number', min: 0, max: 1 },
      weightDecay: { kind: 'number', min: 0 },
      lrPower: { kind: 'number', min: 0 },
      seed: { kind: 'integer', min: 0 },
      checkpointEvery: { kind: 'integer', min: 0, max: 1_000_000_000 },
      stepSizeEnd: { kind: 'number', min: 0, exclusiveMin: true, max: 1, nullable: true },
      stepSizeTau: { kind: 'integer', min: 1, nullable: true },
    },
  },
  eval: {
    kind: 'object',
    fields: {
      batchSize: { kind: 'integer', min: 1, max: 4096 },
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
  // The scenes' canvas sets the model's input size unless the model names one.
  const canvas = p.data?.canvasSize;
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
  if (merged.data.source === 'scenes' && (model.inputSize[0] !== merged.data.canvasSize || model.inputSize[1] !== merged.data.canvasSize)) {
    throw new Error(
      `${source}: 'model.inputSize' [${model.inputSize.join(', ')}] must equal the scene canvas [${merged.data.canvasSize}, ${merged.data.canvasSize}] ('data.canvasSize')`,
    );
  }
  return merged;
}
