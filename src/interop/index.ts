/** PyTorch interop: the safetensors format, torch → hemnet name maps, the importer. */
export { parseSafetensors, encodeSafetensors, SAFETENSORS_DTYPES, SAFETENSORS_MAX_HEADER } from './safetensors.js';
export type { SafetensorsFile, TorchTensor, EncodableTensor } from './safetensors.js';
export { torchvisionResNetMapping, emanetMapping, mmsegEmaHeadMapping, torchMappingFor, TORCH_SOURCES } from './torchMaps.js';
export type {
  TorchMapping,
  TorchRule,
  ConvRule,
  BatchNormRule,
  HemRule,
  IgnoreRule,
  TorchSource,
  TorchvisionResNetMappingOptions,
  EmanetMappingOptions,
  MmsegEmaHeadMappingOptions,
} from './torchMaps.js';
export { importTorchWeights, formatImportReport, formatImportProblems, TORCH_BN_EPSILON } from './importTorch.js';
export type { ImportTorchOptions, TorchImportReport, LoadedTensor, TensorPair, ShapeMismatch } from './importTorch.js';
export { buildTorchvisionResNet, importTorchCheckpoint } from './torchModels.js';
export type { TorchvisionResNetModelOptions, ImportTorchCheckpointOptions, ImportedTorchModel } from './torchModels.js';
