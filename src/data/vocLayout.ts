/**
 * PASCAL VOC as a `DatasetLayout` (Node only: reads the split list). Lists
 * files only; nothing is decoded, so this costs one read of the list however
 * large the split is. Layout under `root`:
 *   JPEGImages/<id>.jpg, SegmentationClass/<id>.png,
 *   ImageSets/Segmentation/<split>.txt (one id per line).
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { VOC_CLASS_NAMES, vocColor } from './palette.js';
import type { DatasetLayout, ImageMaskPair } from './pairs.js';

export interface VocLayoutOptions {
  /** Name of the list in ImageSets/Segmentation (e.g. 'train', 'val', 'trainval'). */
  split: string;
  /** Classes including background. Default 21. */
  numClasses?: number;
  /** Names, length numClasses. Default: the VOC names when numClasses = 21, else 'class0'… */
  classNames?: readonly string[];
  /** 'color' (default): VOC colour-map masks; 'index': grey masks holding class indices (SegmentationClassAug). */
  maskFormat?: 'color' | 'index';
  /** Mask folder under the root. Default 'SegmentationClass'. */
  maskDir?: string;
  /** Only the first `limit` ids of the list. */
  limit?: number;
  /** Called for a bad id (path separator, '..', duplicate), which is then skipped; default: throw. For scans that list every problem. */
  onBadId?: (message: string) => void;
}

function kind(path: string): 'folder' | 'file' | 'missing' | 'unreadable' {
  try {
    return statSync(path).isDirectory() ? 'folder' : 'file';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'missing' : 'unreadable';
  }
}

function requireFolder(fn: string, path: string): void {
  const k = kind(path);
  if (k !== 'folder') throw new Error(`${fn}: folder '${path}' ${k === 'file' ? 'is a file, not a folder' : k === 'missing' ? 'does not exist' : 'cannot be read'}`);
}

/**
 * An id from a split list, checked so that `<folder>/<id>.<ext>` stays inside
 * its folder: no path separators, no '.'/'..', no NUL, no leading '-'.
 */
export function checkSampleId(fn: string, id: string, where: string): void {
  if (/[/\\\0]/.test(id) || id === '.' || id === '..' || id.includes('..') || isAbsolute(id)) {
    throw new Error(`${fn}: id ${JSON.stringify(id)} at ${where} is not a plain file name (no '/', '\\', '..' or NUL); it would leave the dataset folder`);
  }
}

function inside(folder: string, path: string): boolean {
  const rel = relative(resolve(folder), resolve(path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** The VOC split's pairs, mask encoding and class metadata. */
export function vocLayout(root: string, options: VocLayoutOptions): DatasetLayout {
  const fn = 'vocLayout';
  if (typeof root !== 'string' || root === '') throw new Error(`${fn}: 'root' must be a folder path, received ${JSON.stringify(root)}`);
  const { split, numClasses = 21, maskFormat = 'color', limit, maskDir = 'SegmentationClass' } = options;
  if (typeof maskDir !== 'string' || !/^[\w.-]+$/.test(maskDir) || maskDir.includes('..')) {
    throw new Error(`${fn}: 'maskDir' must be a folder name under the root such as 'SegmentationClassAug', received ${JSON.stringify(maskDir)}`);
  }
  if (typeof split !== 'string' || !/^[\w.-]+$/.test(split) || split.includes('..')) {
    throw new Error(`${fn}: 'split' must be a list name such as 'train' or 'val', received ${JSON.stringify(split)}`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 2 || numClasses > 255) throw new Error(`${fn}: 'numClasses' must be an integer in [2, 255], received ${numClasses}`);
  if (maskFormat !== 'color' && maskFormat !== 'index') throw new Error(`${fn}: 'maskFormat' must be 'color' or 'index', received '${String(maskFormat)}'`);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new Error(`${fn}: 'limit' must be a positive integer, received ${limit}`);
  const classNames = options.classNames ?? (numClasses === 21 ? VOC_CLASS_NAMES : Array.from({ length: numClasses }, (_, i) => `class${i}`));
  if (classNames.length !== numClasses) throw new Error(`${fn}: 'classNames' must have numClasses = ${numClasses} names, received ${classNames.length}`);

  requireFolder(fn, root);
  const images = join(root, 'JPEGImages');
  const masks = join(root, maskDir);
  for (const folder of [images, masks, join(root, 'ImageSets', 'Segmentation')]) requireFolder(fn, folder);
  const listPath = join(root, 'ImageSets', 'Segmentation', `${split}.txt`);
  let text: string;
  try {
    text = readFileSync(listPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${fn}: split list '${listPath}' ${code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code ?? (error as Error).message})`}`);
  }
  const pairs: ImageMaskPair[] = [];
  const seen = new Map<string, number>();
  let skipped = 0;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const id = (lines[n] as string).trim();
    if (id === '') continue;
    const where = `'${listPath}' line ${n + 1}`;
    const imagePath = join(images, `${id}.jpg`);
    const maskPath = join(masks, `${id}.png`);
    try {
      checkSampleId(fn, id, where);
      const first = seen.get(id);
      if (first !== undefined) throw new Error(`${fn}: id '${id}' at ${where} is listed twice (first at line ${first})`);
      if (!inside(images, imagePath) || !inside(masks, maskPath)) throw new Error(`${fn}: id '${id}' at ${where} would leave the dataset folder`);
    } catch (error) {
      if (options.onBadId === undefined) throw error;
      options.onBadId((error as Error).message);
      skipped++;
      continue;
    }
    seen.set(id, n + 1);
    pairs.push({ id, imagePath, maskPath });
    if (limit !== undefined && pairs.length >= limit) break;
  }
  if (pairs.length === 0) throw new Error(`${fn}: split list '${listPath}' holds no ${skipped > 0 ? 'valid ' : ''}ids`);
  const palette = Array.from({ length: 256 }, (_, i) => vocColor(i));
  return {
    name: 'voc',
    split,
    pairs,
    // The whole VOC colour map: a colour of a class ≥ numClasses decodes and is then reported as out of range.
    mask: maskFormat === 'color' ? { kind: 'color', palette: palette.slice(0, 255), ignoreColor: vocColor(255) } : { kind: 'index' },
    numClasses,
    classNames,
    ignoreLabel: 255,
    palette: palette.slice(0, numClasses),
  };
}
