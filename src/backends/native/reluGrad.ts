/**
 * The gradient of `Relu` as one kernel for backends that have it (`native`):
 * dx = dy · step(x), which tfjs runs as Step, Cast and Multiply (three
 * dispatches and two intermediate tensors per ReLU in every backward pass).
 * The registered gradient of `Relu` is replaced by one that takes the kernel
 * where the current backend has it and runs tfjs's own composition,
 * mul(dy, cast(step(x), 'float32')), everywhere else.
 */
import * as tf from '@tensorflow/tfjs';
import { replaceGradient } from './replaceGradient.js';

/** Inputs dy, x (float32, same shape); output dy · step(x) (NaN where x is NaN, as tfjs's Step). */
export const RELU_GRAD_KERNEL = 'HemnetReluGrad';

let fusedEnabled = true;
/** Turns the one-kernel ReLU gradient off (tfjs's composition on every backend) or back on. */
export function setFusedReluGrad(enabled: boolean): void {
  fusedEnabled = enabled;
}

/** The gradient of `Relu`: one kernel where the backend has it, else tfjs's composition. */
export const reluGradConfig: tf.GradConfig = {
  kernelName: 'Relu',
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    const dyT = dy as tf.Tensor;
    return {
      x: () => {
        if (fusedEnabled && dyT.dtype === 'float32' && x.dtype === 'float32' && tf.util.arraysEqual(dyT.shape, x.shape) && tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) !== undefined) {
          return tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: dyT, x }) as tf.Tensor;
        }
        return tf.mul(dyT, tf.cast(tf.step(x), 'float32'));
      },
    };
  },
};

/** Replaces the registered `Relu` gradient by `reluGradConfig` (idempotent). */
export function installReluGrad(): void {
  replaceGradient(reluGradConfig, 'hemnet.reluGrad');
}
