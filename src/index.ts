/**
 * hemnet: Highway Expectation-Maximization networks (HEMNet) and GradNets
 * annealed layers on TensorFlow.js. Browser-safe entry point; Node-only
 * loaders and file helpers are in 'hemnet/node'.
 */

// Extension points: registries and schemas (docs/design.md)
export { Registry } from './registry.js';
export type { Named } from './registry.js';
export { validateAgainstSchema, validateField, checkKnownKeys, checkOneOf, checkComplete, defaultsOf, keysOf, pickKeys, omitKeys, flagsOf, describeSchema } from './schema.js';
export type { Schema, FieldSpec, SchemaFlag } from './schema.js';
export { registerLayer, shortClassName, LAYER_NAMESPACE } from './layers/serialization.js';

// Backend choice and fast ops
export { setBackend, backendInfo, availableBackends, parseBackendName, BACKEND_NAMES, setFlushDenormals, flushesDenormals } from './backend.js';
export type { BackendName, BackendInfo, BackendOptions } from './backend.js';
export { batchMatMul, setDefaultBatchMatMulPath, usesSplitPath } from './ops/batchMatMul.js';
export type { BatchMatMulOptions } from './ops/batchMatMul.js';
export { winogradConv2d, winogradConvApplies, winogradConvAvailable, winogradFilters } from './ops/winograd.js';
export { setWasmWinograd, setWasmWinogradTile, wasmWinogradEnabled, wasmWinogradTile, WINOGRAD_F4_MIN_CHANNELS, WINOGRAD_MIN_CHANNELS } from './kernels/winogradTraining.js';
export { fusedMultiplyAddAvailable, setWasmFusedMultiplyAdd, wasmFusedMultiplyAdd, withWasmFusedMultiplyAdd } from './kernels/fusedMultiplyAdd.js';
export { setFusedHem } from './backends/native/hemUnroll.js';
export { stopGradient } from './ops/stopGradient.js';
export { installKernels, uninstallKernels, kernelsInstalled, WASM_KERNEL_NAMES } from './kernels/index.js';
export { flushSubnormalWeights, FLOAT32_MIN_NORMAL } from './kernels/denormals.js';

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
export { HemHead, hemHead, HEM_PRESETS, HEM_HEAD_SCHEMA, LEGACY_PRESET_NAMES, presetName, resolveHemHeadOptions } from './layers/hemHead.js';
export type { HemHeadOptions, HemHeadConfig, HemPreset, LegacyHemPreset, ResolvedHemHeadOptions } from './layers/hemHead.js';
export { BilinearUpsample } from './layers/resize.js';
export { Dropout, setDropoutStream } from './layers/dropout.js';
export type { DropoutArgs } from './layers/dropout.js';
export type { BilinearUpsampleConfig } from './layers/resize.js';

// Models, data, metrics, plots, training
export * from './models/index.js';
export * from './data/index.js';
export * from './metrics/index.js';
export * from './plots/index.js';
export * from './train/index.js';

// Inference on images of any size (whole image / sliding window) and one-line segmentation
export { inferProbabilities, resolveInference, slidingWindows, modelInputSize, INFERENCE_MODES } from './infer/inference.js';
export type { InferenceMode, InferenceOptions, InferenceTarget, ResolvedInference } from './infer/inference.js';
export { foldInference, FoldedInference, sharedFoldedInference, releaseFoldedInference } from './infer/folded.js';
export type { FoldOptions, FoldSummary } from './infer/folded.js';
export {
  segment,
  segmentSync,
  loadSegmenterFromUrl,
  loadSegmenterFromUrl as loadSegmenter,
  createSegmenter,
  checkSegmenterInfo,
  defaultSegmenterInfo,
  imageToPixelTensor,
  SEGMENTER_FILE,
  SEGMENTER_FORMAT,
  SEGMENTER_VERSION,
} from './infer/segment.js';
export type { Segmenter, SegmenterInfo, SegmentInput, SegmentOptions, SegmentResult, PixelImage } from './infer/segment.js';
export { segmenterInfoForRun, runClassNames, runNormalization } from './infer/runInfo.js';

// GradNets
export * from './gradnets/index.js';

// PyTorch interop (safetensors, torchvision / EMANet / mmseg name maps)
export * from './interop/index.js';

// Interop: ONNX out
export * from './interop/onnx/index.js';
