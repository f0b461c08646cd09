/**
 * hemnet: Highway Expectation-Maximization networks (HEMNet) and GradNets
 * annealed layers on TensorFlow.js. Browser-safe entry point; Node-only
 * loaders and file helpers are in 'hemnet/node'.
 */

// Backend choice and fast ops
export { setBackend, backendInfo, onBackendSetup, parseBackendName, BACKEND_NAMES } from './backend.js';
export type { BackendName, BackendInfo, BackendOptions } from './backend.js';
export { batchMatMul, setDefaultBatchMatMulPath, usesSplitPath } from './ops/batchMatMul.js';
export type { BatchMatMulOptions } from './ops/batchMatMul.js';
export { stopGradient } from './ops/stopGradient.js';
export { installKernels, uninstallKernels, kernelsInstalled, WASM_KERNEL_NAMES } from './kernels/index.js';

// The HEM core (paper Sec. 3-4)
export {
  estep,
  nstep,
  rstep,
  elbo,
  unrollHem,
  gradientFlow,
  disposeHemResult,
  defaultTemperature,
  KERNELS,
  NK_EPSILON,
  NORM_EPSILON,
} from './em/index.js';
export type { EStepOptions, NStepOptions, HemOptions, HemResult, HemTraceStep, GradientFlowReport, Kernel } from './em/index.js';

// Layers
export { HemHead, hemHead, HEM_PRESETS, resolveHemHeadOptions } from './layers/hemHead.js';
export type { HemHeadOptions, HemHeadConfig, HemPreset } from './layers/hemHead.js';
export { BilinearUpsample } from './layers/resize.js';
export type { BilinearUpsampleConfig } from './layers/resize.js';

// Models, data, metrics, plots, training
export * from './models/index.js';
export * from './data/index.js';
export * from './metrics/index.js';
export * from './plots/index.js';
export * from './train/index.js';

// GradNets
export * from './gradnets/index.js';

// Interop: ONNX out
export * from './interop/onnx/index.js';
