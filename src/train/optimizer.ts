/**
 * Optimizers the training loop drives: SGD with momentum (the EMANet/HEMNet
 * recipe) and Adam (converges much faster when training from scratch on the
 * small built-in scenes). Both accept a new learning rate every step, for the
 * poly schedule.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelsInstalled } from '../kernels/index.js';
import { wasmAdamBackend } from '../kernels/adam.js';
import { Registry, type Named } from '../registry.js';

/** Names of the built-in optimizers (the registry may hold more: `OPTIMIZERS.names()`). */
export const OPTIMIZER_NAMES = ['sgd', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number] | (string & {});

/**
 * A backend that runs a whole Adam step of one variable as one kernel (the
 * `native` backend: `NativeBackend.fusedAdam`). It returns the tensors that
 * replace w, m, v where it did not update them in place, or null when it
 * cannot run these inputs.
 */
interface FusedAdamBackend {
  fusedAdam(w: tf.TensorInfo, m: tf.TensorInfo, v: tf.TensorInfo, g: tf.TensorInfo, params: Float32Array): FusedAdamReplacements | null;
  f32(t: tf.TensorInfo): Float32Array | null;
}
interface FusedAdamReplacements {
  w: tf.TensorInfo | null;
  m: tf.TensorInfo | null;
  v: tf.TensorInfo | null;
}
/** tfjs's private Adam state (tfjs 4.22 `AdamOptimizer`), as the fused update reads and creates it. */
interface AdamState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

function fusedAdamBackend(): FusedAdamBackend | null {
  const backend = tf.backend() as unknown as Partial<FusedAdamBackend>;
  if (typeof backend.fusedAdam === 'function' && typeof backend.f32 === 'function') return backend as FusedAdamBackend;
  // wasm: the update runs on the heap (src/kernels/adam.ts), once hemnet's kernels are installed.
  return tf.getBackend() === 'wasm' && kernelsInstalled('wasm') ? wasmAdamBackend(backend) : null;
}

/**
 * tfjs's Adam with a settable learning rate (its update reads the field
 * every step). On a backend with a fused Adam kernel (`native`, and `wasm`
 * with hemnet's kernels: src/kernels/adam.ts), each
 * variable's step (w, m, v; 14 kernels in tfjs) is one kernel call with
 * tfjs's float32 arithmetic, in place when nothing else refers to the
 * buffers; elsewhere, and when `fused` is false, it is tfjs's update. The
 * state (the `/m`, `/v` variables, β₁ᵗ, β₂ᵗ, iterations) is tfjs's own, so
 * `getWeights`/`setWeights` and the class name 'Adam' are unchanged.
 */
export class ScheduledAdam extends tf.AdamOptimizer {
  /** Use the backend's fused update when it has one (set false to compare with tfjs's). */
  fused = true;

  setLearningRate(learningRate: number): void {
    this.learningRate = learningRate;
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const backend = this.fused ? fusedAdamBackend() : null;
    const named = Array.isArray(variableGradients)
      ? variableGradients.map(({ name, tensor }) => ({ name, tensor: tensor as tf.Tensor | null | undefined }))
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] as tf.Tensor | null | undefined }));
    const variables = tf.engine().registeredVariables;
    const handled = (t: tf.Tensor | null | undefined): boolean => t === null || t === undefined || (t.dtype === 'float32' && backend?.f32(t) != null);
    if (backend === null || !named.every(({ name, tensor }) => handled(tensor) && variables[name]?.dtype === 'float32')) {
      super.applyGradients(variableGradients);
      return;
    }
    const state = this as unknown as AdamState;
    const acc1 = backend.f32(state.accBeta1)?.[0];
    const acc2 = backend.f32(state.accBeta2)?.[0];
    if (acc1 === undefined || acc2 === undefined) {
      super.applyGradients(variableGradients);
      return;
    }
    // tfjs makes each of these a float32 scalar: Float32Array rounds them alike.
    const params = Float32Array.of(this.beta1, 1 - this.beta1, this.beta2, 1 - this.beta2, 1 - acc1, 1 - acc2, this.epsilon, -this.learningRate);
    const replace = (target: tf.Variable, info: tf.TensorInfo | null): void => {
      if (info === null) return;
      const tensor = tf.engine().makeTensorFromTensorInfo(info);
      target.assign(tensor);
      tensor.dispose();
    };
    named.forEach(({ name, tensor: gradient }, i) => {
      const value = variables[name] as tf.Variable;
      state.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      state.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      if (gradient === null || gradient === undefined) return;
      const m = state.accumulatedFirstMoment[i].variable;
      const v = state.accumulatedSecondMoment[i].variable;
      const result = backend.fusedAdam(value, m, v, gradient, params);
      if (result === null) throw new Error(`ScheduledAdam: the fused update refused variable '${name}' after accepting its inputs`);
      replace(value, result.w);
      replace(m, result.m);
      replace(v, result.v);
    });
    tf.tidy(() => {
      state.accBeta1.assign(tf.mul(state.accBeta1, this.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}

/**
 * tfjs's momentum SGD, whose `dispose` also frees the learning-rate scalar:
 * the stock `MomentumOptimizer.dispose` skips its parent's, leaking one
 * tensor per optimizer (tfjs 4.22).
 */
export class MomentumSgd extends tf.MomentumOptimizer {
  override dispose(): void {
    super.dispose();
    this.c.dispose();
  }
}

/** An optimizer with a settable learning rate (the loop sets the poly-decayed rate every step). */
export type TrainingOptimizer = tf.Optimizer & { setLearningRate(learningRate: number): void };

/** A registered optimizer: `train.optimizer` names one of these. */
export interface OptimizerSpec extends Named {
  create(learningRate: number, momentum: number): TrainingOptimizer;
  /** tfjs's class name of what `create` returns (checkpoints find the spec of a restored optimizer by it). */
  className: string;
}

/**
 * The optimizer registry. Adding one is an entry here (or
 * `OPTIMIZERS.register(spec)`); its state round-trips through checkpoints
 * with tfjs's `getWeights`/`setWeights`.
 */
export const OPTIMIZERS = new Registry<OptimizerSpec>('optimizer', [
  { name: 'sgd', summary: "momentum SGD (the paper's recipe)", className: 'Momentum', create: (lr, momentum) => new MomentumSgd(lr, momentum) },
  { name: 'adam', summary: 'Adam, β₁ 0.9, β₂ 0.999, ε 1e-7 (the tfjs defaults)', className: 'Adam', create: (lr) => new ScheduledAdam(lr, 0.9, 0.999, 1e-7) },
]);

/** A registered optimizer by name (`'sgd'`: momentum SGD; `'adam'`: Adam). */
export function createOptimizer(name: OptimizerName, learningRate: number, momentum: number): TrainingOptimizer {
  return OPTIMIZERS.get(name, 'createOptimizer').create(learningRate, momentum);
}

/** Which registered optimizer this is (tfjs optimizers answer `instanceof` by duck typing, so the class name decides). */
export function optimizerName(optimizer: tf.Optimizer): OptimizerName {
  const className = optimizer.getClassName();
  const spec = OPTIMIZERS.list().find((s) => s.className === className);
  if (spec === undefined) throw new Error(`optimizerName: no registered optimizer has tfjs class '${className}' (registered: ${OPTIMIZERS.names().join(', ')})`);
  return spec.name;
}
