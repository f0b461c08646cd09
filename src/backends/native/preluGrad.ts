/**
 * The gradient of `Prelu` with one slope α (GradNets' GReLU, eq. "a(g)·x for
 * x < 0") as one kernel for backends that have it (`native`). tfjs 4.22 runs
 * it as Greater, two Selects, two Multiplies, a zerosLike and a Sum: on a
 * 100-layer, 512-unit MLP that was 1.3 ms per layer and step, the JS Greater
 * and Select loops alone 1.1 ms (a branch on the sign mispredicts half the
 * time). The registered gradient of `Prelu` is replaced by one that takes the
 * kernel where the current backend has it and α has one element, and runs
 * tfjs's own composition everywhere else. Both give the same numbers: the
 * kernel computes tfjs's products elementwise and the α gradient is summed by
 * the backend's Sum, as in tfjs.
 */
import * as tf from '@tensorflow/tfjs';
import { replaceGradient } from './replaceGradient.js';

/** Inputs dy, x (float32, one shape), alpha (float32, one element); attr part 0: output dx; 1: the terms Σ-ed into dα. */
export const PRELU_GRAD_KERNEL = 'HemnetPreluGrad';

let fusedEnabled = true;
/** Turns the one-kernel PReLU gradient off (tfjs's composition on every backend) or back on. */
export function setFusedPreluGrad(enabled: boolean): void {
  fusedEnabled = enabled;
}

/** tfjs 4.22's Prelu gradient (tfjs-core/src/gradients/Prelu_grad.ts), for the fallback. */
function stockPreluGrad(dy: tf.Tensor, x: tf.Tensor, alpha: tf.Tensor): { x: () => tf.Tensor; alpha: () => tf.Tensor } {
  const mask = tf.greater(x, 0);
  return {
    x: () => tf.where(mask, dy, tf.mul(dy, alpha)),
    alpha: () => {
      let terms = tf.where(mask, tf.zerosLike(dy), tf.mul(dy, x));
      const axes = tf.backend_util.getReductionAxes(alpha.shape, dy.shape);
      if (axes.length > 0) terms = tf.sum(terms, axes);
      return tf.reshape(terms, alpha.shape);
    },
  };
}

/** The gradient of `Prelu`: one kernel where the backend has it (α of one element), else tfjs's composition. */
export const preluGradConfig: tf.GradConfig = {
  kernelName: 'Prelu',
  inputsToSave: ['x', 'alpha'],
  gradFunc: (dy, saved) => {
    const [x, alpha] = saved as [tf.Tensor, tf.Tensor];
    const dyT = dy as tf.Tensor;
    const fused =
      fusedEnabled &&
      dyT.dtype === 'float32' &&
      x.dtype === 'float32' &&
      alpha.dtype === 'float32' &&
      alpha.size === 1 &&
      tf.util.arraysEqual(dyT.shape, x.shape) &&
      tf.getKernel(PRELU_GRAD_KERNEL, tf.getBackend()) !== undefined;
    if (!fused) return stockPreluGrad(dyT, x, alpha);
    // One kernel call per part (the engine runs each input's gradient in its own tidy).
    const part = (which: 0 | 1): tf.Tensor => tf.engine().runKernel(PRELU_GRAD_KERNEL, { dy: dyT, x, alpha }, { part: which }) as tf.Tensor;
    return {
      x: () => part(0),
      alpha: () => tf.reshape(tf.sum(part(1)), alpha.shape),
    };
  },
};

/** Replaces the registered `Prelu` gradient by `preluGradConfig` (idempotent). */
export function installPreluGrad(): void {
  replaceGradient(preluGradConfig, 'hemnet.preluGrad');
}
