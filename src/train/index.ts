/** Training and evaluation (platform-neutral). Node file helpers live in checkpointFiles.ts. */
export { segmentationCrossEntropy } from './loss.js';
export { polyLearningRate } from './schedule.js';
export { trainSegmentation, batchIndices, decayedVariables, DEFAULT_TRAIN_OPTIONS, AUXILIARY_LOSS_WEIGHT } from './loop.js';
export type { TrainOptions, TrainEvent, TrainSetup, TrainResult } from './loop.js';
export { captureCheckpoint, restoreModel, restoreOptimizer, modelArtifacts, checkManifest, CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from './checkpoint.js';
export type { Checkpoint, CheckpointManifest } from './checkpoint.js';
export { evaluateSegmentation, predictProbabilities, findHemHeads, withVariableInputSize, EvaluationRunner } from './evaluate.js';
export type { EvaluateOptions, EvaluationResult, EvaluationSettings, EvaluationWorkers } from './evaluate.js';
export { attentionMaps } from './attention.js';
export type { AttentionMapOptions, AttentionMaps } from './attention.js';
export { defaultRunConfig, mergeRunConfig, RUN_SCHEMA, TRAIN_SCHEMA, EVAL_SCHEMA } from './runConfig.js';
export type { RunConfig, PartialRunConfig, RunTrainConfig, EvalConfig } from './runConfig.js';
export { createOptimizer, optimizerName, ScheduledAdam, MomentumSgd, OPTIMIZER_NAMES, OPTIMIZERS } from './optimizer.js';
export type { OptimizerName, OptimizerSpec, TrainingOptimizer } from './optimizer.js';
export { measureTraining, headBasesUsage, datasetBasesUsage, backboneGradientNorm, backboneOutput, probeBatch, disposeProbe, formatBasesUsage, validationProbe, disposeValidationProbe, validationMetrics } from './monitor.js';
export type { HeadBasesUsage, TrainingMeasurement, ProbeBatch, ValidationProbe, ValidationMetrics } from './monitor.js';
export { RUN_PRESETS, presetRunConfig } from './presets.js';
export type { RunPreset } from './presets.js';
