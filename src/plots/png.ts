/**
 * PNG output with sharp (an optional peer dependency, loaded on first use). Node only.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadSharp } from '../io/sharp.js';
import type { RgbaImage } from './image.js';

/** Encodes an RGBA image as PNG bytes. */
export async function encodePng(image: RgbaImage): Promise<Buffer> {
  const { data, width, height } = image;
  if (data.length !== width * height * 4) {
    throw new Error(`encodePng: 'image.data' must have ${width}×${height}×4 = ${width * height * 4} bytes, received ${data.length}`);
  }
  const sharp = await loadSharp('encodePng (writing PNG files)');
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.length), { raw: { width, height, channels: 4 } }).png().toBuffer();
}

/** Writes an RGBA image to a PNG file (creating the folder). */
export async function writePng(path: string, image: RgbaImage): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await encodePng(image));
}

/** Renders an SVG string to PNG bytes (`density` 72 = 1 SVG unit per pixel). */
export async function svgToPng(svg: string, density = 72): Promise<Buffer> {
  if (typeof svg !== 'string' || !svg.includes('<svg')) {
    throw new Error(`svgToPng: 'svg' must be an SVG document string, received ${typeof svg === 'string' ? `'${svg.slice(0, 40)}'` : typeof svg}`);
  }
  const sharp = await loadSharp('svgToPng (rendering SVG charts)');
  try {
    return await sharp(Buffer.from(svg), { density }).png().toBuffer();
  } catch (error) {
    throw new Error(`svgToPng: cannot render the SVG: ${(error as Error).message}`);
  }
}

/** Renders an SVG string to a PNG file (creating the folder). */
export async function writeSvgPng(path: string, svg: string, density = 72): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await svgToPng(svg, density));
}
