/**
 * The HEM attention head for tfjs-layers: EMANet's EMAU generalised to
 * unrolled highway EM (HEMNet Fig. 1; docs/design.md "The head around the EM module").
 *
 *   input [B, H, W, C_in] ─┬─ 1×1 conv → x [B, N, C] → T × (E-step, N-step) → R-step X̃
 *                          │  → ReLU → 1×1 conv (no bias) → batch norm
 *                          └──────────────────────────────── + ─→ ReLU → output [B, H, W, C_in]
 *
 * μ⁽⁰⁾ is a non-trainable weight [K, C]: N(0, √(2/K)) then L2-normalised;
 * while training it follows μ⁽⁰⁾ ← m·μ⁽⁰⁾ + (1 − m)·mean_b μ⁽ᵀ⁾ (re-normalised
 * when `normalizeBases`), never in inference. It is saved with the model.
 */
import * as tf from '@tensorflow/tfjs';
import { batchNormTraining, fusedMovingAverages } from '../backends/native/batchNormTraining.js';
import { unrollHem, type HemOptions, type HemResult } from '../em/unroll.js';
import { checkIterations, checkStepSize, checkTemperature, KERNELS, type Kernel } from '../em/validate.js';
import { checkKnownKeys, checkOneOf, defaultsOf, keysOf, pickKeys, validateField, type FieldSpec, type Schema } from '../schema.js';
import { defaultLayerName, registerLayer } from './serialization.js';

/**
 * Named settings: `hem` (the paper) and `ema` (the baseline, one flag away).
 * The same names as the segmentation heads that use them (src/models/heads.ts).
 */
export const HEM_PRESETS = {
  /** HEMNet: η 0.5, gradients through EM, σ² = √C, T_train 3, bases free. */
  hem: { stepSize: 0.5, detachEm: false, normalizeBases: false, temperature: null, trainIterations: 3 },
  /** EMANet: plain EM (η 1) under no-grad, L2-normalised bases, no temperature (σ² = 1). */
  ema: { stepSize: 1, detachEm: true, normalizeBases: true, temperature: 1, trainIterations: 3 },
} as const;
export type HemPreset = keyof typeof HEM_PRESETS;
/** Preset names of hemnet 0.1 ('hemnet', 'emanet'): still accepted (saved models hold them), resolved to the new ones. */
export const LEGACY_PRESET_NAMES: Readonly<Record<string, HemPreset>> = { hemnet: 'hem', emanet: 'ema' };
/** @deprecated 0.1 names of the presets; use 'hem' / 'ema'. */
export type LegacyHemPreset = 'hemnet' | 'emanet';

const FN = 'HemHead';
/** ε of the output batch norm (tfjs-layers default; PyTorch uses 1e-5). */
export const BN_EPSILON = 1e-3;

function checkUnitInterval(name: string): (where: string, value: unknown) => void {
  return (where, value) => {
    if (!(typeof value === 'number' && value >= 0 && value < 1)) throw new Error(`${where}: '${name}' must be in [0, 1), received ${String(value)}`);
  };
}

/**
 * The HemHead options, one entry each: type, default, doc (with the paper
 * symbol), CLI flag. Defaults of `stepSize`, `trainIterations`,
 * `temperature`, `normalizeBases` and `detachEm` come from the preset.
 * Validation, `getConfig`, the model config's `hem` section and the CLI
 * flags are derived from this table; a new option is one entry here (and
 * its use in `call`).
 */
export const HEM_HEAD_SCHEMA = {
  preset: { kind: 'enum', values: [...Object.keys(HEM_PRESETS), ...Object.keys(LEGACY_PRESET_NAMES)], default: 'hem', doc: "settings to start from: 'hem' (HEMNet) or 'ema' (EMANet); explicit options override it" },
  numBases: { kind: 'integer', min: 1, default: 64, flag: 'num-bases', doc: 'K, Gaussian bases of the HEM head', check: (w: string, v: unknown) => checkIterations(w, 'numBases', v as number) },
  emChannels: { kind: 'integer', min: 1, nullable: true, default: null, doc: 'C of the EM features (the 1×1 conv in maps C_in → C); null: C_in', check: (w: string, v: unknown) => checkIterations(w, 'emChannels', v as number) },
  stepSize: { kind: 'number', flag: 'step-size', doc: 'η of the N-step (Eq. 13), in (0, 1]; 1 = plain EM', check: (w: string, v: unknown) => checkStepSize(w, v as number) },
  trainIterations: { kind: 'integer', min: 1, flag: 'train-iterations', doc: 'T_train, unrolled HEM iterations in training', check: (w: string, v: unknown) => checkIterations(w, 'trainIterations', v as number) },
  evalIterations: { kind: 'integer', min: 1, nullable: true, default: null, flag: 'eval-iterations', doc: 'T_eval, iterations in inference (default T_train)', check: (w: string, v: unknown) => checkIterations(w, 'evalIterations', v as number) },
  temperature: { kind: 'number', nullable: true, flag: 'temperature', doc: 'σ² of the E-step (Eq. 7/8); default √C', check: (w: string, v: unknown) => checkTemperature(w, v as number) },
  kernel: { kind: 'enum', values: KERNELS, default: 'dot', flag: 'kernel', doc: 'E-step kernel: dot (Eq. 8) | rbf (Eq. 7)' },
  normalizeBases: { kind: 'boolean', flag: 'normalize-bases', doc: 'L2-normalise μ after each N-step (EMANet)' },
  detachEm: { kind: 'boolean', flag: 'detach-em', doc: 'no gradient through the EM iterations (EMANet)' },
  basesMomentum: { kind: 'number', min: 0, max: 1, exclusiveMax: true, default: 0.9, flag: 'bases-momentum', doc: 'm of the μ⁽⁰⁾ moving average (0.9)', check: checkUnitInterval('basesMomentum') },
  batchNormMomentum: { kind: 'number', min: 0, max: 1, exclusiveMax: true, default: 0.9, doc: "momentum of the output batch norm's moving statistics", check: checkUnitInterval('batchNormMomentum') },
  seed: { kind: 'integer', nullable: true, default: null, doc: 'seed of the weight initialisers' },
} as const satisfies Schema;

export interface HemHeadOptions {
  /** Settings to start from; explicit options override it. Default 'hem'. ('hemnet'/'emanet' are the 0.1 names.) */
  preset?: HemPreset | LegacyHemPreset;
  /** K, the number of Gaussian bases. Default 64. */
  numBases?: number;
  /** C, channels of the EM features (the 1×1 conv in maps C_in → C). Default C_in. */
  emChannels?: number | null;
  /** η of Eq. 13. */
  stepSize?: number;
  /** T_train, iterations while training. */
  trainIterations?: number;
  /** T_eval, iterations in inference; null = T_train. */
  evalIterations?: number | null;
  /** σ² of Eq. 7/8; null = √C. */
  temperature?: number | null;
  kernel?: Kernel;
  /** L2-normalise μ after each N-step (EMANet). */
  normalizeBases?: boolean;
  /** Run EM without gradient (EMANet). */
  detachEm?: boolean;
  /** m of the μ⁽⁰⁾ moving average. Default 0.9. */
  basesMomentum?: number;
  /** Momentum of the output batch norm's moving statistics. Default 0.9. */
  batchNormMomentum?: number;
  /** Seed of the weight initialisers. */
  seed?: number | null;
}

export interface HemHeadConfig extends HemHeadOptions {
  name?: string;
  trainable?: boolean;
  inputShape?: tf.Shape;
  batchInputShape?: tf.Shape;
  dtype?: tf.DataType;
}

/** Every option filled in (the preset by its current name). */
export type ResolvedHemHeadOptions = Required<Omit<HemHeadOptions, 'preset'>> & { preset: HemPreset };

/** Keys tf.layers.Layer itself takes (and that tfjs adds when deserializing). */
const LAYER_KEYS = ['customObjects', 'name', 'trainable', 'inputShape', 'batchInputShape', 'dtype', 'batchSize', 'weights', 'inputDType'];

/** The current name of a preset (the 0.1 names map to the new ones). */
export function presetName(preset: string): HemPreset {
  const name = LEGACY_PRESET_NAMES[preset] ?? preset;
  return checkOneOf(FN, 'preset', name, Object.keys(HEM_PRESETS) as HemPreset[]);
}

/** Validates options and fills defaults: schema defaults ← preset ← explicit options. */
export function resolveHemHeadOptions(options: HemHeadOptions): ResolvedHemHeadOptions {
  checkKnownKeys(FN, 'option', options, [...keysOf(HEM_HEAD_SCHEMA), ...LAYER_KEYS]);
  const preset = presetName(options.preset ?? HEM_HEAD_SCHEMA.preset.default);
  const explicit = Object.fromEntries(Object.entries(pickKeys(HEM_HEAD_SCHEMA, options)).filter(([, v]) => v !== undefined));
  const resolved = { ...defaultsOf<object>(HEM_HEAD_SCHEMA), ...HEM_PRESETS[preset], ...explicit, preset } as ResolvedHemHeadOptions;
  for (const [key, spec] of Object.entries(HEM_HEAD_SCHEMA) as [string, FieldSpec][]) validateField(FN, key, spec, (resolved as Record<string, unknown>)[key]);
  return resolved;
}

function l2Normalize(t: tf.Tensor, axis: number): tf.Tensor {
  return tf.div(t, tf.add(tf.norm(t, 'euclidean', axis, true), 1e-6));
}

/** The HEM attention head layer (EMAU of EMANet generalised). Input and output `[B, H, W, C_in]`. */
export class HemHead extends tf.layers.Layer {
  static className = 'hemnet>HemHead';
  readonly options: ResolvedHemHeadOptions;
  private inKernel: tf.LayerVariable | null = null;
  private inBias: tf.LayerVariable | null = null;
  private outKernel: tf.LayerVariable | null = null;
  private bnGamma: tf.LayerVariable | null = null;
  private bnBeta: tf.LayerVariable | null = null;
  private movingMean: tf.LayerVariable | null = null;
  private movingVariance: tf.LayerVariable | null = null;
  private bases: tf.LayerVariable | null = null;
  private evalIterationsOverride: number | null = null;
  private stepSizeOverride: number | null = null;

  constructor(config: HemHeadConfig = {}) {
    super({ ...config, name: config.name ?? defaultLayerName(HemHead.className) });
    this.options = resolveHemHeadOptions(config);
  }

  /** T used in inference: the override, else `evalIterations`, else T_train. */
  get evalIterations(): number {
    return this.evalIterationsOverride ?? this.options.evalIterations ?? this.options.trainIterations;
  }

  /** Overrides T_eval without rebuilding (null restores the configured one). */
  setEvalIterations(iterations: number | null): void {
    if (iterations !== null) checkIterations(`${FN}.setEvalIterations`, 'iterations', iterations);
    this.evalIterationsOverride = iterations;
  }

  /** η in use: the override (e.g. from an annealing schedule), else the configured one. */
  get stepSize(): number {
    return this.stepSizeOverride ?? this.options.stepSize;
  }

  /**
   * Overrides η (Eq. 13) without rebuilding, for schedules that anneal it
   * during training; null restores the configured value. Not serialized:
   * a schedule's own state carries it across checkpoints.
   */
  setStepSize(stepSize: number | null): void {
    if (stepSize !== null) checkStepSize(`${FN}.setStepSize`, stepSize);
    this.stepSizeOverride = stepSize;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inChannels = shape[shape.length - 1];
    if (shape.length !== 4 || typeof inChannels !== 'number') {
      throw new Error(`${FN}: input must be rank 4 [B, H, W, C] with known C, received [${shape.map(String).join(', ')}]`);
    }
    const channels = this.options.emChannels ?? inChannels;
    const seed = this.options.seed ?? undefined;
    const he = (offset: number) => tf.initializers.heNormal({ seed: seed === undefined ? undefined : seed + offset });
    this.inKernel = this.addWeight('in_kernel', [inChannels, channels], 'float32', he(0));
    this.inBias = this.addWeight('in_bias', [channels], 'float32', tf.initializers.zeros());
    this.outKernel = this.addWeight('out_kernel', [channels, inChannels], 'float32', he(1));
    this.bnGamma = this.addWeight('bn_gamma', [inChannels], 'float32', tf.initializers.ones());
    this.bnBeta = this.addWeight('bn_beta', [inChannels], 'float32', tf.initializers.zeros());
    this.movingMean = this.addWeight('moving_mean', [inChannels], 'float32', tf.initializers.zeros(), undefined, false);
    this.movingVariance = this.addWeight('moving_variance', [inChannels], 'float32', tf.initializers.ones(), undefined, false);
    const k = this.options.numBases;
    this.bases = this.addWeight(
      'bases',
      [k, channels],
      'float32',
      tf.initializers.randomNormal({ mean: 0, stddev: Math.sqrt(2 / k), seed: seed === undefined ? undefined : seed + 2 }),
      undefined,
      false,
    );
    // μ⁽⁰⁾ starts L2-normalised over C (EMANet).
    const normalized = tf.tidy(() => l2Normalize(this.bases!.read(), 1));
    this.bases.write(normalized);
    normalized.dispose();
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  private weightsOrThrow(): Record<'inKernel' | 'inBias' | 'outKernel' | 'bnGamma' | 'bnBeta' | 'movingMean' | 'movingVariance' | 'bases', tf.LayerVariable> {
    const { inKernel, inBias, outKernel, bnGamma, bnBeta, movingMean, movingVariance, bases } = this;
    if (!inKernel || !inBias || !outKernel || !bnGamma || !bnBeta || !movingMean || !movingVariance || !bases) {
      throw new Error(`${FN}: layer '${this.name}' is used before it was built`);
    }
    return { inKernel, inBias, outKernel, bnGamma, bnBeta, movingMean, movingVariance, bases };
  }

  private temperatureFor(channels: number): number {
    return this.options.temperature ?? Math.sqrt(channels);
  }

  /** 1×1 conv in: [B, H, W, C_in] → x [B, N, C]. A rank-2 matMul (the fast wasm path). */
  private featuresOf(input: tf.Tensor4D): tf.Tensor3D {
    const w = this.weightsOrThrow();
    const [b, h, width, cin] = input.shape;
    const channels = w.inKernel.shape[1] as number;
    const flat = tf.reshape(input, [b * h * width, cin]);
    return tf.reshape(tf.add(tf.matMul(flat, w.inKernel.read()), w.inBias.read()), [b, h * width, channels]) as tf.Tensor3D;
  }

  private unroll(x: tf.Tensor3D, iterations: number, trace: boolean): HemResult {
    const w = this.weightsOrThrow();
    return unrollHem(x, w.bases.read() as tf.Tensor2D, {
      stepSize: this.stepSize,
      iterations,
      temperature: this.temperatureFor(x.shape[2]),
      kernel: this.options.kernel,
      normalizeBases: this.options.normalizeBases,
      detachEm: this.options.detachEm,
      trace,
    });
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }): tf.Tensor {
    return tf.tidy(() => {
      const input = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const training = kwargs['training'] === true;
      const w = this.weightsOrThrow();
      const [b, h, width, cin] = input.shape;
      const x = this.featuresOf(input);
      const result = this.unroll(x, training ? this.options.trainIterations : this.evalIterations, false);
      if (training) this.updateBases(result.mu);
      const reconstruction = tf.relu(tf.reshape(result.reconstruction, [b * h * width, x.shape[2]]));
      const projected = tf.matMul(reconstruction, w.outKernel.read()) as tf.Tensor2D; // 1×1 conv out, [B·N, C_in]
      const normalized = this.batchNorm(projected, training);
      const residual = tf.add(tf.reshape(normalized, [b, h, width, cin]), input);
      return tf.relu(residual);
    });
  }

  /** μ⁽⁰⁾ ← m·μ⁽⁰⁾ + (1 − m)·mean over the batch of μ⁽ᵀ⁾ (training only). */
  private updateBases(finalBases: tf.Tensor3D): void {
    const w = this.weightsOrThrow();
    const m = this.options.basesMomentum;
    const updated = tf.tidy(() => {
      let next = tf.add(tf.mul(w.bases.read(), m), tf.mul(tf.mean(finalBases, 0), 1 - m));
      if (this.options.normalizeBases) next = l2Normalize(next, 1);
      return next;
    });
    w.bases.write(updated);
    updated.dispose();
  }

  /** A copy of μ⁽⁰⁾, the bases every forward pass starts from, `[K, C]` (the caller disposes it). */
  initialBases(): tf.Tensor2D {
    return tf.clone(this.weightsOrThrow().bases.read()) as tf.Tensor2D;
  }

  private batchNorm(values: tf.Tensor2D, training: boolean): tf.Tensor {
    const w = this.weightsOrThrow();
    if (!training) {
      return tf.batchNorm(values, w.movingMean.read(), w.movingVariance.read(), w.bnBeta.read(), w.bnGamma.read(), BN_EPSILON);
    }
    // tf.moments + tf.batchNorm, or one fused kernel (and one for its gradient) where the backend has it.
    const { y, mean, variance } = batchNormTraining(values, w.bnGamma.read() as tf.Tensor1D, w.bnBeta.read() as tf.Tensor1D, BN_EPSILON);
    const m = this.options.batchNormMomentum;
    const count = values.shape[0];
    const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance;
    // m·moving + (1 − m)·batch, one kernel for both where the backend has it.
    const [nextMean, nextVariance] = fusedMovingAverages(w.movingMean.read(), w.movingVariance.read(), mean, unbiased, 1 - m) ?? [
      tf.tidy(() => tf.add(tf.mul(w.movingMean.read(), m), tf.mul(mean, 1 - m))),
      tf.tidy(() => tf.add(tf.mul(w.movingVariance.read(), m), tf.mul(unbiased, 1 - m))),
    ];
    w.movingMean.write(nextMean);
    w.movingVariance.write(nextVariance);
    tf.dispose([nextMean, nextVariance]);
    return y;
  }

  /**
   * The EM internals for a batch of head inputs, in inference mode (no state
   * changes): γ [B, N, K] (attention maps), μ, X̃ and the per-iteration trace.
   * The caller owns the returned tensors (`disposeHemResult`).
   */
  attend(input: tf.Tensor4D, iterations: number = this.evalIterations): HemResult {
    checkIterations(`${FN}.attend`, 'iterations', iterations);
    const x = tf.tidy(() => this.featuresOf(input));
    const result = this.unroll(x, iterations, true);
    x.dispose();
    return result;
  }

  /**
   * The EM problem this head solves on `input` [B, H, W, C_in] (analyses:
   * the paper's Fig. 3 on a trained model): x [B, N, C] after the 1×1 conv
   * in, μ⁽⁰⁾ [K, C] (a copy) and the `unrollHem` options the head uses
   * (η in use, σ², kernel, normalisation, EMANet's no-grad cut), with
   * `iterations` = the evaluation T. `unrollHem(x, mu0, options)` reproduces
   * `attend`. The caller disposes x and mu0.
   */
  emProblem(input: tf.Tensor4D): { x: tf.Tensor3D; mu0: tf.Tensor2D; options: Required<Pick<HemOptions, 'stepSize' | 'iterations' | 'temperature' | 'kernel' | 'normalizeBases' | 'detachEm'>> } {
    const w = this.weightsOrThrow();
    const x = tf.tidy(() => this.featuresOf(input));
    return {
      x,
      mu0: tf.clone(w.bases.read()) as tf.Tensor2D,
      options: {
        stepSize: this.stepSize,
        iterations: this.evalIterations,
        temperature: this.temperatureFor(x.shape[2]),
        kernel: this.options.kernel,
        normalizeBases: this.options.normalizeBases,
        detachEm: this.options.detachEm,
      },
    };
  }

  /**
   * The layer's output from an R-step reconstruction X̃ [B, N, C] and the
   * layer's input [B, H, W, C_in], in inference mode: ReLU, 1×1 conv out,
   * BN (moving statistics), residual add, ReLU: what `call` does after EM.
   * Differentiable in X̃ (e.g. inside `gradientFlow`'s loss).
   */
  outputFromReconstruction(reconstruction: tf.Tensor3D, input: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const w = this.weightsOrThrow();
      const [b, h, width, cin] = input.shape;
      const flat = tf.relu(tf.reshape(reconstruction, [b * h * width, reconstruction.shape[2]]));
      const projected = tf.matMul(flat, w.outKernel.read()) as tf.Tensor2D;
      return tf.relu(tf.add(tf.reshape(this.batchNorm(projected, false), [b, h, width, cin]), input)) as tf.Tensor4D;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      ...(pickKeys(HEM_HEAD_SCHEMA, this.options) as tf.serialization.ConfigDict),
      // The η in use: after an annealing schedule, a saved model keeps its final η.
      stepSize: this.stepSize,
    };
  }
}

// Registered as 'hemnet>HemHead'; models saved by hemnet 0.1 name it 'HemHead'.
registerLayer(HemHead, ['HemHead']);

/** Creates an HEM head layer. */
export function hemHead(options: HemHeadConfig = {}): HemHead {
  return new HemHead(options);
}
