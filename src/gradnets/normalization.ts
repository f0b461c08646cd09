/**
 * Gradual batch normalisation (GradNets paper, "Gradual Batch
 * Normalization"): anneal from a BN layer to the identity, so training enjoys
 * BN's conditioning while the final network (g = 1) needs no batch statistics
 * at evaluation time:
 *   y = g·x + (1 − g)·BN(x).
 * The BN sublayer keeps training (and updating its moving statistics in
 * `fit`) while g < 1.
 */
import * as tf from '@tensorflow/tfjs';
import { registerLayer } from '../layers/serialization.js';
import { GradNetLayer, checkNumberInRange, describeValue } from './base.js';
import type { GradNetLayerArgs, Kwargs, Shape } from './base.js';

export interface GradualBatchNormalizationArgs extends GradNetLayerArgs {
  /** Feature axis normalised over; default −1 (channels last). */
  axis?: number;
  /** Moving-average momentum of the BN statistics; default 0.99. */
  momentum?: number;
  /** Variance epsilon; default 1e-3. */
  epsilon?: number;
  /** Learn a shift β; default true. */
  center?: boolean;
  /** Learn a scale γ; default true. */
  scale?: boolean;
}

function checkBoolean(fn: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new Error(`${fn}: '${name}' must be a boolean, received ${describeValue(value)}`);
  return value;
}

/** Batch norm → identity. */
export class GradualBatchNormalization extends GradNetLayer {
  static readonly className = 'hemnet>GradualBatchNormalization';
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  readonly batchNorm: tf.layers.Layer;

  constructor(args: GradualBatchNormalizationArgs = {}) {
    const fn = 'GradualBatchNormalization';
    const { axis = -1, momentum = 0.99, epsilon = 1e-3, center = true, scale = true, ...rest } = args;
    super(rest);
    if (typeof axis !== 'number' || !Number.isInteger(axis)) {
      throw new Error(`${fn}: 'axis' must be an integer, received ${describeValue(axis)}`);
    }
    this.axis = axis;
    this.momentum = checkNumberInRange(fn, 'momentum', momentum, 0, 1);
    this.epsilon = checkNumberInRange(fn, 'epsilon', epsilon, 0, 1);
    if (!(this.epsilon > 0)) throw new Error(`${fn}: 'epsilon' must be > 0, received ${epsilon}`);
    this.center = checkBoolean(fn, 'center', center);
    this.scale = checkBoolean(fn, 'scale', scale);
    this.batchNorm = this.addSublayer(
      tf.layers.batchNormalization({
        name: `${this.name}_bn`,
        axis: this.axis,
        momentum: this.momentum,
        epsilon: this.epsilon,
        center: this.center,
        scale: this.scale,
      }),
    );
  }

  override build(inputShape: Shape | Shape[]): void {
    super.build(inputShape);
    this.buildSublayer(this.batchNorm, inputShape as Shape);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      const early = this.callSublayer(this.batchNorm, x, kwargs);
      return this.interpolate(early, x);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      axis: this.axis,
      momentum: this.momentum,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      ...super.getConfig(),
    };
  }
}
registerLayer(GradualBatchNormalization);
