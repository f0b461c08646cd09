/**
 * The run config: everything `hemnet train` needs, as typed data. One schema
 * per section (model: src/models/zoo.ts, data: src/data/config.ts, train
 * and eval: here); defaults, validation and the CLI flags come from them. A
 * JSON config file is validated (unknown keys are errors) and merged over
 * the defaults; command-line flags are merged over that.
 */
import { BACKEND_NAMES, type BackendName } from '../backend.js';
import { DATA_SCHEMA, RENAMED_DATA_KEYS, type DataConfig } from '../data/config.js';
import { DATASETS } from '../data/registry.js';
import { MODEL_SCHEMA, validateModelConfig, type SegmentationModelConfig } from '../models/zoo.js';
import { checkObject, defaultsOf, validateAgainstSchema, type Schema } from '../schema.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from './loop.js';
import { OPTIMIZERS } from './optimizer.js';

export type { DataConfig } from '../data/config.js';

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
  /** Fold each batch norm into the conv before it for inference (`foldInference`; the same logits, fewer kernels); false: the plain model. */
  fold: boolean;
  /** T_eval override for every HEM head (null: the model's own). */
  evalIterations: number | null;
  /** Evaluate on at most this many samples (null: all). */
  limit: number | null;
  /** Evaluation threads (null: `train.workers` when set, else one per core on wasm/cpu, 1 on backends that thread inside). */
  workers: number | null;
}

/** Training settings beyond the loop's own: an annealed η for the HEM heads (GradNets-style). */
export interface RunTrainConfig extends TrainOptions {
  /** Anneal η linearly from the model's stepSize to this value (null: η fixed). */
  stepSizeEnd: number | null;
  /** Steps over which η anneals (null: half of the steps). */
  stepSizeTau: number | null;
  /** Data-parallel training threads, each with its own backend (null: one per core). */
  workers: number | null;
  /** Folder of a model whose backbone weights start a new run (`hemnet import` output or a run's model/); null: random init. */
  backboneWeights: string | null;
  /** Record the bases usage of every HEM/EMA head every this many steps (0: never); 'monitor' events in train-log.jsonl. */
  monitorEvery: number;
  /** Also record ‖∂loss/∂(backbone output)‖ at those steps (the paper's Fig. 3d). */
  monitorGradient: boolean;
  /** Validation images in the fixed probe batch the monitor measures on. */
  monitorSamples: number;
  /** Monitor events also record mIoU and pixel accuracy on the first this many validation images (0: off): the validation curve. */
  monitorValidation: number;
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
 * The `train` section. The run defaults are `npm start`'s: Adam, not the
 * paper's SGD: from scratch on the scenes, SGD (lr 0.01–0.1) stalls for
 * >1000 steps on a plateau that knows digit from background but not which
 * digit; Adam leaves it within a few hundred steps.
 */
export const TRAIN_SCHEMA = {
  optimizer: { kind: 'enum', values: () => OPTIMIZERS.names(), default: 'adam', flag: 'optimizer', doc: "optimizer (registry OPTIMIZERS): sgd (momentum, the paper's recipe) | adam" },
  steps: { kind: 'integer', min: 1, max: 1_000_000_000, default: 2000, flag: 'steps', doc: 'optimisation steps' },
  batchSize: { kind: 'integer', min: 1, max: 4096, default: 8, flag: 'batch-size', doc: 'images per step' },
  learningRate: { kind: 'number', min: 0, exclusiveMin: true, max: 100, default: 2e-3, flag: 'lr', doc: 'base learning rate (poly decay, power 0.9)' },
  momentum: { kind: 'number', min: 0, max: 1, default: DEFAULT_TRAIN_OPTIONS.momentum, flag: 'momentum', doc: 'SGD momentum' },
  weightDecay: { kind: 'number', min: 0, default: DEFAULT_TRAIN_OPTIONS.weightDecay, flag: 'weight-decay', doc: 'L2 weight decay on kernels' },
  lrPower: { kind: 'number', min: 0, default: DEFAULT_TRAIN_OPTIONS.lrPower, doc: 'power of the poly decay' },
  seed: { kind: 'integer', min: 0, default: 0, flag: 'seed', doc: 'seed of the sample order' },
  checkpointEvery: { kind: 'integer', min: 0, max: 1_000_000_000, default: 200, flag: 'checkpoint-every', doc: 'steps between checkpoints (0: only at the end)' },
  stepSizeEnd: { kind: 'number', min: 0, exclusiveMin: true, max: 1, nullable: true, default: null, flag: 'step-size-end', doc: 'anneal η from --step-size to this value during training (GradNets schedule)' },
  stepSizeTau: { kind: 'integer', min: 1, nullable: true, default: null, flag: 'step-size-tau', doc: 'τ, steps over which η anneals (default: half the steps)' },
  workers: { kind: 'integer', min: 1, nullable: true, default: null, flag: 'workers', doc: 'training threads (data-parallel on worker_threads, gradients averaged; default: one per core on wasm/cpu, 1 on backends that thread inside)' },
  backboneWeights: { kind: 'string', nullable: true, default: null, flag: 'backbone-weights', doc: "folder with a model.json whose backbone layers (by name) start a new run: 'hemnet import' output or a run's model/ (not used on --resume)" },
  monitorEvery: { kind: 'integer', min: 0, default: 100, flag: 'monitor-every', doc: "steps between 'monitor' events in train-log.jsonl: effective number of bases per HEM/EMA head (0: off)" },
  monitorGradient: { kind: 'boolean', default: false, flag: 'monitor-gradient', doc: 'monitor events also record ‖∂loss/∂(backbone output)‖ (Fig. 3d)' },
  monitorSamples: { kind: 'integer', min: 1, default: 8, doc: 'validation images in the fixed batch the monitor measures on' },
  monitorValidation: { kind: 'integer', min: 0, default: 0, flag: 'monitor-validation', doc: "monitor events also record mIoU and pixel accuracy on the first N validation images (the validation curve; 0: off)" },
} as const satisfies Schema;

export const EVAL_SCHEMA = {
  mode: { kind: 'enum', values: ['auto', 'whole', 'slide', 'resize'], default: 'auto', flag: 'eval-mode', doc: 'auto (whole image at original resolution; sliding window above 1024 px) | whole | slide | resize (to the training size)' },
  cropSize: { kind: 'integer', min: 8, nullable: true, default: null, flag: 'eval-crop-size', doc: 'sliding-window side (default: the model input size)' },
  stride: { kind: 'integer', min: 1, nullable: true, default: null, flag: 'eval-stride', doc: 'pixels between sliding windows (default 2/3 of the window)' },
  batchSize: { kind: 'integer', min: 1, max: 4096, default: 16, flag: 'eval-batch-size', doc: 'images per forward pass in evaluation' },
  scales: { kind: 'numbers', min: 0, exclusiveMin: true, default: [1], flag: 'eval-scales', doc: 'comma-separated input scales, e.g. 0.75,1,1.25 (multi-scale)' },
  flip: { kind: 'boolean', default: false, flag: 'eval-flip', doc: 'also average the flipped input' },
  fold: { kind: 'boolean', default: true, flag: 'eval-fold', doc: 'fold each batch norm into the conv before it for inference (same logits, fewer kernels); --no-eval-fold runs the plain model' },
  evalIterations: { kind: 'integer', min: 1, nullable: true, default: null, doc: 'T_eval override for every HEM head (null: the model’s own)' },
  limit: { kind: 'integer', min: 1, nullable: true, default: null, flag: 'eval-limit', doc: 'evaluate at most this many images' },
  workers: { kind: 'integer', min: 1, nullable: true, default: null, flag: 'eval-workers', doc: 'evaluation threads (whole batches on worker_threads, the same counts as one thread; default: train.workers when set, else one per core on wasm/cpu, 1 on backends that thread inside)' },
} as const satisfies Schema;

/** The whole run config; `hemnet --help` lists every field that has a flag. */
export const RUN_SCHEMA = {
  backend: { kind: 'enum', values: BACKEND_NAMES, default: 'auto', flag: 'backend', doc: 'native (when built) | wasm | cpu | tensorflow | auto (env HEMNET_BACKEND)' },
  model: { kind: 'object', fields: MODEL_SCHEMA },
  data: { kind: 'object', fields: DATA_SCHEMA },
  train: { kind: 'object', fields: TRAIN_SCHEMA },
  eval: { kind: 'object', fields: EVAL_SCHEMA },
} as const satisfies Schema;

/**
 * The default run (`npm start`): HEMNet on the built-in scenes, sized to
 * train and evaluate in under five minutes on a 2-core machine with wasm.
 */
export function defaultRunConfig(): RunConfig {
  return defaultsOf<RunConfig>(RUN_SCHEMA);
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
    ...base,
    model: validateModelConfig(
      {
        ...base.model,
        numClasses: 21,
        inputSize: [256, 256],
        width: 16,
        channels: 64,
        midChannels: 64,
        outputStride: 8,
        hem: { ...base.model.hem, numBases: 64 }, // η 0.5, T 3 and σ² = √C come from the head's preset (hemnet; emanet for --head ema)
      },
      'vocRunConfig',
    ),
    data: { ...base.data, source: 'voc', canvasSize: 256, cropSize: 256, augmentScale: [0.5, 2], flip: true },
    train: { ...base.train, optimizer: 'sgd', steps: 2000, batchSize: 4, learningRate: 9e-3, checkpointEvery: 200 },
    eval: { ...base.eval, mode: 'auto', batchSize: 1 },
  };
}

/** The defaults a run starts from: the dataset's own (`DatasetSpec.runDefaults`, e.g. `vocRunConfig()` for 'voc'), else `defaultRunConfig()`. */
export function defaultRunConfigFor(source: string): RunConfig {
  const spec = DATASETS.has(source) ? DATASETS.get(source, 'defaultRunConfigFor') : undefined;
  return (spec?.runDefaults?.() as RunConfig | undefined) ?? defaultRunConfig();
}

/** Moves keys renamed since hemnet 0.1 to their new names (both given: an error naming the new key). */
function renameLegacyKeys(partial: unknown, source: string): unknown {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) return partial;
  const data = (partial as { data?: unknown }).data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return partial;
  const renamed: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  for (const [old, current] of Object.entries(RENAMED_DATA_KEYS)) {
    if (!(old in renamed)) continue;
    if (current in renamed) throw new Error(`${source}: 'data.${old}' was renamed 'data.${current}'; give only 'data.${current}'`);
    renamed[current] = renamed[old];
    delete renamed[old];
  }
  return { ...partial, data: renamed };
}

/**
 * Validates a (partial) run config and merges it over `base`, section by
 * section (the model's `hem` options merge key by key). `source` names where
 * it came from (a file path, 'flags') for messages.
 */
export function mergeRunConfig(base: RunConfig, partial: unknown, source = 'config'): RunConfig {
  checkObject(source, 'config', partial);
  const upgraded = renameLegacyKeys(partial, source);
  // The model section is validated by validateModelConfig after the merge (messages without the 'model.' prefix).
  validateAgainstSchema(source, { ...RUN_SCHEMA, model: { kind: 'any-object' } }, upgraded);
  const p = upgraded as PartialRunConfig;
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
  const names = merged.data.classNames;
  if (names !== null && names.length !== model.numClasses) {
    throw new Error(`${source}: 'data.classNames' must have 'model.numClasses' = ${model.numClasses} names, received ${names.length}`);
  }
  DATASETS.get(merged.data.source, source).check?.(merged, source);
  return merged;
}
