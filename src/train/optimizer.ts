/**
 * Optimizers the training loop drives: SGD with momentum (the EMANet/HEMNet
 * recipe) and Adam (converges much faster when training from scratch on the
 * small built-in scenes). Both accept a new learning rate every step, for the
 * poly schedule.
 */
import * as tf from '@tensorflow/tfjs';
import { Registry, type Named } from '../registry.js';

/** Names of the built-in optimizers (the registry may hold more: `OPTIMIZERS.names()`). */
export const OPTIMIZER_NAMES = ['sgd', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number] | (string & {});

/** tfjs's Adam with a settable learning rate (its update reads the field every step). */
export class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(learningRate: number): void {
    this.learningRate = learningRate;
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
