/**
 * File-listing helpers the dataset layouts share (Node only). Every error
 * names the layout function, the folder or file, and what was expected.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageMaskPair } from '../pairs.js';

/** Throws unless `path` is a folder; `expected` says what the layout wanted there. */
export function requireFolder(fn: string, path: string, expected: string): void {
  if (!existsSync(path)) throw new Error(`${fn}: folder '${path}' does not exist (expected ${expected})`);
  if (!statSync(path).isDirectory()) throw new Error(`${fn}: '${path}' is not a folder (expected ${expected})`);
}

/** Sub-folder names of `path`, sorted. */
export async function subfolders(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

/** File names in `path` (not recursive) ending with one of `suffixes` (case-insensitive), sorted. */
export async function filesEndingWith(path: string, suffixes: readonly string[]): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true });
  const lower = suffixes.map((s) => s.toLowerCase());
  return entries
    .filter((e) => e.isFile() && lower.some((s) => e.name.toLowerCase().endsWith(s)))
    .map((e) => e.name)
    .sort();
}

/** The name without its last extension: 'a.b.png' → 'a.b'. */
export function stemOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * Pairs images and masks by key (both maps key → path). An image without a
 * mask, or a mask without an image, is an error naming the first few of
 * them; duplicated keys are an error too.
 */
export function pairByKey(
  fn: string,
  images: ReadonlyMap<string, string>,
  masks: ReadonlyMap<string, string>,
  where: { images: string; masks: string; maskFor: (key: string) => string },
): ImageMaskPair[] {
  const list = (keys: string[]): string => keys.slice(0, 3).map((k) => `'${k}'`).join(', ') + (keys.length > 3 ? ` and ${keys.length - 3} more` : '');
  const noMask = [...images.keys()].filter((k) => !masks.has(k));
  if (noMask.length > 0) {
    throw new Error(`${fn}: ${noMask.length} image(s) in '${where.images}' have no mask: ${list(noMask)} (expected e.g. '${where.maskFor(noMask[0] as string)}')`);
  }
  const noImage = [...masks.keys()].filter((k) => !images.has(k));
  if (noImage.length > 0) {
    throw new Error(`${fn}: ${noImage.length} mask(s) in '${where.masks}' have no image: ${list(noImage)}`);
  }
  return [...images.keys()].sort().map((id) => ({ id, imagePath: images.get(id) as string, maskPath: masks.get(id) as string }));
}

/** Adds key → path, failing on a duplicate key (e.g. 'a.png' and 'a.jpg'). */
export function addUnique(fn: string, map: Map<string, string>, key: string, path: string): void {
  const known = map.get(key);
  if (known !== undefined) throw new Error(`${fn}: two files share the name '${key}': '${known}' and '${path}'`);
  map.set(key, path);
}

export { join };
