/**
 * Gradual pooling (GradNets paper, "Gradual Pooling"): mean pooling passes
 * gradient to every unit of the window, max pooling only to one; annealing
 * from mean to max keeps early features trainable:
 *   y = g·maxPool(x) + (1 − g)·avgPool(x),  x [B, H, W, C] → [B, H', W', C].
 */
import * as tf from '@tensorflow/tfjs';
import { registerLayer } from '../layers/serialization.js';
import { GradNetLayer, checkInteger, checkOneOf, describeShape, describeValue } from './base.js';
import type { GradNetLayerArgs, Kwargs, Shape } from './base.js';

export type PoolPadding = 'valid' | 'same';
export const POOL_PADDINGS: readonly PoolPadding[] = ['valid', 'same'];

export interface GradualPooling2DArgs extends GradNetLayerArgs {
  /** Window [height, width] or one number for both; default 2. */
  poolSize?: number | [number, number];
  /** Strides [height, width] or one number; default = poolSize. */
  strides?: number | [number, number] | null;
  /** 'valid' (default) or 'same'. */
  padding?: PoolPadding;
}

export function pair(fn: string, name: string, value: unknown): [number, number] {
  if (typeof value === 'number') {
    checkInteger(fn, name, value, 1);
    return [value, value];
  }
  if (Array.isArray(value) && value.length === 2) {
    checkInteger(fn, `${name}[0]`, value[0], 1);
    checkInteger(fn, `${name}[1]`, value[1], 1);
    return [value[0] as number, value[1] as number];
  }
  throw new Error(`${fn}: '${name}' must be a positive integer or a pair of them, received ${describeValue(value)}`);
}

export function pooledLength(size: number | null, window: number, stride: number, padding: PoolPadding): number | null {
  if (size === null) return null;
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - window) / stride) + 1;
}

/** Mean pooling → max pooling, channels-last `[B, H, W, C]`. */
export class GradualPooling2D extends GradNetLayer {
  static readonly className = 'hemnet>GradualPooling2D';
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: PoolPadding;

  constructor(args: GradualPooling2DArgs = {}) {
    const fn = 'GradualPooling2D';
    const { poolSize = 2, strides = null, padding = 'valid', ...rest } = args;
    super(rest);
    this.poolSize = pair(fn, 'poolSize', poolSize);
    this.strides = strides === null ? this.poolSize : pair(fn, 'strides', strides);
    this.padding = checkOneOf(fn, 'padding', padding, POOL_PADDINGS);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = inputShape as Shape;
    if (shape.length !== 4) {
      throw new Error(`GradualPooling2D: input must be rank 4 [B, H, W, C], received shape ${describeShape(shape)}`);
    }
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const [b = null, h = null, w = null, c = null] = inputShape as Shape;
    return [
      b,
      pooledLength(h, this.poolSize[0], this.strides[0], this.padding),
      pooledLength(w, this.poolSize[1], this.strides[1], this.padding),
      c,
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    void kwargs;
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const early = tf.avgPool(x, this.poolSize, this.strides, this.padding);
      const late = tf.maxPool(x, this.poolSize, this.strides, this.padding);
      return this.interpolate(early, late);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { poolSize: [...this.poolSize], strides: [...this.strides], padding: this.padding, ...super.getConfig() };
  }
}
registerLayer(GradualPooling2D);
