/**
 * hemnet: Highway Expectation-Maximization networks (HEMNet) and GradNets
 * annealed layers on TensorFlow.js.
 */
export { setBackend, backendInfo, onBackendSetup, parseBackendName, BACKEND_NAMES } from './backend.js';
export type { BackendName, BackendInfo, BackendOptions } from './backend.js';
export { batchMatMul, setDefaultBatchMatMulPath } from './ops/batchMatMul.js';
export type { BatchMatMulOptions } from './ops/batchMatMul.js';
export type { SegmentationSample, SegmentationDataset } from './data/types.js';
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
export type {
  EStepOptions,
  NStepOptions,
  HemOptions,
  HemResult,
  HemTraceStep,
  GradientFlowReport,
  Kernel,
} from './em/index.js';
export { stopGradient } from './ops/stopGradient.js';
