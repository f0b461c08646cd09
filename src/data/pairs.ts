/**
 * The contract between dataset *layouts* (VOC, Cityscapes, ADE20K, a folder
 * of image/mask pairs) and dataset *readers* (in memory, or streaming with a
 * bounded cache). A layout only lists files and says how a mask's values
 * become class indices; a reader decodes them. Platform-neutral (paths are
 * plain strings; only Node readers open them).
 */

/** One image and its mask, as files. */
export interface ImageMaskPair {
  /** Identifier for messages and file names (unique within a split). */
  id: string;
  imagePath: string;
  maskPath: string;
}

/**
 * How mask pixels map to class indices:
 * - 'color': an RGB/palette mask whose colours are looked up in `palette`
 *   (index = class; an unknown colour is an error naming the file);
 * - 'index': a grey mask whose value v becomes `lookup[v]` (identity when
 *   `lookup` is absent), e.g. Cityscapes labelIds → trainIds, ADE20K 0 → ignore.
 */
export type MaskEncoding =
  | { kind: 'color'; palette: readonly (readonly [number, number, number])[]; ignoreColor?: readonly [number, number, number] }
  | { kind: 'index'; lookup?: Uint8Array };

/** A layout's answer for one split: the files, the label encoding and the metadata. */
export interface DatasetLayout {
  /** Layout name, e.g. 'voc', 'cityscapes', 'ade20k', 'folder'. */
  name: string;
  split: string;
  pairs: readonly ImageMaskPair[];
  mask: MaskEncoding;
  numClasses: number;
  classNames: readonly string[];
  ignoreLabel: number;
  /** Colours for figures, one per class. */
  palette: readonly (readonly [number, number, number])[];
}
