/**
 * Optimizers the training loop drives: SGD with momentum (the EMANet/HEMNet
 * recipe) and Adam (converges much faster when training from scratch on the
 * small built-in scenes). Both accept a new learning rate every step, for the
 * poly schedule.
 */
import * as tf from '@tensorflow/tfjs';

export const OPTIMIZER_NAMES = ['sgd', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

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

export type TrainingOptimizer = tf.MomentumOptimizer | ScheduledAdam;

/** `'sgd'`: momentum SGD; `'adam'`: Adam with β₁ 0.9, β₂ 0.999, ε 1e-7 (the tfjs defaults). */
export function createOptimizer(name: OptimizerName, learningRate: number, momentum: number): TrainingOptimizer {
  if (name === 'sgd') return new MomentumSgd(learningRate, momentum);
  if (name === 'adam') return new ScheduledAdam(learningRate, 0.9, 0.999, 1e-7);
  throw new Error(`createOptimizer: 'name' must be one of ${OPTIMIZER_NAMES.map((n) => `'${n}'`).join(', ')}, received '${String(name)}'`);
}

/** Which kind an optimizer is (tfjs optimizers answer `instanceof` by duck typing, so the class name decides). */
export function optimizerName(optimizer: TrainingOptimizer): OptimizerName {
  return optimizer.getClassName() === 'Adam' ? 'adam' : 'sgd';
}
