/**
 * `sharp` (JPEG/PNG decoding and encoding, ~17 MB of native binaries) is an
 * optional peer dependency: only Node code paths that read or write image
 * files load it, on first use, so `hemnet` in a browser app, or a Node app
 * that never touches image files, does not need it. Node only.
 */
import type SharpModule from 'sharp';

export type Sharp = typeof SharpModule;

let cached: Sharp | null = null;

/** Whether `error` says that the package `name` itself could not be found (not one of its files). */
export function isMissingPackage(error: unknown, name: string): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    (e.message.includes(`'${name}'`) || e.message.includes(`"${name}"`))
  );
}

/**
 * The `sharp` function, imported on first use. `purpose` names the caller
 * in the error when the package is missing, e.g. "loadVocDataset (reading VOC images)".
 */
export async function loadSharp(purpose: string): Promise<Sharp> {
  if (cached !== null) return cached;
  let module: unknown;
  try {
    module = await import('sharp');
  } catch (error) {
    if (isMissingPackage(error, 'sharp')) {
      throw new Error(`${purpose} needs the optional package 'sharp', which is not installed (npm install sharp)`);
    }
    throw new Error(`${purpose}: cannot load the package 'sharp': ${(error as Error).message}`);
  }
  cached = ((module as { default?: Sharp }).default ?? module) as Sharp;
  return cached;
}
