export { ConfusionMatrix } from './confusion.js';
export type { ConfusionMatrixJSON, LabelArray } from './confusion.js';
