/**
 * The HEM attention head for tfjs-layers: EMANet's EMAU generalised to
 * unrolled highway EM (HEMNet Fig. 1; DESIGN.md "Head around it").
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
import { unrollHem, type HemResult } from '../em/unroll.js';
import { checkIterations, checkKernel, checkStepSize, checkTemperature, KERNELS, type Kernel } from '../em/validate.js';

/** Named settings: `hemnet` (the paper) and `emanet` (the baseline, one flag away). */
export const HEM_PRESETS = {
  /** HEMNet: η 0.5, gradients through EM, σ² = √C, T_train 3, bases free. */
  hemnet: { stepSize: 0.5, detachEm: false, normalizeBases: false, temperature: null, trainIterations: 3 },
  /** EMANet: plain EM (η 1) under no-grad, L2-normalised bases, no temperature (σ² = 1). */
  emanet: { stepSize: 1, detachEm: true, normalizeBases: true, temperature: 1, trainIterations: 3 },
} as const;
export type HemPreset = keyof typeof HEM_PRESETS;

export interface HemHeadOptions {
  /** Settings to start from; explicit options override it. Default 'hemnet'. */
  preset?: HemPreset;
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

interface ResolvedHeadOptions {
  preset: HemPreset;
  numBases: number;
  emChannels: number | null;
  stepSize: number;
  trainIterations: number;
  evalIterations: number | null;
  temperature: number | null;
  kernel: Kernel;
  normalizeBases: boolean;
  detachEm: boolean;
  basesMomentum: number;
  batchNormMomentum: number;
  seed: number | null;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'preset', 'numBases', 'emChannels', 'stepSize', 'trainIterations', 'evalIterations', 'temperature',
  'kernel', 'normalizeBases', 'detachEm', 'basesMomentum', 'batchNormMomentum', 'seed',
]);
const LAYER_KEYS: ReadonlySet<string> = new Set(['customObjects', 'name', 'trainable', 'inputShape', 'batchInputShape', 'dtype', 'batchSize', 'weights', 'inputDType']);

const FN = 'HemHead';
/** ε of the output batch norm (tfjs-layers default; PyTorch uses 1e-5). */
export const BN_EPSILON = 1e-3;

function checkUnitInterval(name: string, value: number, closedAtZero: boolean): void {
  const ok = typeof value === 'number' && (closedAtZero ? value >= 0 : value > 0) && value < 1;
  if (!ok) throw new Error(`${FN}: '${name}' must be in ${closedAtZero ? '[0' : '(0'}, 1), received ${String(value)}`);
}

/** Validates options and fills defaults from the preset. */
export function resolveHemHeadOptions(options: HemHeadOptions): ResolvedHeadOptions {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key) && !LAYER_KEYS.has(key)) {
      throw new Error(`${FN}: unknown option '${key}' (valid: ${[...OPTION_KEYS].join(', ')})`);
    }
  }
  const presetName = options.preset ?? 'hemnet';
  if (!Object.hasOwn(HEM_PRESETS, presetName)) {
    throw new Error(`${FN}: 'preset' must be one of ${Object.keys(HEM_PRESETS).map((p) => `'${p}'`).join(', ')}, received '${String(presetName)}'`);
  }
  const preset = HEM_PRESETS[presetName];
  const resolved: ResolvedHeadOptions = {
    preset: presetName,
    numBases: options.numBases ?? 64,
    emChannels: options.emChannels ?? null,
    stepSize: options.stepSize ?? preset.stepSize,
    trainIterations: options.trainIterations ?? preset.trainIterations,
    evalIterations: options.evalIterations ?? null,
    temperature: options.temperature === undefined ? preset.temperature : options.temperature,
    kernel: options.kernel ?? 'dot',
    normalizeBases: options.normalizeBases ?? preset.normalizeBases,
    detachEm: options.detachEm ?? preset.detachEm,
    basesMomentum: options.basesMomentum ?? 0.9,
    batchNormMomentum: options.batchNormMomentum ?? 0.9,
    seed: options.seed ?? null,
  };
  checkIterations(FN, 'numBases', resolved.numBases);
  if (resolved.emChannels !== null) checkIterations(FN, 'emChannels', resolved.emChannels);
  checkStepSize(FN, resolved.stepSize);
  checkIterations(FN, 'trainIterations', resolved.trainIterations);
  if (resolved.evalIterations !== null) checkIterations(FN, 'evalIterations', resolved.evalIterations);
  if (resolved.temperature !== null) checkTemperature(FN, resolved.temperature);
  if (!(KERNELS as readonly string[]).includes(resolved.kernel)) checkKernel(FN, resolved.kernel);
  checkUnitInterval('basesMomentum', resolved.basesMomentum, true);
  checkUnitInterval('batchNormMomentum', resolved.batchNormMomentum, true);
  return resolved;
}

function l2Normalize(t: tf.Tensor, axis: number): tf.Tensor {
  return tf.div(t, tf.add(tf.norm(t, 'euclidean', axis, true), 1e-6));
}

/** The HEM attention head layer (EMAU of EMANet generalised). Input and output `[B, H, W, C_in]`. */
export class HemHead extends tf.layers.Layer {
  static className = 'HemHead';
  readonly options: ResolvedHeadOptions;
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
    super(config);
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

  private batchNorm(values: tf.Tensor2D, training: boolean): tf.Tensor {
    const w = this.weightsOrThrow();
    if (!training) {
      return tf.batchNorm(values, w.movingMean.read(), w.movingVariance.read(), w.bnBeta.read(), w.bnGamma.read(), BN_EPSILON);
    }
    const { mean, variance } = tf.moments(values, 0);
    const m = this.options.batchNormMomentum;
    const count = values.shape[0];
    const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance;
    const nextMean = tf.tidy(() => tf.add(tf.mul(w.movingMean.read(), m), tf.mul(mean, 1 - m)));
    const nextVariance = tf.tidy(() => tf.add(tf.mul(w.movingVariance.read(), m), tf.mul(unbiased, 1 - m)));
    w.movingMean.write(nextMean);
    w.movingVariance.write(nextVariance);
    tf.dispose([nextMean, nextVariance]);
    return tf.batchNorm(values, mean, variance, w.bnBeta.read(), w.bnGamma.read(), BN_EPSILON);
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

  override getConfig(): tf.serialization.ConfigDict {
    const o = this.options;
    return {
      ...super.getConfig(),
      preset: o.preset,
      numBases: o.numBases,
      emChannels: o.emChannels,
      // The η in use: after an annealing schedule, a saved model keeps its final η.
      stepSize: this.stepSize,
      trainIterations: o.trainIterations,
      evalIterations: o.evalIterations,
      temperature: o.temperature,
      kernel: o.kernel,
      normalizeBases: o.normalizeBases,
      detachEm: o.detachEm,
      basesMomentum: o.basesMomentum,
      batchNormMomentum: o.batchNormMomentum,
      seed: o.seed,
    };
  }
}

tf.serialization.registerClass(HemHead);

/** Creates an HEM head layer. */
export function hemHead(options: HemHeadConfig = {}): HemHead {
  return new HemHead(options);
}
