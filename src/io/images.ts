/**
 * Image files and encoded bytes → RGB pixels at the image's own size, with
 * sharp (loaded on first use). Node only.
 */
import { loadSharp } from './sharp.js';

/** RGB bytes, row-major [height, width, 3]. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

/**
 * Decodes a JPEG/PNG/WebP/… file path or encoded bytes to RGB (alpha
 * dropped, grey expanded). `fn` names the caller in errors.
 */
export async function decodeImage(source: string | Uint8Array, fn = 'decodeImage'): Promise<RgbImage> {
  if (typeof source !== 'string' && !(source instanceof Uint8Array)) {
    throw new Error(`${fn}: 'image' must be a file path or encoded image bytes (Buffer), received ${typeof source}`);
  }
  const sharp = await loadSharp(`${fn} (decoding images)`);
  const what = typeof source === 'string' ? `image '${source}'` : `image bytes (${source.length} bytes)`;
  try {
    const { data, info } = await sharp(source).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
  } catch (error) {
    throw new Error(`${fn}: cannot read ${what}: ${(error as Error).message}`);
  }
}
