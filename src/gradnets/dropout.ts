/**
 * Gradual dropout (GradNets paper, "Gradual Dropout"): the drop rate anneals
 * from 0 to p, so early training from random weights sees no noise while the
 * final network is regularised by rates as high as 0.9.
 *
 * In training the rate is g·p, with inverted-dropout scaling:
 *   y = x · m / (1 − g·p),  m ~ Bernoulli(1 − g·p) elementwise.
 * At g = 0 every mask entry is 1 (u ≥ 0 always) and y = x exactly. In
 * inference (`training` not true) the layer is the identity.
 * The rate is a tensor computed from the gate variable, so changing g never
 * reads data back from the device and never rebuilds anything.
 */
import * as tf from '@tensorflow/tfjs';
import { dropoutMaskSeed } from '../layers/dropout.js';
import { registerLayer } from '../layers/serialization.js';
import { GradNetLayer, checkInteger, checkNumberInRange, isTraining } from './base.js';
import type { GradNetLayerArgs, Kwargs, Shape } from './base.js';

export interface GradualDropoutArgs extends GradNetLayerArgs {
  /** p: the final drop rate reached at g = 1; in [0, 1). */
  rate: number;
  /**
   * Optional integer seed. Masks still differ from step to step: as hemnet's
   * `Dropout`, the mask's seed is hash(seed, training step, shard), the step
   * being the one `setDropoutStream` announces (the layer's own call count
   * when none is), so a resumed run draws the masks an uninterrupted one would.
   */
  seed?: number | null;
}

/** Dropout whose rate is g·p. */
export class GradualDropout extends GradNetLayer {
  static readonly className = 'hemnet>GradualDropout';
  readonly rate: number;
  readonly seed: number | null;
  private calls = 0;

  constructor(args: GradualDropoutArgs) {
    const fn = 'GradualDropout';
    if (typeof args !== 'object' || args === null) {
      throw new Error(`${fn}: 'args' must be an object {rate}, received ${String(args)}`);
    }
    const { rate, seed = null, ...rest } = args;
    super(rest);
    this.rate = checkNumberInRange(fn, 'rate', rate, 0, 1, true);
    this.seed = seed === null ? null : checkInteger(fn, 'seed', seed, 0);
  }

  /** The current drop rate g·p as a scalar tensor. */
  currentRate(): tf.Scalar {
    return tf.tidy(() => tf.mul(this.gateTensor(), this.rate) as tf.Scalar);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      if (!isTraining(kwargs) || this.rate === 0) return tf.clone(x);
      const rate = this.currentRate();
      const seed = this.seed === null ? undefined : dropoutMaskSeed(this.seed, () => this.calls++);
      const u = tf.randomUniform(x.shape, 0, 1, 'float32', seed);
      const mask = tf.cast(tf.greaterEqual(u, rate), x.dtype);
      return tf.div(tf.mul(x, mask), tf.sub(1, rate));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { rate: this.rate, seed: this.seed, ...super.getConfig() };
  }
}
registerLayer(GradualDropout);
