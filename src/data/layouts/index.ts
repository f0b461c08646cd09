/** Dataset layouts (Node only: they list folders): Cityscapes, ADE20K, a generic folder of image/mask pairs. */
export { cityscapesLayout, cityscapesLabelIdLookup, CITYSCAPES_CLASS_NAMES, CITYSCAPES_PALETTE } from './cityscapes.js';
export type { CityscapesLayoutOptions } from './cityscapes.js';
export { ade20kLayout, ade20kLookup, ADE20K_CLASS_NAMES, ADE20K_PALETTE } from './ade20k.js';
export type { Ade20kLayoutOptions } from './ade20k.js';
export { folderLayout, parseClassList } from './folder.js';
export type { FolderLayoutOptions, ClassList } from './folder.js';
