/**
 * Synthetic handwritten-like digits drawn from stroke skeletons, as a
 * `DigitPool` for `createSceneDataset` where MNIST is not at hand (in a
 * browser, say). Every digit is a 28×28 image in [0, 1] like MNIST: the
 * skeleton of its class in a 20-pixel box, a random affine map (scale,
 * rotation, shear, shift), per-vertex jitter, a random pen width and a
 * one-pixel soft edge. A pure function of (count, seed). Platform-neutral.
 */
import { createRng, hashSeed, type Rng } from './random.js';
import type { DigitPool } from './scenes.js';

const SIDE = 28;
const BOX = 20;

type Point = readonly [number, number];
/** Polylines in a unit box, x to the right and y down. */
type Skeleton = readonly (readonly Point[])[];

function arc(cx: number, cy: number, rx: number, ry: number, fromDeg: number, toDeg: number, points = 12): Point[] {
  const out: Point[] = [];
  for (let i = 0; i <= points; i++) {
    const a = ((fromDeg + ((toDeg - fromDeg) * i) / points) * Math.PI) / 180;
    out.push([cx + rx * Math.cos(a), cy + ry * Math.sin(a)]);
  }
  return out;
}

/** One skeleton per class 0..9 (angles in degrees, clockwise because y points down). */
const SKELETONS: readonly Skeleton[] = [
  [arc(0.5, 0.5, 0.3, 0.46, 0, 360, 20)],
  [[[0.32, 0.22], [0.55, 0.04], [0.55, 0.96]]],
  [[...arc(0.5, 0.3, 0.3, 0.26, 200, 380, 10), [0.18, 0.96], [0.84, 0.96]]],
  [arc(0.48, 0.27, 0.28, 0.23, 210, 450, 10), arc(0.48, 0.73, 0.31, 0.25, 270, 510, 10)],
  [[[0.62, 0.96], [0.62, 0.04], [0.14, 0.66], [0.88, 0.66]]],
  [[[0.8, 0.04], [0.26, 0.04], [0.22, 0.44], ...arc(0.5, 0.67, 0.32, 0.29, 220, 500, 12)]],
  [[[0.72, 0.06], ...arc(0.5, 0.5, 0.3, 0.44, 280, 180, 6), ...arc(0.5, 0.7, 0.3, 0.26, 180, -180, 14)]],
  [[[0.14, 0.04], [0.86, 0.04], [0.4, 0.96]], [[0.32, 0.52], [0.74, 0.52]]],
  [arc(0.5, 0.27, 0.24, 0.23, 0, 360, 14), arc(0.5, 0.72, 0.3, 0.25, 0, 360, 16)],
  [arc(0.5, 0.3, 0.3, 0.26, 0, 360, 16), [[0.8, 0.3], [0.7, 0.96]]],
];

export interface StrokeDigitOptions {
  /** Number of digits; classes cycle 0..9, so each has ⌊count/10⌋ or one more. */
  count: number;
  /** The pool is a pure function of (count, seed). Default 0. */
  seed?: number;
}

/** Squared distance from (px, py) to the segment a–b. */
function segmentDistanceSquared(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const lengthSquared = dx * dx + dy * dy;
  const t = lengthSquared === 0 ? 0 : Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / lengthSquared));
  const ex = px - (ax + t * dx);
  const ey = py - (ay + t * dy);
  return ex * ex + ey * ey;
}

function drawDigit(target: Float32Array, offset: number, digit: number, rng: Rng): void {
  const skeleton = SKELETONS[digit] as Skeleton;
  const scale = BOX * rng.uniform(0.75, 1);
  const angle = (rng.uniform(-12, 12) * Math.PI) / 180;
  const shear = rng.uniform(-0.25, 0.25);
  const aspect = rng.uniform(0.8, 1.05);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const shiftX = SIDE / 2 + rng.uniform(-1.5, 1.5);
  const shiftY = SIDE / 2 + rng.uniform(-1.5, 1.5);
  const halfWidth = rng.uniform(1.6, 3.2) / 2;
  const jitter = 0.03;
  // Unit box → pixel coordinates: centre, squeeze x, shear, rotate, scale, shift.
  const place = ([u, v]: Point): [number, number] => {
    const x = (u - 0.5 + rng.uniform(-jitter, jitter)) * aspect;
    const y = v - 0.5 + rng.uniform(-jitter, jitter);
    const sx = x + shear * y;
    return [shiftX + scale * (cos * sx - sin * y), shiftY + scale * (sin * sx + cos * y)];
  };
  const reach = halfWidth + 0.5;
  for (const stroke of skeleton) {
    const points = stroke.map(place);
    for (let s = 0; s + 1 < points.length; s++) {
      const [ax, ay] = points[s] as [number, number];
      const [bx, by] = points[s + 1] as [number, number];
      const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach));
      const x1 = Math.min(SIDE - 1, Math.ceil(Math.max(ax, bx) + reach));
      const y0 = Math.max(0, Math.floor(Math.min(ay, by) - reach));
      const y1 = Math.min(SIDE - 1, Math.ceil(Math.max(ay, by) + reach));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          // Pixel centres at (x + 0.5, y + 0.5); intensity falls from 1 to 0 over one pixel at the pen's edge.
          const d = Math.sqrt(segmentDistanceSquared(x + 0.5, y + 0.5, ax, ay, bx, by));
          const value = Math.min(1, Math.max(0, reach - d));
          const index = offset + y * SIDE + x;
          if (value > (target[index] as number)) target[index] = value;
        }
      }
    }
  }
}

/** A pool of stroke-drawn digits (`count × 784` intensities in [0, 1], labels 0..9). */
export function createStrokeDigitPool(options: StrokeDigitOptions): DigitPool {
  const fn = 'createStrokeDigitPool';
  if (typeof options !== 'object' || options === null) {
    throw new Error(`${fn}: 'options' must be an object {count, seed?}, received ${String(options)}`);
  }
  const { count, seed = 0 } = options;
  if (!Number.isInteger(count) || count < 1) throw new Error(`${fn}: 'count' must be an integer ≥ 1, received ${String(count)}`);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`${fn}: 'seed' must be a non-negative integer, received ${String(seed)}`);
  const images = new Float32Array(count * SIDE * SIDE);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const digit = i % 10;
    labels[i] = digit;
    drawDigit(images, i * SIDE * SIDE, digit, createRng(hashSeed(seed, i)));
  }
  return { images, labels, count };
}
