/**
 * Gradual ReLU (GReLU, GradNets paper, "Gradual ReLUs"): instead of mixing the
 * outputs of an identity and a ReLU, the paper interpolates the negative
 * slope of a leaky ReLU, "a technique with no overhead over traditional ReLU
 * networks". With slope a = (1 − g)·slopeStart + g·slopeEnd:
 *   y = x for x > 0,  y = a·x for x ≤ 0,
 * which equals g·late + (1 − g)·early exactly, because both branches are
 * linear in the slope. One `Prelu` kernel does the whole tensor (a scalar
 * alpha broadcasts); the scalar arithmetic on g is negligible.
 *
 * - GReLU: slope 1 → 0 (identity → ReLU), the defaults.
 * - Inverse GReLU: slope −1 → 0 (absolute value → ReLU), `slopeStart: -1`.
 */
import * as tf from '@tensorflow/tfjs';
import { registerLayer } from '../layers/serialization.js';
import { GradNetLayer, checkNumberInRange } from './base.js';
import type { GradNetLayerArgs, Kwargs, Shape } from './base.js';

export interface GradualReLUArgs extends GradNetLayerArgs {
  /** Negative-side slope at g = 0; default 1 (identity). −1 gives the inverse GReLU (|x|). */
  slopeStart?: number;
  /** Negative-side slope at g = 1; default 0 (ReLU). */
  slopeEnd?: number;
}

const SLOPE_LIMIT = 1e3;

/** Leaky ReLU whose negative slope anneals from `slopeStart` to `slopeEnd`. */
export class GradualReLU extends GradNetLayer {
  static readonly className = 'hemnet>GradualReLU';
  readonly slopeStart: number;
  readonly slopeEnd: number;

  constructor(args: GradualReLUArgs = {}) {
    const { slopeStart = 1, slopeEnd = 0, ...rest } = args;
    super(rest);
    this.slopeStart = checkNumberInRange('GradualReLU', 'slopeStart', slopeStart, -SLOPE_LIMIT, SLOPE_LIMIT);
    this.slopeEnd = checkNumberInRange('GradualReLU', 'slopeEnd', slopeEnd, -SLOPE_LIMIT, SLOPE_LIMIT);
  }

  /** The current negative slope a(g) as a scalar tensor. */
  slopeTensor(): tf.Scalar {
    return tf.tidy(() => {
      const g = this.gateTensor();
      // (1 − g)·s0 + g·s1: exact at both ends (see interpolate()).
      return tf.add(tf.mul(tf.sub(1, g), this.slopeStart), tf.mul(g, this.slopeEnd)) as tf.Scalar;
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    void kwargs;
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      return tf.prelu(x, this.slopeTensor());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { slopeStart: this.slopeStart, slopeEnd: this.slopeEnd, ...super.getConfig() };
  }
}
registerLayer(GradualReLU);
