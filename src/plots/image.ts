/**
 * Raster figures as raw RGBA images (platform-neutral): colour-mapped
 * segmentation masks, de-normalised images, mask overlays, and tiled
 * heatmaps of attention maps with the viridis colour map.
 * Write them with `writePng` (png.ts, Node) or draw them on a canvas.
 */
import { vocColor } from '../data/palette.js';

/** Row-major RGBA bytes, `[height, width, 4]`. */
export interface RgbaImage {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

export type Rgb = readonly [number, number, number];

function checkDims(fn: string, height: number, width: number): void {
  if (!Number.isInteger(height) || height < 1 || !Number.isInteger(width) || width < 1) {
    throw new Error(`${fn}: 'height' and 'width' must be positive integers, received ${height} × ${width}`);
  }
}

/** A blank image filled with one colour (default opaque white). */
export function createRgbaImage(width: number, height: number, fill: readonly [number, number, number, number] = [255, 255, 255, 255]): RgbaImage {
  checkDims('createRgbaImage', height, width);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set(fill, 4 * p);
  return { data, width, height };
}

/**
 * viridis (matplotlib's perceptually uniform map), as 10 evenly spaced
 * anchor colours (the values R's viridisLite prints for viridis(10))
 * linearly interpolated. t is clamped to [0, 1]; returns 0..255 RGB.
 */
const VIRIDIS_ANCHORS: readonly Rgb[] = [
  [0x44, 0x01, 0x54], [0x48, 0x28, 0x78], [0x3e, 0x4a, 0x89], [0x31, 0x68, 0x8e], [0x26, 0x82, 0x8e],
  [0x1f, 0x9e, 0x89], [0x35, 0xb7, 0x79], [0x6d, 0xcd, 0x59], [0xb4, 0xde, 0x2c], [0xfd, 0xe7, 0x25],
];

export function viridis(t: number): [number, number, number] {
  const x = Number.isNaN(t) ? 0 : Math.min(1, Math.max(0, t)) * (VIRIDIS_ANCHORS.length - 1);
  const i = Math.min(VIRIDIS_ANCHORS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS_ANCHORS[i] as Rgb;
  const b = VIRIDIS_ANCHORS[i + 1] as Rgb;
  return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
}

export interface MaskColorOptions {
  /** Label drawn in `ignoreColor`. Default 255. */
  ignoreLabel?: number;
  /** Default white. */
  ignoreColor?: Rgb;
  /** Class → colour. Default the VOC colour map. */
  palette?: (classIndex: number) => Rgb;
}

/** Labels `[height, width]` → RGBA with the VOC palette (ignore label → white). */
export function colorizeMask(label: ArrayLike<number>, height: number, width: number, options: MaskColorOptions = {}): RgbaImage {
  checkDims('colorizeMask', height, width);
  if (label.length !== height * width) {
    throw new Error(`colorizeMask: 'label' must have ${height}×${width} = ${height * width} values, received ${label.length}`);
  }
  const ignoreLabel = options.ignoreLabel ?? 255;
  const ignoreColor = options.ignoreColor ?? [255, 255, 255];
  const palette = options.palette ?? ((c: number) => vocColor(c));
  const cache = new Map<number, Rgb>();
  const out = new Uint8ClampedArray(height * width * 4);
  for (let p = 0; p < label.length; p++) {
    const v = label[p] as number;
    let color = cache.get(v);
    if (color === undefined) {
      color = v === ignoreLabel ? ignoreColor : palette(v);
      cache.set(v, color);
    }
    out[4 * p] = color[0];
    out[4 * p + 1] = color[1];
    out[4 * p + 2] = color[2];
    out[4 * p + 3] = 255;
  }
  return { data: out, width, height };
}

/**
 * A normalised image `[height, width, channels]` (1 or 3 channels) → RGBA.
 * With `mean`/`std` it is de-normalised (pixel·std + mean, in [0, 1]);
 * without, it is min-max scaled.
 */
export function imageToRgba(
  image: Float32Array,
  height: number,
  width: number,
  channels: number,
  options: { mean?: readonly number[]; std?: readonly number[] } = {},
): RgbaImage {
  checkDims('imageToRgba', height, width);
  if (channels !== 1 && channels !== 3) throw new Error(`imageToRgba: 'channels' must be 1 or 3, received ${channels}`);
  if (image.length !== height * width * channels) {
    throw new Error(`imageToRgba: 'image' must have ${height}×${width}×${channels} = ${height * width * channels} values, received ${image.length}`);
  }
  let map: (v: number, c: number) => number;
  if (options.mean !== undefined || options.std !== undefined) {
    const mean = options.mean ?? new Array<number>(channels).fill(0);
    const std = options.std ?? new Array<number>(channels).fill(1);
    if (mean.length !== channels || std.length !== channels) {
      throw new Error(`imageToRgba: 'mean' and 'std' must have ${channels} values, received ${mean.length} and ${std.length}`);
    }
    map = (v, c) => 255 * (v * (std[c] as number) + (mean[c] as number));
  } else {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of image) {
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    const range = hi > lo ? hi - lo : 1;
    map = (v) => (255 * (v - (Number.isFinite(lo) ? lo : 0))) / range;
  }
  const out = new Uint8ClampedArray(height * width * 4);
  for (let p = 0; p < height * width; p++) {
    for (let c = 0; c < 3; c++) {
      const source = channels === 1 ? 0 : c;
      out[4 * p + c] = Math.round(map(image[p * channels + source] as number, source));
    }
    out[4 * p + 3] = 255;
  }
  return { data: out, width, height };
}

/**
 * Blends mask colours over an image: out = (1 − alpha)·image + alpha·colour,
 * on pixels whose label is not background (unless `includeBackground`) and not ignored.
 */
export function overlayMask(
  base: RgbaImage,
  label: ArrayLike<number>,
  options: MaskColorOptions & { alpha?: number; includeBackground?: boolean } = {},
): RgbaImage {
  const { width, height } = base;
  if (label.length !== width * height) {
    throw new Error(`overlayMask: 'label' must have ${height}×${width} = ${width * height} values like the image, received ${label.length}`);
  }
  const alpha = options.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlayMask: 'alpha' must be in [0, 1], received ${alpha}`);
  const colors = colorizeMask(label, height, width, options);
  const ignoreLabel = options.ignoreLabel ?? 255;
  const out = new Uint8ClampedArray(base.data);
  for (let p = 0; p < width * height; p++) {
    const v = label[p] as number;
    if (v === ignoreLabel || (v === 0 && options.includeBackground !== true)) continue;
    for (let c = 0; c < 3; c++) {
      out[4 * p + c] = Math.round((1 - alpha) * (base.data[4 * p + c] as number) + alpha * (colors.data[4 * p + c] as number));
    }
  }
  return { data: out, width, height };
}

/** Places images on a grid, row by row, `gap` pixels apart, on `background`. */
export function tileImages(
  images: readonly RgbaImage[],
  options: { columns?: number; gap?: number; background?: readonly [number, number, number, number] } = {},
): RgbaImage {
  if (images.length === 0) throw new Error("tileImages: 'images' must hold at least one image, received 0");
  const columns = options.columns ?? Math.ceil(Math.sqrt(images.length));
  const gap = options.gap ?? 2;
  if (!Number.isInteger(columns) || columns < 1) throw new Error(`tileImages: 'columns' must be a positive integer, received ${columns}`);
  if (!Number.isInteger(gap) || gap < 0) throw new Error(`tileImages: 'gap' must be a non-negative integer, received ${gap}`);
  const cellW = Math.max(...images.map((im) => im.width));
  const cellH = Math.max(...images.map((im) => im.height));
  const cols = Math.min(columns, images.length);
  const rows = Math.ceil(images.length / cols);
  const out = createRgbaImage(cols * cellW + (cols - 1) * gap, rows * cellH + (rows - 1) * gap, options.background ?? [255, 255, 255, 255]);
  images.forEach((im, k) => {
    const ox = (k % cols) * (cellW + gap);
    const oy = Math.floor(k / cols) * (cellH + gap);
    for (let y = 0; y < im.height; y++) {
      out.data.set(im.data.subarray(y * im.width * 4, (y + 1) * im.width * 4), ((oy + y) * out.width + ox) * 4);
    }
  });
  return out;
}

export interface HeatmapGridOptions {
  /** Maps per row. Default ⌈√K⌉. */
  columns?: number;
  /** Pixels between maps. Default 2. */
  gap?: number;
  /** Integer nearest-neighbour upscaling of each map. Default 1. */
  scale?: number;
  /** 'each': every map scaled to its own [min, max]; 'all': one range for all. Default 'each'. */
  normalize?: 'each' | 'all';
  /** Colour for non-finite values. Default mid grey. */
  nanColor?: Rgb;
}

/**
 * Attention maps `[K, H, W]` (e.g. responsibilities gamma reshaped from
 * [N, K] to one map per basis) → one RGBA image of K tiles in viridis.
 */
export function heatmapGrid(maps: ArrayLike<number>, shape: readonly [number, number, number], options: HeatmapGridOptions = {}): RgbaImage {
  const [K, H, W] = shape;
  if (!Number.isInteger(K) || K < 1) throw new Error(`heatmapGrid: 'shape' must be [K, H, W] of positive integers, received [${shape.join(', ')}]`);
  checkDims('heatmapGrid', H, W);
  if (maps.length !== K * H * W) {
    throw new Error(`heatmapGrid: 'maps' must have ${K}×${H}×${W} = ${K * H * W} values, received ${maps.length}`);
  }
  const scale = options.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`heatmapGrid: 'scale' must be a positive integer, received ${scale}`);
  const normalize = options.normalize ?? 'each';
  if (normalize !== 'each' && normalize !== 'all') throw new Error(`heatmapGrid: 'normalize' must be 'each' or 'all', received '${String(normalize)}'`);
  const nanColor = options.nanColor ?? [128, 128, 128];
  const range = (from: number, to: number): [number, number] => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = from; i < to; i++) {
      const v = maps[i] as number;
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    return [lo, hi];
  };
  const global = normalize === 'all' ? range(0, K * H * W) : null;
  const tiles: RgbaImage[] = [];
  for (let k = 0; k < K; k++) {
    const [lo, hi] = global ?? range(k * H * W, (k + 1) * H * W);
    const span = hi > lo ? hi - lo : 1;
    const tile = createRgbaImage(W * scale, H * scale);
    for (let y = 0; y < H * scale; y++) {
      for (let x = 0; x < W * scale; x++) {
        const v = maps[k * H * W + Math.floor(y / scale) * W + Math.floor(x / scale)] as number;
        const color = Number.isFinite(v) ? viridis(hi > lo ? (v - lo) / span : 0.5) : nanColor;
        tile.data.set([color[0], color[1], color[2], 255], (y * tile.width + x) * 4);
      }
    }
    tiles.push(tile);
  }
  const tileOptions: { columns: number; gap?: number } = { columns: options.columns ?? Math.ceil(Math.sqrt(K)) };
  if (options.gap !== undefined) tileOptions.gap = options.gap;
  return tileImages(tiles, tileOptions);
}
