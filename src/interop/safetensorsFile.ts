/** Node-only: reads a `.safetensors` file from disk (`hemnet/node`). */
import { readFile } from 'node:fs/promises';
import { parseSafetensors, type SafetensorsFile } from './safetensors.js';

/** Reads and parses a safetensors file; errors name the path. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  if (typeof path !== 'string' || path === '') throw new Error(`readSafetensorsFile: 'path' must be a non-empty string, received ${JSON.stringify(path)}`);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new Error(`readSafetensorsFile: cannot read '${path}': ${(error as Error).message}`);
  }
  return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}
