/**
 * Decoding one image/mask pair of a `DatasetLayout` (Node only: sharp). The
 * streaming reader and `hemnet data check` share it, so both report a bad
 * file with the same words: the layout, the id, the file and what is wrong.
 */
import { loadSharp } from '../io/sharp.js';
import { resizeLabelNearest } from './augment.js';
import type { DatasetLayout, ImageMaskPair, MaskEncoding } from './pairs.js';

/** A decoded pair: RGB bytes `[H, W, 3]` and class indices `[H, W]`. */
export interface DecodedPair {
  id: string;
  rgb: Uint8Array;
  label: Uint8Array;
  height: number;
  width: number;
}

/** A bad pair found by decoding: which file and what is wrong. */
export class PairError extends Error {
  constructor(
    readonly id: string,
    readonly file: string,
    readonly problem: string,
    layoutName: string,
  ) {
    super(`${layoutName} dataset: ${problem} (id '${id}', file '${file}')`);
    this.name = 'PairError';
  }
}

/** Colour → class lookup of a 'color' encoding (key r<<16|g<<8|b). */
export type ColorLookup = Map<number, number>;

export function colorLookup(mask: MaskEncoding, ignoreLabel: number): ColorLookup | null {
  if (mask.kind !== 'color') return null;
  const map: ColorLookup = new Map();
  mask.palette.forEach(([r, g, b], index) => {
    const key = (r << 16) | (g << 8) | b;
    if (!map.has(key)) map.set(key, index);
  });
  if (mask.ignoreColor !== undefined) {
    const [r, g, b] = mask.ignoreColor;
    map.set((r << 16) | (g << 8) | b, ignoreLabel);
  }
  return map;
}

async function decodeRaw(path: string): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const sharp = await loadSharp('reading dataset masks');
  const { data, info } = await sharp(path, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
}

function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}

/** Class indices of a decoded mask, or a PairError naming the first bad pixel. */
function maskLabels(
  layout: DatasetLayout,
  pair: ImageMaskPair,
  mask: { data: Uint8Array; width: number; height: number; channels: number },
  lookup: ColorLookup | null,
): Uint8Array {
  const count = mask.width * mask.height;
  const label = new Uint8Array(count);
  const { channels, data } = mask;
  if (layout.mask.kind === 'color') {
    if (channels < 3 || lookup === null) {
      throw new PairError(pair.id, pair.maskPath, `the mask decodes to ${channels} channel(s); colour masks need RGB or a palette`, layout.name);
    }
    for (let p = 0; p < count; p++) {
      const o = p * channels;
      const index = lookup.get(((data[o] as number) << 16) | ((data[o + 1] as number) << 8) | (data[o + 2] as number));
      if (index === undefined) {
        throw new PairError(
          pair.id,
          pair.maskPath,
          `the mask has colour (${data[o]}, ${data[o + 1]}, ${data[o + 2]}) at pixel (${Math.floor(p / mask.width)}, ${p % mask.width}), which is not in the ${layout.name} colour map`,
          layout.name,
        );
      }
      label[p] = index;
    }
  } else {
    const table = layout.mask.lookup;
    for (let p = 0; p < count; p++) {
      const v = data[p * channels] as number;
      label[p] = table !== undefined ? (table[v] ?? layout.ignoreLabel) : v;
    }
  }
  for (let p = 0; p < count; p++) {
    const v = label[p] as number;
    if (v >= layout.numClasses && v !== layout.ignoreLabel) {
      throw new PairError(
        pair.id,
        pair.maskPath,
        `the mask has label ${v} at pixel (${Math.floor(p / mask.width)}, ${p % mask.width}), outside [0, ${layout.numClasses - 1}] for ${layout.numClasses} classes (${layout.ignoreLabel} = ignore)`,
        layout.name,
      );
    }
  }
  return label;
}

/**
 * Decodes one pair: the image to 3-channel sRGB, the mask to class indices,
 * both shrunk (never enlarged) so that the longer side is at most `maxSide`.
 * Throws a `PairError` for a file that is missing, not an image, truncated,
 * of another size than its partner, or with an unknown colour / label.
 */
export async function decodePair(layout: DatasetLayout, pair: ImageMaskPair, lookup: ColorLookup | null, maxSide?: number): Promise<DecodedPair> {
  // Outside the try below: a missing 'sharp' says what to install, it is not a bad file.
  const sharp = await loadSharp('reading dataset images');
  let image: Awaited<ReturnType<typeof decodeRaw>>;
  try {
    const { data, info } = await sharp(pair.imagePath, { failOn: 'truncated' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    image = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
  } catch (error) {
    throw new PairError(pair.id, pair.imagePath, `cannot decode the image: ${reason(error)}`, layout.name);
  }
  if (image.channels !== 3) throw new PairError(pair.id, pair.imagePath, `the image decodes to ${image.channels} channels, not RGB`, layout.name);
  let mask: Awaited<ReturnType<typeof decodeRaw>>;
  try {
    mask = await decodeRaw(pair.maskPath);
  } catch (error) {
    throw new PairError(pair.id, pair.maskPath, `cannot decode the mask: ${reason(error)}`, layout.name);
  }
  if (image.height !== mask.height || image.width !== mask.width) {
    throw new PairError(pair.id, pair.maskPath, `the mask is ${mask.height}×${mask.width} but its image is ${image.height}×${image.width} (height×width)`, layout.name);
  }
  let label = maskLabels(layout, pair, mask, lookup);
  let rgb = image.data;
  let { height, width } = image;
  if (maxSide !== undefined && Math.max(height, width) > maxSide) {
    const factor = maxSide / Math.max(height, width);
    const newHeight = Math.max(1, Math.round(height * factor));
    const newWidth = Math.max(1, Math.round(width * factor));
    const { data } = await sharp(rgb, { raw: { width, height, channels: 3 } }).resize(newWidth, newHeight, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
    rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
    label = resizeLabelNearest(label, height, width, newHeight, newWidth);
    height = newHeight;
    width = newWidth;
  }
  return { id: pair.id, rgb, label, height, width };
}
