/**
 * hemnet's optional `native` backend for Node (see backend.ts): registers
 * it with tfjs when the addon (`npm run build:native`) loads.
 */
import * as tf from '@tensorflow/tfjs';
import { loadNativeAddon, NATIVE_BUILD_HINT } from './addon.js';
import { NATIVE_KERNEL_NAMES, NativeBackend, nativeKernels } from './backend.js';
import { markDilationAware } from '../../kernels/conv2dGrad.js';
import { batchNormTrainingGradConfig, installFusedBatchNormLayers } from './batchNormTraining.js';
import { hemUnrollGradConfig } from './hemUnroll.js';
import { softmaxCrossEntropyGradConfig } from './crossEntropy.js';
import { sumOfSquaresGradConfig } from './sumOfSquares.js';
import { installSharedSaves } from './sharedSaves.js';
import { installReluGrad } from './reluGrad.js';
import { installPreluGrad } from './preluGrad.js';

export { NATIVE_BUILD_HINT, NATIVE_KERNEL_NAMES, NativeBackend };

/** The tfjs backend name. */
export const NATIVE_BACKEND = 'native';

export type NativeStatus = { available: true; info: string; path: string } | { available: false; reason: string };

let status: NativeStatus | undefined;

/**
 * Loads the addon and registers the `native` backend (idempotent). Never
 * throws: returns why it is unavailable instead.
 */
export function registerNativeBackend(): NativeStatus {
  if (status !== undefined) return status;
  const load = loadNativeAddon();
  if (!load.ok) {
    status = { available: false, reason: `${load.reason}; ${NATIVE_BUILD_HINT}` };
    return status;
  }
  const { addon } = load;
  const cpuConfigs = tf.getKernelsForBackend('cpu');
  const cpuKernel = new Map(cpuConfigs.map((config) => [config.kernelName, config.kernelFunc]));
  const cpu = (name: string): tf.KernelFunc => {
    const fn = cpuKernel.get(name);
    if (fn !== undefined) return fn;
    return () => {
      throw new Error(`native backend: kernel '${name}' has no native path for these inputs and no cpu kernel`);
    };
  };
  const ours = nativeKernels(cpu);
  for (const config of cpuConfigs) {
    if (ours.has(config.kernelName)) continue;
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND });
  }
  for (const [kernelName, kernelFunc] of ours) tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND, kernelFunc });
  // Low priority: hemnet's setBackend chooses it explicitly; plain tfjs code keeps its own choice.
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(addon), 1);
  // The native Conv2DBackprop* kernels take a `dilations` attr.
  markDilationAware(NATIVE_BACKEND, true);
  // Batch-norm training as two kernels (forward, gradient) on native; tfjs's composition elsewhere.
  if (tf.getGradient(batchNormTrainingGradConfig.kernelName) === undefined) tf.registerGradient(batchNormTrainingGradConfig);
  installFusedBatchNormLayers();
  // Unrolled HEM as two kernels (forward, gradient) on native; tfjs's composition elsewhere.
  if (tf.getGradient(hemUnrollGradConfig.kernelName) === undefined) tf.registerGradient(hemUnrollGradConfig);
  // The segmentation loss as one kernel (its gradient is one product) on native.
  if (tf.getGradient(softmaxCrossEntropyGradConfig.kernelName) === undefined) tf.registerGradient(softmaxCrossEntropyGradConfig);
  // The weight-decay sum Σ‖w‖² as one kernel.
  if (tf.getGradient(sumOfSquaresGradConfig.kernelName) === undefined) tf.registerGradient(sumOfSquaresGradConfig);
  // The ReLU gradient dy · step(x) as one kernel on native; tfjs's composition elsewhere.
  installReluGrad();
  // The single-slope PReLU gradient (GradNets' GReLU) as one kernel per part on native.
  installPreluGrad();
  // Tensors saved for gradients share their data without an Identity kernel each (sharedSaves.ts).
  installSharedSaves(NATIVE_BACKEND);
  status = { available: true, info: addon.info(), path: load.path };
  return status;
}
