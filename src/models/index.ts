/** Segmentation models: backbones, heads, the zoo and backbone weight transfer. */
export { BACKBONES, BACKBONE_NAMES, BACKBONE_OUTPUT_STRIDES, BACKBONE_PREFIX, compactBackbone, resnet50Backbone, resnet101Backbone, resnetBackbone, RESNET_BLOCKS } from './backbones.js';
export type { BackboneName, BackboneOutput, BackboneSpec, BackboneBuildOptions, CompactBackboneOptions, ResNet50BackboneOptions, ResNetBackboneOptions, ResNetDepth } from './backbones.js';
export { SeedSequence, convBnRelu } from './builders.js';
export { HEADS, HEAD_NAMES, HEM_OPTION_KEYS, SEGMENTATION_HEM_SCHEMA, buildAttentionHead, segmentationHead, fcnAuxHead } from './heads.js';
export type { HeadSpec, HeadName, SegmentationHemOptions, SegmentationHeadOptions, SegmentationHeadOutput, AuxHeadOptions } from './heads.js';
export { MODEL_SCHEMA, MODEL_CONFIG_KEYS, buildSegmentationModel, defaultModelConfig, validateModelConfig, countParameters, summarizeModel } from './zoo.js';
export type { SegmentationModelConfig, SegmentationModel, ParameterSelection } from './zoo.js';
export { loadBackboneWeights } from './transfer.js';
export type { LoadBackboneWeightsOptions, BackboneTransferReport } from './transfer.js';
