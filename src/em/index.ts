export { estep, nstep, rstep, elbo, defaultTemperature, NK_EPSILON, NORM_EPSILON } from './steps.js';
export type { EStepOptions, NStepOptions } from './steps.js';
export { unrollHem, gradientFlow, disposeHemResult } from './unroll.js';
export type { HemOptions, HemResult, HemTraceStep, GradientFlowReport } from './unroll.js';
export { KERNELS } from './validate.js';
export type { Kernel } from './validate.js';
