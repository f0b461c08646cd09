/**
 * A generic folder of image/mask pairs with a class list, as a
 * `DatasetLayout`. Node only.
 *
 *   <root>/images[/<split>]/<stem>.{png,jpg,jpeg}
 *   <root>/masks[/<split>]/<stem><maskSuffix>.png
 *   <root>/classes.json | classes.txt
 *
 * Images and masks are matched by file stem. The class list is either a
 * text file (one name per line; blank lines and `#` comments skipped) or
 * JSON: `["background", "cat", …]`, `[{ "name": "cat", "color": [r, g, b] }, …]`
 * or `{ "classes": [...], "palette": [[r, g, b], …], "ignoreLabel": 255,
 * "maskEncoding": "index" | "color" }`. Masks are grey class indices
 * ('index', the default; `ignoreLabel` marks unlabelled pixels) or RGB
 * colours of the palette ('color', needs a colour per class).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, join } from 'node:path';
import { vocColor } from '../palette.js';
import type { DatasetLayout, MaskEncoding } from '../pairs.js';
import { addUnique, filesEndingWith, pairByKey, requireFolder, stemOf, subfolders } from './files.js';

const FN = 'folderLayout';
type Rgb = readonly [number, number, number];

export interface FolderLayoutOptions {
  /** A sub-folder of images/ and masks/ (e.g. 'train'); absent: the files sit in images/ and masks/ directly. */
  split?: string;
  /** Image folder under root. Default 'images'. */
  images?: string;
  /** Mask folder under root. Default 'masks'. */
  masks?: string;
  /** Class list file (relative to root, or absolute). Default: root/classes.json, else root/classes.txt. */
  classes?: string;
  /** Mask stem = image stem + this (e.g. '_mask'). Default ''. */
  maskSuffix?: string;
}

export interface ClassList {
  classNames: string[];
  palette: Rgb[];
  ignoreLabel: number;
  maskEncoding: 'index' | 'color';
}

function checkColor(file: string, where: string, value: unknown): Rgb {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new Error(`${FN}: class list '${file}': ${where} must be [r, g, b] with integers 0..255, received ${JSON.stringify(value)}`);
  }
  return [value[0] as number, value[1] as number, value[2] as number];
}

/** Parses a class list (text or JSON, by extension) and checks it. */
export function parseClassList(file: string, text: string): ClassList {
  let names: unknown[];
  let colors: (Rgb | null)[] = [];
  let ignoreLabel: unknown = 255;
  let maskEncoding: unknown = 'index';
  if (extname(file).toLowerCase() === '.json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`${FN}: class list '${file}' is not valid JSON: ${(error as Error).message}`);
    }
    if (Array.isArray(parsed) && parsed.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e))) {
      names = parsed.map((e: { name?: unknown }) => e.name);
      colors = parsed.map((e: { color?: unknown }, i) => (e.color === undefined ? null : checkColor(file, `class ${i} 'color'`, e.color)));
    } else if (Array.isArray(parsed)) {
      names = parsed;
    } else if (typeof parsed === 'object' && parsed !== null) {
      const o = parsed as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        if (!['classes', 'palette', 'ignoreLabel', 'maskEncoding'].includes(key)) {
          throw new Error(`${FN}: class list '${file}' has unknown key '${key}' (valid: classes, palette, ignoreLabel, maskEncoding)`);
        }
      }
      if (!Array.isArray(o['classes'])) throw new Error(`${FN}: class list '${file}' needs 'classes': an array of names, received ${JSON.stringify(o['classes'])}`);
      names = o['classes'];
      if (o['palette'] !== undefined) {
        if (!Array.isArray(o['palette']) || o['palette'].length !== names.length) {
          throw new Error(`${FN}: class list '${file}': 'palette' must have one colour per class (${names.length}), received ${JSON.stringify(o['palette'])}`);
        }
        colors = o['palette'].map((c, i) => checkColor(file, `palette[${i}]`, c));
      }
      if (o['ignoreLabel'] !== undefined) ignoreLabel = o['ignoreLabel'];
      if (o['maskEncoding'] !== undefined) maskEncoding = o['maskEncoding'];
    } else {
      throw new Error(`${FN}: class list '${file}' must be an array of names or an object with 'classes', received ${JSON.stringify(parsed)}`);
    }
  } else {
    names = text.split(/\r?\n/).map((line) => line.replace(/#.*$/, '').trim()).filter((line) => line !== '');
  }
  if (names.length === 0) throw new Error(`${FN}: class list '${file}' is empty`);
  names.forEach((name, i) => {
    if (typeof name !== 'string' || name.trim() === '') throw new Error(`${FN}: class list '${file}': class ${i} must be a non-empty name, received ${JSON.stringify(name)}`);
  });
  const classNames = names as string[];
  const seen = new Set<string>();
  for (const name of classNames) {
    if (seen.has(name)) throw new Error(`${FN}: class list '${file}' names '${name}' twice`);
    seen.add(name);
  }
  if (maskEncoding !== 'index' && maskEncoding !== 'color') throw new Error(`${FN}: class list '${file}': 'maskEncoding' must be 'index' or 'color', received ${JSON.stringify(maskEncoding)}`);
  if (typeof ignoreLabel !== 'number' || !Number.isInteger(ignoreLabel) || ignoreLabel < 0 || ignoreLabel > 255) {
    throw new Error(`${FN}: class list '${file}': 'ignoreLabel' must be an integer 0..255, received ${JSON.stringify(ignoreLabel)}`);
  }
  if (classNames.length > ignoreLabel) {
    throw new Error(`${FN}: class list '${file}' has ${classNames.length} classes; at most ${ignoreLabel} fit below the ignore label ${ignoreLabel}`);
  }
  if (maskEncoding === 'color' && (colors.length !== classNames.length || colors.some((c) => c === null))) {
    throw new Error(`${FN}: class list '${file}': 'color' masks need a colour for every class`);
  }
  const palette = classNames.map((_, i) => colors[i] ?? vocColor(i));
  if (maskEncoding === 'color') {
    const keys = new Map<string, number>();
    palette.forEach((c, i) => {
      const key = c.join(',');
      const other = keys.get(key);
      if (other !== undefined) throw new Error(`${FN}: class list '${file}': classes ${other} and ${i} share the colour [${key}]`);
      keys.set(key, i);
    });
  }
  return { classNames, palette, ignoreLabel, maskEncoding };
}

async function readClassList(root: string, option: string | undefined): Promise<{ file: string; list: ClassList }> {
  let file: string;
  if (option !== undefined) {
    file = isAbsolute(option) ? option : join(root, option);
    if (!existsSync(file)) throw new Error(`${FN}: class list '${file}' does not exist`);
  } else {
    const found = ['classes.json', 'classes.txt'].map((name) => join(root, name)).find((path) => existsSync(path));
    if (found === undefined) throw new Error(`${FN}: no class list in '${root}' (expected classes.json or classes.txt, or pass 'classes')`);
    file = found;
  }
  return { file, list: parseClassList(file, await readFile(file, 'utf8')) };
}

/** Lists a folder of image/mask pairs with its class list. */
export async function folderLayout(root: string, options: FolderLayoutOptions = {}): Promise<DatasetLayout> {
  if (typeof root !== 'string' || root === '') throw new Error(`${FN}: 'root' must be a folder path, received ${JSON.stringify(root)}`);
  for (const key of Object.keys(options)) {
    if (!['split', 'images', 'masks', 'classes', 'maskSuffix'].includes(key)) throw new Error(`${FN}: unknown option '${key}' (valid: split, images, masks, classes, maskSuffix)`);
  }
  requireFolder(FN, root, 'a dataset folder with images/, masks/ and a class list');
  const imageBase = join(root, options.images ?? 'images');
  const maskBase = join(root, options.masks ?? 'masks');
  requireFolder(FN, imageBase, 'the images (<stem>.png or .jpg)');
  requireFolder(FN, maskBase, 'the masks (<stem>.png)');
  let imageDir = imageBase;
  let maskDir = maskBase;
  if (options.split !== undefined) {
    const splits = await subfolders(imageBase);
    if (!splits.includes(options.split)) {
      throw new Error(`${FN}: unknown split ${JSON.stringify(options.split)} (splits in '${imageBase}': ${splits.map((s) => `'${s}'`).join(', ') || 'none'})`);
    }
    imageDir = join(imageBase, options.split);
    maskDir = join(maskBase, options.split);
    requireFolder(FN, maskDir, `the masks of split '${options.split}'`);
  }
  const { list } = await readClassList(root, options.classes);
  const suffix = options.maskSuffix ?? '';
  const images = new Map<string, string>();
  const masks = new Map<string, string>();
  for (const name of await filesEndingWith(imageDir, ['.png', '.jpg', '.jpeg'])) addUnique(FN, images, stemOf(name), join(imageDir, name));
  for (const name of await filesEndingWith(maskDir, [`${suffix}.png`])) addUnique(FN, masks, stemOf(name).slice(0, stemOf(name).length - suffix.length), join(maskDir, name));
  if (images.size === 0) throw new Error(`${FN}: no images (*.png, *.jpg) in '${imageDir}'`);
  const pairs = pairByKey(FN, images, masks, { images: imageDir, masks: maskDir, maskFor: (id) => join(maskDir, `${id}${suffix}.png`) });
  const mask: MaskEncoding = list.maskEncoding === 'color' ? { kind: 'color', palette: list.palette } : { kind: 'index' };
  return {
    name: 'folder',
    split: options.split ?? 'all',
    pairs,
    mask,
    numClasses: list.classNames.length,
    classNames: list.classNames,
    ignoreLabel: list.ignoreLabel,
    palette: list.palette,
  };
}
