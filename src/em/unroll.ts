/**
 * Unrolled highway EM (HEMNet, Fig. 1/2): T iterations of E-step (Eq. 8) and
 * N-step (Eq. 13), then the R-step (Eq. 10), and the gradient-flow probe of
 * Eq. 16-18.
 */
import { checkKnownKeys } from '../schema.js';
import * as tf from '@tensorflow/tfjs';
import { usesSplitPath } from '../ops/batchMatMul.js';
import { stopGradient } from '../ops/stopGradient.js';
import { fusedHemAvailable, fusedUnroll } from '../backends/native/hemUnroll.js';
import {
  broadcastBases,
  defaultTemperature,
  elboUnchecked,
  estepUnchecked,
  nstepUnchecked,
  rstepUnchecked,
} from './steps.js';
import {
  checkBases,
  checkFeatures,
  checkFinite,
  checkIterations,
  checkKernel,
  checkStepSize,
  checkTemperature,
  fail,
  type Kernel,
} from './validate.js';

export interface HemOptions {
  /** η of Eq. 13, in (0, 1]. 1 is plain EM (EMANet). Default 0.5 (the paper's VOC setting). */
  stepSize?: number;
  /** T, the number of unrolled iterations, an integer ≥ 1. Default 3. */
  iterations?: number;
  /** σ² of Eq. 7/8, > 0. Default √C. */
  temperature?: number;
  /** `'dot'` (Eq. 8, default) or `'rbf'` (Eq. 7). */
  kernel?: Kernel;
  /** L2-normalise μ over C after each N-step, as EMANet does. Default false. */
  normalizeBases?: boolean;
  /**
   * Run the iterations without gradient, as EMANet does: no gradient reaches
   * x or μ⁽⁰⁾ through μ, γ or the reconstruction. Default false.
   */
  detachEm?: boolean;
  /** Stop the gradient through γ (analysis of Eq. 15/18; not for training). Default false. */
  stopGammaGradient?: boolean;
  /** Record ELBO before/after each N-step and each iteration's γ and μ. Default false. */
  trace?: boolean;
  /**
   * Read x and μ⁽⁰⁾ back and fail on NaN/±Inf (costs a device sync).
   * Default false: non-finite inputs then propagate to non-finite outputs.
   */
  checkFinite?: boolean;
}

/** One iteration t of the trace. Tensors are owned by the caller. */
export interface HemTraceStep {
  /** γ⁽ᵗ⁾ from the E-step on μ⁽ᵗ⁻¹⁾, `[B, N, K]`. */
  gamma: tf.Tensor3D;
  /** μ⁽ᵗ⁾ after the N-step, `[B, K, C]`. */
  mu: tf.Tensor3D;
  /** ELBO L(μ⁽ᵗ⁻¹⁾, γ⁽ᵗ⁾), `[B]`. */
  elboBefore: tf.Tensor1D;
  /** ELBO L(μ⁽ᵗ⁾, γ⁽ᵗ⁾), `[B]`. Proposition 1: ≥ elboBefore. */
  elboAfter: tf.Tensor1D;
}

export interface HemResult {
  /** Final bases μ⁽ᵀ⁾, `[B, K, C]`. */
  mu: tf.Tensor3D;
  /** Responsibilities of the last E-step γ⁽ᵀ⁾, `[B, N, K]`. */
  gamma: tf.Tensor3D;
  /** R-step X̃ = γ⁽ᵀ⁾·μ⁽ᵀ⁾, `[B, N, C]`. */
  reconstruction: tf.Tensor3D;
  /** Present when `trace` is true: one entry per iteration. */
  trace?: HemTraceStep[];
}

interface ResolvedOptions {
  stepSize: number;
  iterations: number;
  temperature: number;
  kernel: Kernel;
  normalizeBases: boolean;
  detachEm: boolean;
  stopGammaGradient: boolean;
  trace: boolean;
}

const OPTION_KEYS: readonly string[] = ([
  'stepSize',
  'iterations',
  'temperature',
  'kernel',
  'normalizeBases',
  'detachEm',
  'stopGammaGradient',
  'trace',
  'checkFinite',
]);

function resolveOptions(fn: string, x: tf.Tensor3D, mu0: tf.Tensor2D | tf.Tensor3D, options: HemOptions): ResolvedOptions {
  checkKnownKeys(fn, 'option', options, OPTION_KEYS);
  const resolved: ResolvedOptions = {
    stepSize: options.stepSize ?? 0.5,
    iterations: options.iterations ?? 3,
    temperature: options.temperature ?? defaultTemperature(x.shape[2]),
    kernel: options.kernel ?? 'dot',
    normalizeBases: options.normalizeBases ?? false,
    detachEm: options.detachEm ?? false,
    stopGammaGradient: options.stopGammaGradient ?? false,
    trace: options.trace ?? false,
  };
  checkStepSize(fn, resolved.stepSize);
  checkIterations(fn, 'iterations', resolved.iterations);
  checkTemperature(fn, resolved.temperature);
  checkKernel(fn, resolved.kernel);
  if (options.checkFinite === true) {
    checkFinite(fn, 'x', x);
    checkFinite(fn, 'mu0', mu0);
  }
  return resolved;
}

/**
 * The features each step of iteration t sees. Normally the same x everywhere;
 * `gradientFlow` passes a separate copy per (iteration, step) so that the
 * gradient reaching each copy is that path's share of ∂E/∂x (Eq. 16/17).
 */
interface FeatureRoutes {
  estep: (t: number) => tf.Tensor3D;
  nstep: (t: number) => tf.Tensor3D;
}

function iterate(x: tf.Tensor3D, routes: FeatureRoutes, mu0: tf.Tensor3D, settings: ResolvedOptions): HemResult {
  let mu = mu0;
  let gamma: tf.Tensor3D | undefined;
  const trace: HemTraceStep[] = [];
  for (let t = 0; t < settings.iterations; t++) {
    gamma = estepUnchecked(routes.estep(t), mu, settings.temperature, settings.kernel); // Eq. 8
    if (settings.stopGammaGradient) gamma = stopGradient(gamma);
    const next = nstepUnchecked(routes.nstep(t), mu, gamma, settings.stepSize, settings.normalizeBases); // Eq. 13
    if (settings.trace) {
      trace.push({
        gamma,
        mu: next,
        elboBefore: elboUnchecked(x, mu, gamma, settings.temperature),
        elboAfter: elboUnchecked(x, next, gamma, settings.temperature),
      });
    }
    mu = next;
  }
  if (gamma === undefined) throw new Error('unrollHem: internal error, no iteration ran');
  const reconstruction = rstepUnchecked(gamma, mu); // Eq. 10, final μ with the last E-step's γ
  return settings.trace ? { mu, gamma, reconstruction, trace } : { mu, gamma, reconstruction };
}

/** Returns the result tensors as a flat list (for tidy) and rebuilds the structure. */
function flatten(result: HemResult): tf.Tensor[] {
  const list: tf.Tensor[] = [result.mu, result.gamma, result.reconstruction];
  for (const step of result.trace ?? []) list.push(step.gamma, step.mu, step.elboBefore, step.elboAfter);
  return list;
}

function unflatten(list: tf.Tensor[], withTrace: boolean): HemResult {
  const [mu, gamma, reconstruction, ...rest] = list as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, ...tf.Tensor[]];
  if (!withTrace) return { mu, gamma, reconstruction };
  const trace: HemTraceStep[] = [];
  for (let i = 0; i + 3 < rest.length; i += 4) {
    trace.push({
      gamma: rest[i] as tf.Tensor3D,
      mu: rest[i + 1] as tf.Tensor3D,
      elboBefore: rest[i + 2] as tf.Tensor1D,
      elboAfter: rest[i + 3] as tf.Tensor1D,
    });
  }
  return { mu, gamma, reconstruction, trace };
}

/**
 * On wasm, slicing a batch item out of x is slow (~22 ms for [4225, 512])
 * while every product is per item anyway. So x is split once, each item runs
 * the whole unroll with batch 1 (whose products need no slicing), and the
 * results are concatenated (fast). The products' transposed operands are all
 * small ([N, K] or [K, C]), never x.
 */
function iterateByItem(x: tf.Tensor3D, mu0: tf.Tensor2D | tf.Tensor3D, settings: ResolvedOptions): tf.Tensor[] {
  const [batch, n, c] = x.shape;
  const items = tf.unstack(x);
  const bases = mu0.rank === 2 ? null : tf.unstack(mu0);
  const perItem = items.map((item, b) => {
    const features = tf.reshape(item, [1, n, c]) as tf.Tensor3D;
    const start = bases === null ? (tf.expandDims(mu0, 0) as tf.Tensor3D) : (tf.expandDims(bases[b] as tf.Tensor, 0) as tf.Tensor3D);
    return flatten(iterate(features, { estep: () => features, nstep: () => features }, start, settings));
  });
  const first = perItem[0] as tf.Tensor[];
  return first.map((_, field) => (batch === 1 ? (first[field] as tf.Tensor) : tf.concat(perItem.map((list) => list[field] as tf.Tensor), 0)));
}

function runIterations(x: tf.Tensor3D, mu0: tf.Tensor2D | tf.Tensor3D, settings: ResolvedOptions, routes?: FeatureRoutes): tf.Tensor[] {
  return tf.tidy(() => {
    const work = x.shape[1] * x.shape[2] * (mu0.shape[mu0.rank - 2] as number);
    if (routes === undefined && x.shape[0] > 1 && usesSplitPath(undefined, work)) return iterateByItem(x, mu0, settings);
    const sameX: FeatureRoutes = routes ?? { estep: () => x, nstep: () => x };
    return flatten(iterate(x, sameX, broadcastBases(mu0, x.shape[0]), settings));
  });
}

function runUnroll(x: tf.Tensor3D, mu0: tf.Tensor2D | tf.Tensor3D, settings: ResolvedOptions, routes?: FeatureRoutes): HemResult {
  // The whole unroll (Eq. 8, 13, 10) and its gradient as one kernel each, where the
  // backend has them (native, wasm) and nothing per iteration is asked for (detached EM: below).
  const fusable = !settings.trace && !settings.stopGammaGradient && fusedHemAvailable(x, mu0);
  if (fusable && !settings.detachEm && routes === undefined) return fusedUnroll(x, mu0, settings);
  if (!settings.detachEm) return unflatten(runIterations(x, mu0, settings, routes), settings.trace);
  // EMANet: the iterations run under no-grad. Inside a custom-gradient op
  // nothing is recorded on the tape, so the backward pass does no EM work;
  // the op's own gradient is zero for x and μ⁽⁰⁾.
  let heldList: tf.Tensor[] = [];
  const detached = tf.customGrad((xIn, muIn) => {
    const features = xIn as tf.Tensor3D;
    const bases = muIn as tf.Tensor2D | tf.Tensor3D;
    // The engine runs this forward function inside its own tidy: keep the
    // tensors we hand out, then move them to the caller's scope below.
    // On native and wasm the whole forward unroll is one kernel here too (its gradient kernel never runs).
    const iterations = fusable ? tf.tidy(() => flatten(fusedUnroll(features, bases, settings))) : runIterations(features, bases, settings);
    heldList = iterations.map((t) => tf.keep(t));
    return {
      value: tf.clone(heldList[2] as tf.Tensor),
      gradFunc: () => [tf.zerosLike(features), tf.zerosLike(bases)],
    };
  });
  const reconstruction = detached(x, mu0) as tf.Tensor3D;
  const owned = heldList.map((t) => tf.clone(t)); // tracked by the caller's scope, off the tape
  tf.dispose(heldList);
  const held = unflatten(owned, settings.trace);
  held.reconstruction.dispose();
  held.reconstruction = reconstruction;
  return held;
}

/**
 * Unrolled highway EM: T × (E-step, N-step), then the R-step.
 *
 * @param x features `[B, N, C]` (N = H·W pixels)
 * @param mu0 initial bases μ⁽⁰⁾, `[B, K, C]` or `[K, C]` (broadcast over B)
 * @returns `{ mu [B, K, C], gamma [B, N, K], reconstruction [B, N, C], trace? }`;
 *   every returned tensor is new and owned by the caller.
 */
export function unrollHem(x: tf.Tensor3D, mu0: tf.Tensor2D | tf.Tensor3D, options: HemOptions = {}): HemResult {
  checkFeatures('unrollHem', x);
  checkBases('unrollHem', 'mu0', mu0, x);
  const settings = resolveOptions('unrollHem', x, mu0, options);
  return runUnroll(x, mu0, settings);
}

/** Disposes every tensor of a `HemResult`, trace included. */
export function disposeHemResult(result: HemResult): void {
  tf.dispose(flatten(result));
}

/** What `gradientFlow` measures, all as mean absolute values over x's elements. */
export interface GradientFlowReport {
  /** The loss value. */
  loss: number;
  /** Per iteration t = 1..T: |∂E/∂x| through the N-step of iteration t (Eq. 17, first term; Fig. 3b). */
  nstep: number[];
  /** Per iteration t = 1..T: |∂E/∂x| through the E-step of iteration t (Eq. 17, second term; Fig. 3c). */
  estep: number[];
  /** |∂E/∂x| of the whole unroll (the sum of all paths; Fig. 3d). */
  total: number;
  /** `nstep[t] / Σ nstep`: Eq. 18 predicts ∝ η(1 − η)^(T−t) when γ changes little. */
  nstepShare: number[];
}

/**
 * Splits the gradient that reaches the features x by iteration and by path,
 * the quantities of the paper's Fig. 3 (b)-(d) and Eq. 16-18.
 *
 * Every E-step and N-step of iteration t gets its own copy of x; the gradient
 * arriving at each copy is exactly that path's term of Eq. 17, and the terms
 * add up to the total ∂E/∂x. Only the paths through HEM are counted: if
 * `loss` uses x directly, that part is not in the report.
 *
 * @param x features `[B, N, C]`
 * @param mu0 `[B, K, C]` or `[K, C]`
 * @param loss a scalar function of the HEM outputs (e.g. of the reconstruction)
 * @param options as `unrollHem` (`trace` is ignored)
 */
export function gradientFlow(
  x: tf.Tensor3D,
  mu0: tf.Tensor2D | tf.Tensor3D,
  loss: (result: HemResult) => tf.Scalar,
  options: HemOptions = {},
): GradientFlowReport {
  checkFeatures('gradientFlow', x);
  checkBases('gradientFlow', 'mu0', mu0, x);
  if (typeof loss !== 'function') fail('gradientFlow', `'loss' must be a function of the HEM result, received ${typeof loss}`);
  const settings = { ...resolveOptions('gradientFlow', x, mu0, options), trace: false };
  const iterations = settings.iterations;
  if (settings.detachEm) {
    // EMANet: no gradient reaches x through the iterations, by construction.
    const lossValue = tf.tidy(() => loss(runUnroll(x, mu0, settings)).dataSync()[0] as number);
    const zeros = new Array<number>(iterations).fill(0);
    return { loss: lossValue, nstep: zeros, estep: [...zeros], total: 0, nstepShare: [...zeros] };
  }
  const report = tf.tidy(() => {
    const estepCopies = Array.from({ length: iterations }, () => tf.clone(x));
    const nstepCopies = Array.from({ length: iterations }, () => tf.clone(x));
    const objective = (...copies: tf.Tensor[]): tf.Scalar => {
      const routes: FeatureRoutes = {
        estep: (t) => copies[t] as tf.Tensor3D,
        nstep: (t) => copies[iterations + t] as tf.Tensor3D,
      };
      const value = loss(runUnroll(x, mu0, settings, routes));
      if (!(value instanceof tf.Tensor) || value.rank !== 0) {
        fail('gradientFlow', `'loss' must return a scalar tensor, received ${value instanceof tf.Tensor ? `shape [${value.shape.join(', ')}]` : typeof value}`);
      }
      return value;
    };
    const { value, grads } = tf.valueAndGrads(objective)([...estepCopies, ...nstepCopies]);
    const meanAbs = (g: tf.Tensor | undefined): number => (g === undefined ? 0 : tf.mean(tf.abs(g)).dataSync()[0] as number);
    const total = tf.addN(grads);
    return {
      loss: value.dataSync()[0] as number,
      estep: grads.slice(0, iterations).map(meanAbs),
      nstep: grads.slice(iterations).map(meanAbs),
      total: meanAbs(total),
    };
  });
  const nstepSum = report.nstep.reduce((sum, v) => sum + v, 0);
  return { ...report, nstepShare: report.nstep.map((v) => (nstepSum > 0 ? v / nstepSum : 0)) };
}
