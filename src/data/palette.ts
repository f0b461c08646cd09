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
