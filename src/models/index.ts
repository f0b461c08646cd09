/** Segmentation models: backbones, heads, the zoo and backbone weight transfer. */
export { BACKBONE_NAMES, BACKBONE_OUTPUT_STRIDES, BACKBONE_PREFIX, compactBackbone, resnet50Backbone, resnet101Backbone, resnetBackbone, RESNET_BLOCKS } from './backbones.js';
export type { BackboneName, BackboneOutput, CompactBackboneOptions, ResNet50BackboneOptions, ResNetBackboneOptions, ResNetDepth } from './backbones.js';
export { HEAD_NAMES, HEM_OPTION_KEYS, segmentationHead, fcnAuxHead } from './heads.js';
export type { HeadName, SegmentationHemOptions, SegmentationHeadOptions, SegmentationHeadOutput, AuxHeadOptions } from './heads.js';
export { MODEL_CONFIG_KEYS, buildSegmentationModel, defaultModelConfig, validateModelConfig, countParameters, summarizeModel } from './zoo.js';
export type { SegmentationModelConfig, SegmentationModel, ParameterSelection } from './zoo.js';
export { loadBackboneWeights } from './transfer.js';
export type { LoadBackboneWeightsOptions, BackboneTransferReport } from './transfer.js';
