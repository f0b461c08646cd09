/**
 * Built-in multi-object segmentation scenes made from MNIST digits.
 * Platform-neutral: takes the digit arrays (see `loadMnistScenes` in
 * `mnistScenes.ts` for the Node convenience that reads them from `loadMnist`).
 *
 * A scene is a `canvasSize × canvasSize` RGB image: a random background
 * colour, clutter (crops of other digits, labelled background, and pixel
 * noise), then 1..n grey digits tinted with random colours, pasted at random
 * positions and scales. Colours are drawn independently of the class, so
 * colour carries no label. Labels: 0 background, digit d → d + 1 (so 11
 * classes), and `ignoreLabel` (255) on the soft edge of each digit, where its
 * intensity lies between the two `edgeThresholds`.
 *
 * Every sample is a pure function of (seed, split, index): generated lazily,
 * optionally cached.
 */
import { checkKnownKeys } from '../schema.js';
import { createRng, hashSeed, type Rng } from './random.js';
import type { SegmentationDataset, SegmentationSample } from './types.js';

/** Side of one MNIST digit image. */
const DIGIT_SIDE = 28;
const DIGIT_PIXELS = DIGIT_SIDE * DIGIT_SIDE;

export type SceneSplit = 'train' | 'val' | 'test';

/** Digits to build scenes from: `images` is `count × 784` in [0, 1] (the `MnistDigits` shape). */
export interface DigitPool {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

/** Background clutter. */
export interface SceneClutterOptions {
  /** Number of digit fragments (labelled background) per scene, [min, max]. Default [1, 4]. */
  fragments?: [number, number];
  /** Side of the square crop taken from a digit, in source pixels, [min, max] within [2, 28]. Default [7, 14]. */
  fragmentSize?: [number, number];
  /** Standard deviation of Gaussian pixel noise (intensity units, before normalisation). Default 0.05. */
  noiseStd?: number;
}

export interface SceneOptions {
  /** 'train' and 'val' draw from MNIST train digits (disjoint ranges), 'test' from MNIST test digits. */
  split: SceneSplit;
  /** Number of scenes. */
  size: number;
  /** Canvas side in pixels. Default 64. */
  canvasSize?: number;
  /** Number of digits per scene, [min, max], min ≥ 1. Default [1, 3]. */
  digitsPerScene?: [number, number];
  /** Digit side = 28·scale pixels, scale drawn from [min, max]. Default [1, 1.5]. (hemnet 0.1: `scaleRange`.) */
  digitScale?: [number, number];
  /** Clutter settings, or `false` for clean scenes. Default `{}` (the defaults above). */
  clutter?: SceneClutterOptions | false;
  /** Digit intensity thresholds [low, high]: ≥ high → class, in (low, high) → ignore. Default [0.2, 0.5]. */
  edgeThresholds?: [number, number];
  /**
   * Grow each digit's label by this many pixels (3×3 dilation steps) over
   * background and soft-edge pixels, so thin strokes become regions a
   * stride-8 network can resolve. Default 0 (labels follow the strokes).
   */
  labelDilation?: number;
  /**
   * Occlusion: a digit is re-placed (up to 12 tries) while it covers this
   * fraction or more of an earlier digit's square; later digits are drawn
   * on top. Default 0.25 (mostly visible digits); 1 allows any overlap.
   */
  maxOverlap?: number;
  /** Seed of the whole dataset. Default 0. */
  seed?: number;
  /** How many digits at the end of the train pool are reserved for 'val'. Default 5000 (MNIST 55000..59999). */
  validationDigits?: number;
  /** Per-channel normalisation: image = (rgb − mean) / std. Defaults 0.5 and 0.29. */
  mean?: [number, number, number];
  std?: [number, number, number];
  /**
   * Keep generated samples in memory: true keeps every one; a number keeps
   * them while their arrays total at most that many bytes (the first drawn,
   * never evicted), later ones are drawn again on each `get`. Default false
   * (a 64×64 scene takes 1–2 ms to draw, bench/data-prep.ts; 53 KB to keep). Cached samples are
   * shared: callers must not write to their arrays (the library never does).
   */
  cache?: boolean | number;
}

/** Where one digit (or fragment) went. */
export interface ScenePlacement {
  /** Index of the source digit in the pool. */
  digitIndex: number;
  /** Its MNIST class 0..9. */
  digitClass: number;
  top: number;
  left: number;
  /** Pasted side in canvas pixels. */
  side: number;
  /** Tint, RGB in [0, 1]. */
  color: [number, number, number];
}

export interface SceneFragment extends ScenePlacement {
  /** Square crop of the source digit: top-left corner and side, in source pixels. */
  cropTop: number;
  cropLeft: number;
  cropSide: number;
}

/** The random choices behind one scene. */
export interface SceneLayout {
  background: [number, number, number];
  fragments: SceneFragment[];
  digits: ScenePlacement[];
}

export const SCENE_NUM_CLASSES = 11;
export const SCENE_CLASS_NAMES: readonly string[] = ['background', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const SCENE_IGNORE_LABEL = 255;
/** Default per-channel normalisation of the scenes: image = (rgb − mean) / std. */
export const SCENE_MEAN: readonly [number, number, number] = [0.5, 0.5, 0.5];
export const SCENE_STD: readonly [number, number, number] = [0.29, 0.29, 0.29];

const SPLIT_IDS: Record<SceneSplit, number> = { train: 1, val: 2, test: 3 };

/**
 * The half-open range [start, end) of pool indices a split may use:
 * 'train' → [0, count − validationDigits), 'val' → [count − validationDigits, count),
 * 'test' → [0, count) (the pool is then MNIST test).
 */
export function sceneDigitRange(split: SceneSplit, poolCount: number, validationDigits = 5000): { start: number; end: number } {
  if (split === 'test') return { start: 0, end: poolCount };
  if (!Number.isInteger(validationDigits) || validationDigits < 1 || validationDigits >= poolCount) {
    throw new Error(
      `sceneDigitRange: 'validationDigits' must be an integer in [1, ${poolCount - 1}] for a pool of ${poolCount} digits, received ${validationDigits}`,
    );
  }
  const boundary = poolCount - validationDigits;
  return split === 'train' ? { start: 0, end: boundary } : { start: boundary, end: poolCount };
}

function checkRange(name: string, value: unknown, low: number, high: number, integer: boolean): [number, number] {
  const ok =
    Array.isArray(value) &&
    value.length === 2 &&
    value.every((v) => typeof v === 'number' && Number.isFinite(v) && (!integer || Number.isInteger(v)) && v >= low && v <= high) &&
    (value[0] as number) <= (value[1] as number);
  if (!ok) {
    throw new Error(
      `SceneDataset: '${name}' must be [min, max] with ${integer ? 'integers ' : ''}${low} ≤ min ≤ max ≤ ${high}, received ${JSON.stringify(value)}`,
    );
  }
  return value as [number, number];
}

function checkTriple(name: string, value: unknown, positive: boolean): [number, number, number] {
  const ok =
    Array.isArray(value) &&
    value.length === 3 &&
    value.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  if (!ok) {
    throw new Error(`SceneDataset: '${name}' must be 3 finite${positive ? ' positive' : ''} numbers, received ${JSON.stringify(value)}`);
  }
  return value as [number, number, number];
}

/** A colour at least 0.5 (Euclidean, RGB in [0, 1]) from `background`, so that a tinted digit stays visible. */
function contrastingColor(rng: Rng, background: [number, number, number]): [number, number, number] {
  let color: [number, number, number] = [rng.next(), rng.next(), rng.next()];
  for (let attempt = 0; attempt < 16; attempt++) {
    const distance = Math.hypot(color[0] - background[0], color[1] - background[1], color[2] - background[2]);
    if (distance >= 0.5) return color;
    color = [rng.next(), rng.next(), rng.next()];
  }
  return [1 - background[0], 1 - background[1], 1 - background[2]].map((v) => (Math.abs(v - 0.5) < 0.3 ? (v < 0.5 ? 0 : 1) : v)) as [
    number,
    number,
    number,
  ];
}

/** Intersection area over the smaller box: how much a new digit would hide an old one. */
function overlap(a: ScenePlacement, top: number, left: number, side: number): number {
  const h = Math.min(a.top + a.side, top + side) - Math.max(a.top, top);
  const w = Math.min(a.left + a.side, left + side) - Math.max(a.left, left);
  if (h <= 0 || w <= 0) return 0;
  return (h * w) / Math.min(a.side * a.side, side * side);
}

/** The MNIST-built segmentation scenes. See the module comment. */
export class SceneDataset implements SegmentationDataset {
  readonly numClasses = SCENE_NUM_CLASSES;
  readonly ignoreLabel = SCENE_IGNORE_LABEL;
  readonly classNames = SCENE_CLASS_NAMES;
  readonly size: number;
  readonly split: SceneSplit;
  readonly canvasSize: number;
  readonly seed: number;
  /** Pool indices this split draws from, [start, end). */
  readonly digitRange: { start: number; end: number };
  private readonly digits: DigitPool;
  private readonly digitsPerScene: [number, number];
  private readonly digitScale: [number, number];
  private readonly clutter: Required<SceneClutterOptions> | false;
  private readonly edgeThresholds: [number, number];
  private readonly labelDilation: number;
  private readonly maxOverlap: number;
  private readonly mean: [number, number, number];
  private readonly std: [number, number, number];
  private readonly cache: Map<number, SegmentationSample> | undefined;
  private cacheBytesLeft: number;

  constructor(digits: DigitPool, options: SceneOptions) {
    if (
      digits === null ||
      typeof digits !== 'object' ||
      !(digits.images instanceof Float32Array) ||
      !(digits.labels instanceof Uint8Array) ||
      !Number.isInteger(digits.count) ||
      digits.count < 1 ||
      digits.images.length < digits.count * DIGIT_PIXELS ||
      digits.labels.length < digits.count
    ) {
      throw new Error(
        "SceneDataset: 'digits' must be { images: Float32Array (count × 784), labels: Uint8Array (count), count ≥ 1 }, " +
          `received count ${String((digits as Partial<DigitPool> | null)?.count)}`,
      );
    }
    if (options === null || typeof options !== 'object') {
      throw new Error(`SceneDataset: 'options' must be an object, received ${String(options)}`);
    }
    if ('scaleRange' in options) {
      throw new Error("SceneDataset: option 'scaleRange' was renamed 'digitScale' (the digit size; augmentation's rescaling is AugmentOptions.scaleRange)");
    }
    checkKnownKeys('SceneDataset', 'option', options, [
      'split', 'size', 'canvasSize', 'digitsPerScene', 'digitScale', 'clutter', 'edgeThresholds', 'labelDilation', 'maxOverlap', 'seed',
      'validationDigits', 'mean', 'std', 'cache',
    ]);
    if (options.split !== 'train' && options.split !== 'val' && options.split !== 'test') {
      throw new Error(`SceneDataset: 'split' must be 'train', 'val' or 'test', received '${String(options.split)}'`);
    }
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new Error(`SceneDataset: 'size' must be a positive integer, received ${options.size}`);
    }
    const canvasSize = options.canvasSize ?? 64;
    if (!Number.isInteger(canvasSize) || canvasSize < DIGIT_SIDE) {
      throw new Error(`SceneDataset: 'canvasSize' must be an integer ≥ ${DIGIT_SIDE}, received ${canvasSize}`);
    }
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new Error(`SceneDataset: 'seed' must be an integer, received ${seed}`);
    this.split = options.split;
    this.size = options.size;
    this.canvasSize = canvasSize;
    this.seed = seed;
    this.digitsPerScene = checkRange('digitsPerScene', options.digitsPerScene ?? [1, 3], 1, 64, true);
    this.digitScale = checkRange('digitScale', options.digitScale ?? [1, 1.5], 0.25, canvasSize / DIGIT_SIDE, false);
    this.edgeThresholds = checkRange('edgeThresholds', options.edgeThresholds ?? [0.2, 0.5], 0, 1, false);
    const dilation = options.labelDilation ?? 0;
    if (!Number.isInteger(dilation) || dilation < 0 || dilation > 8) {
      throw new Error(`SceneDataset: 'labelDilation' must be an integer in [0, 8], received ${String(dilation)}`);
    }
    this.labelDilation = dilation;
    const maxOverlap = options.maxOverlap ?? 0.25;
    if (typeof maxOverlap !== 'number' || !(maxOverlap >= 0 && maxOverlap <= 1)) {
      throw new Error(`SceneDataset: 'maxOverlap' must be a number in [0, 1], received ${String(maxOverlap)}`);
    }
    this.maxOverlap = maxOverlap;
    if (options.clutter === false) {
      this.clutter = false;
    } else {
      const clutter = options.clutter ?? {};
      checkKnownKeys('SceneDataset', 'clutter option', clutter, ['fragments', 'fragmentSize', 'noiseStd']);
      const noiseStd = clutter.noiseStd ?? 0.05;
      if (!Number.isFinite(noiseStd) || noiseStd < 0) {
        throw new Error(`SceneDataset: 'clutter.noiseStd' must be a finite number ≥ 0, received ${noiseStd}`);
      }
      this.clutter = {
        fragments: checkRange('clutter.fragments', clutter.fragments ?? [1, 4], 0, 64, true),
        fragmentSize: checkRange('clutter.fragmentSize', clutter.fragmentSize ?? [7, 14], 2, DIGIT_SIDE, true),
        noiseStd,
      };
    }
    this.mean = checkTriple('mean', options.mean ?? [...SCENE_MEAN], false);
    this.std = checkTriple('std', options.std ?? [...SCENE_STD], true);
    this.digits = digits;
    try {
      this.digitRange = sceneDigitRange(options.split, digits.count, options.validationDigits ?? 5000);
    } catch (error) {
      throw new Error((error as Error).message.replace('sceneDigitRange', 'SceneDataset'));
    }
    const cache = options.cache ?? false;
    if (typeof cache !== 'boolean' && !(typeof cache === 'number' && Number.isFinite(cache) && cache >= 0)) {
      throw new Error(`SceneDataset: 'cache' must be true, false or a number of bytes ≥ 0, received ${String(cache)}`);
    }
    this.cache = cache === false || cache === 0 ? undefined : new Map();
    this.cacheBytesLeft = cache === true ? Infinity : cache === false ? 0 : cache;
  }

  private checkIndex(index: number, caller: string): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new Error(`SceneDataset.${caller}: 'index' must be an integer in [0, ${this.size - 1}], received ${index}`);
    }
  }

  private rngFor(index: number): Rng {
    return createRng(hashSeed(this.seed, SPLIT_IDS[this.split], index));
  }

  private drawLayout(rng: Rng): SceneLayout {
    const S = this.canvasSize;
    const { start, end } = this.digitRange;
    const pick = (): number => rng.int(start, end - 1);
    const background: [number, number, number] = [rng.next(), rng.next(), rng.next()];
    const fragments: SceneFragment[] = [];
    if (this.clutter !== false) {
      const count = rng.int(this.clutter.fragments[0], this.clutter.fragments[1]);
      for (let f = 0; f < count; f++) {
        const digitIndex = pick();
        const cropSide = rng.int(this.clutter.fragmentSize[0], this.clutter.fragmentSize[1]);
        // Prefer a crop with some ink in it; a blank crop is invisible clutter.
        let cropTop = 0;
        let cropLeft = 0;
        for (let attempt = 0; attempt < 6; attempt++) {
          cropTop = rng.int(0, DIGIT_SIDE - cropSide);
          cropLeft = rng.int(0, DIGIT_SIDE - cropSide);
          if (this.cropInk(digitIndex, cropTop, cropLeft, cropSide) > 0.15) break;
        }
        const side = Math.min(S, Math.max(2, Math.round(cropSide * rng.uniform(this.digitScale[0], this.digitScale[1]))));
        fragments.push({
          digitIndex,
          digitClass: this.digits.labels[digitIndex] as number,
          cropTop,
          cropLeft,
          cropSide,
          side,
          top: rng.int(0, S - side),
          left: rng.int(0, S - side),
          color: contrastingColor(rng, background),
        });
      }
    }
    const digits: ScenePlacement[] = [];
    const count = rng.int(this.digitsPerScene[0], this.digitsPerScene[1]);
    for (let d = 0; d < count; d++) {
      const digitIndex = pick();
      const side = Math.min(S, Math.round(DIGIT_SIDE * rng.uniform(this.digitScale[0], this.digitScale[1])));
      // Rejection sampling keeps digits mostly visible; after 12 tries accept the last position.
      let top = 0;
      let left = 0;
      for (let attempt = 0; attempt < 12; attempt++) {
        top = rng.int(0, S - side);
        left = rng.int(0, S - side);
        if (digits.every((other) => this.maxOverlap >= 1 || overlap(other, top, left, side) < this.maxOverlap)) break;
      }
      digits.push({ digitIndex, digitClass: this.digits.labels[digitIndex] as number, top, left, side, color: contrastingColor(rng, background) });
    }
    return { background, fragments, digits };
  }

  /** Mean intensity of a square crop of one digit. */
  private cropInk(digitIndex: number, top: number, left: number, side: number): number {
    const base = digitIndex * DIGIT_PIXELS;
    let sum = 0;
    for (let y = top; y < top + side; y++) {
      for (let x = left; x < left + side; x++) sum += this.digits.images[base + y * DIGIT_SIDE + x] as number;
    }
    return sum / (side * side);
  }

  /** The random choices behind scene `index` (for inspection and tests). */
  layout(index: number): SceneLayout {
    this.checkIndex(index, 'layout');
    return this.drawLayout(this.rngFor(index));
  }

  /** Scene `index`: image `[canvasSize, canvasSize, 3]` normalised, label `[canvasSize, canvasSize]`. */
  get(index: number): SegmentationSample {
    this.checkIndex(index, 'get');
    const cached = this.cache?.get(index);
    if (cached !== undefined) return cached;
    const rng = this.rngFor(index);
    const layout = this.drawLayout(rng);
    const S = this.canvasSize;
    const rgb = new Float32Array(S * S * 3);
    const label = new Uint8Array(S * S);
    for (let p = 0; p < S * S; p++) rgb.set(layout.background, 3 * p);
    for (const fragment of layout.fragments) {
      this.paste(rgb, null, fragment, fragment.cropTop, fragment.cropLeft, fragment.cropSide);
    }
    for (const digit of layout.digits) this.paste(rgb, label, digit, 0, 0, DIGIT_SIDE);
    for (let step = 0; step < this.labelDilation; step++) dilateLabels(label, S);
    const noiseStd = this.clutter === false ? 0 : this.clutter.noiseStd;
    const image = new Float32Array(S * S * 3);
    for (let i = 0; i < image.length; i++) {
      let v = rgb[i] as number;
      if (noiseStd > 0) v = Math.min(1, Math.max(0, v + noiseStd * rng.normal()));
      const c = i % 3;
      image[i] = (v - this.mean[c]!) / this.std[c]!;
    }
    const sample: SegmentationSample = { image, label, height: S, width: S, channels: 3, id: `${this.split}-${index}` };
    const bytes = image.byteLength + label.byteLength;
    if (this.cache !== undefined && bytes <= this.cacheBytesLeft) {
      this.cache.set(index, sample);
      this.cacheBytesLeft -= bytes;
    }
    return sample;
  }

  /**
   * Alpha-composites a (crop of a) digit, bilinearly resized to `placement.side`,
   * tinted with its colour. With `label`, also writes class / ignore labels.
   */
  private paste(
    rgb: Float32Array,
    label: Uint8Array | null,
    placement: ScenePlacement,
    cropTop: number,
    cropLeft: number,
    cropSide: number,
  ): void {
    const S = this.canvasSize;
    const base = placement.digitIndex * DIGIT_PIXELS;
    const src = this.digits.images;
    const ratio = cropSide / placement.side;
    const [low, high] = this.edgeThresholds;
    const classLabel = placement.digitClass + 1;
    for (let i = 0; i < placement.side; i++) {
      const y = placement.top + i;
      if (y < 0 || y >= S) continue;
      // Pixel-centre mapping (as in align_corners = false), clamped to the crop.
      const sy = Math.min(cropSide - 1, Math.max(0, (i + 0.5) * ratio - 0.5));
      const y0 = Math.floor(sy);
      const y1 = Math.min(cropSide - 1, y0 + 1);
      const wy = sy - y0;
      for (let j = 0; j < placement.side; j++) {
        const x = placement.left + j;
        if (x < 0 || x >= S) continue;
        const sx = Math.min(cropSide - 1, Math.max(0, (j + 0.5) * ratio - 0.5));
        const x0 = Math.floor(sx);
        const x1 = Math.min(cropSide - 1, x0 + 1);
        const wx = sx - x0;
        const at = (yy: number, xx: number): number => src[base + (cropTop + yy) * DIGIT_SIDE + cropLeft + xx] as number;
        const alpha =
          (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        if (alpha <= 0) continue;
        const p = y * S + x;
        for (let c = 0; c < 3; c++) {
          rgb[3 * p + c] = (rgb[3 * p + c] as number) * (1 - alpha) + placement.color[c]! * alpha;
        }
        if (label !== null) {
          if (alpha >= high) label[p] = classLabel;
          else if (alpha > low) label[p] = SCENE_IGNORE_LABEL;
        }
      }
    }
  }
}

/** One 3×3 dilation step of class labels (1..10) over background (0) and ignore (255) pixels. */
function dilateLabels(label: Uint8Array, side: number): void {
  const before = label.slice();
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const p = y * side + x;
      const own = before[p] as number;
      if (own !== 0 && own !== SCENE_IGNORE_LABEL) continue;
      let grown = 0;
      for (let dy = -1; dy <= 1 && grown === 0; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= side || xx < 0 || xx >= side) continue;
          const v = before[yy * side + xx] as number;
          if (v !== 0 && v !== SCENE_IGNORE_LABEL) {
            grown = v;
            break;
          }
        }
      }
      if (grown !== 0) label[p] = grown;
    }
  }
}

/** Builds scenes from a digit pool (MNIST train for 'train'/'val', MNIST test for 'test'). */
export function createSceneDataset(digits: DigitPool, options: SceneOptions): SceneDataset {
  return new SceneDataset(digits, options);
}
