export { ConfusionMatrix } from './confusion.js';
export type { ConfusionMatrixJSON, LabelArray } from './confusion.js';
export { basesUsage, distinctBases, effectiveNumber, DISTINCT_BASES_COSINE } from './bases.js';
export type { BasesUsage } from './bases.js';
export { countFlops, kernelFlops, modelForwardFlops } from './flops.js';
export type { FlopCount, KernelFlops } from './flops.js';
