/**
 * The command implementations live in one file each under `commands/`;
 * this module re-exports them for code that imported them from here.
 */
export type { Output } from './command.js';
export { trainCommand, prepareRunFolder, buildRun, runTraining, writeArtefacts } from './commands/train.js';
export type { TrainCommandOptions, PreparedRunFolder, TrainRun, TrainingOutcome } from './commands/train.js';
export { evalCommand } from './commands/eval.js';
export { predictCommand } from './commands/predict.js';
export { infoCommand } from './commands/info.js';
