/**
 * hemnet: Highway Expectation-Maximization networks (HEMNet) and GradNets
 * annealed layers on TensorFlow.js.
 */
export { setBackend, backendInfo, onBackendSetup, parseBackendName, BACKEND_NAMES } from './backend.js';
export type { BackendName, BackendInfo, BackendOptions } from './backend.js';
export { batchMatMul } from './ops/batchMatMul.js';
export type { BatchMatMulOptions } from './ops/batchMatMul.js';
export type { SegmentationSample, SegmentationDataset } from './data/types.js';
