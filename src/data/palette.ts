/**
 * The PASCAL VOC colour map: class index → RGB, made bitwise from the index
 * (bits 0/1/2 of the index feed the top bits of R/G/B, three bits per round).
 * Index 255 (the ignore label) comes out as (224, 224, 192), the VOC border
 * colour. Platform-neutral.
 */

/** The 21 PASCAL VOC class names, background first. */
export const VOC_CLASS_NAMES: readonly string[] = [
  'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
];

/** RGB colour of one class index (0..255) in the VOC colour map. */
export function vocColor(index: number): [number, number, number] {
  if (!Number.isInteger(index) || index < 0 || index > 255) {
    throw new Error(`vocColor: 'index' must be an integer in [0, 255], received ${index}`);
  }
  let r = 0;
  let g = 0;
  let b = 0;
  let c = index;
  for (let shift = 7; shift >= 0 && c > 0; shift--) {
    r |= (c & 1) << shift;
    g |= ((c >> 1) & 1) << shift;
    b |= ((c >> 2) & 1) << shift;
    c >>= 3;
  }
  return [r, g, b];
}

/** The whole 256-entry colour map as a flat `[256, 3]` Uint8Array. */
export function vocColormap(): Uint8Array {
  const map = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) map.set(vocColor(i), 3 * i);
  return map;
}

let colorToIndex: Map<number, number> | undefined;

/**
 * Maps VOC-coloured mask pixels (`[H·W, channels]`, channels ≥ 3, alpha ignored)
 * back to class indices 0..255 (the border colour 224,224,192 → 255).
 * Returns the labels and the first pixel whose colour is not in the map (−1 if none).
 */
export function vocColorsToLabels(pixels: Uint8Array, channels: number): { labels: Uint8Array; unknownAt: number } {
  if (!Number.isInteger(channels) || channels < 3 || pixels.length % channels !== 0) {
    throw new Error(`vocColorsToLabels: 'channels' must be an integer ≥ 3 dividing the pixel count, received ${channels} for ${pixels.length} values`);
  }
  if (colorToIndex === undefined) {
    colorToIndex = new Map();
    for (let i = 0; i < 256; i++) {
      const [r, g, b] = vocColor(i);
      colorToIndex.set((r << 16) | (g << 8) | b, i);
    }
  }
  const count = pixels.length / channels;
  const labels = new Uint8Array(count);
  for (let p = 0; p < count; p++) {
    const o = p * channels;
    const key = ((pixels[o] as number) << 16) | ((pixels[o + 1] as number) << 8) | (pixels[o + 2] as number);
    const index = colorToIndex.get(key);
    if (index === undefined) return { labels, unknownAt: p };
    labels[p] = index;
  }
  return { labels, unknownAt: -1 };
}
