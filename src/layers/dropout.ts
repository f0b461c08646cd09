/**
 * Inverted dropout whose mask changes from training step to training step
 * and is still reproducible from a seed.
 *
 * Why not `tf.layers.dropout({ seed })`: tfjs 4.22 builds a new seeded
 * random generator on every call, so a seeded tfjs Dropout draws the same
 * mask at every step. It then zeroes the same units of every batch slot for
 * the whole run, which is a fixed pruning of the features, not dropout.
 * The segmentation heads used it until 2026-12-08.
 *
 * Here the mask of a call is drawn with the seed hash(seed, step, shard):
 * - `step` is the training step that `trainSegmentation` announces with
 *   `setDropoutStream` before each step's forward pass, so a resumed run
 *   draws the masks an uninterrupted one would;
 * - `shard` is the data-parallel shard (0 on the calling thread, i on
 *   worker i), so shards of one step do not share masks;
 * - with no step announced (your own loop), each layer counts its calls
 *   instead;
 * - without a seed, every call draws a fresh mask (tfjs's unseeded generator).
 *
 * In training: y = x · m / (1 − rate), with m ~ Bernoulli(1 − rate)
 * elementwise (`tf.dropout`). In inference (`training` not true) the layer
 * is the identity.
 */
import * as tf from '@tensorflow/tfjs';
import { hashSeed } from '../data/random.js';
import { registerLayer } from './serialization.js';

let streamStep: number | null = null;
let streamShard = 0;

/**
 * Announces the training step (and the data-parallel shard this thread
 * computes) that seeded `Dropout` layers derive their masks from; `null`
 * returns them to counting their own calls.
 */
export function setDropoutStream(step: number | null, shard = 0): void {
  if (step !== null && !(Number.isInteger(step) && step >= 0)) throw new Error(`setDropoutStream: 'step' must be an integer ≥ 0 or null, received ${String(step)}`);
  if (!(Number.isInteger(shard) && shard >= 0)) throw new Error(`setDropoutStream: 'shard' must be an integer ≥ 0, received ${String(shard)}`);
  streamStep = step;
  streamShard = shard;
}

/**
 * The seed of one seeded dropout mask: hash(seed, key, shard), where key is
 * the announced training step, or `countCall()` (the layer's own call
 * counter, called only then) when no step is announced. Shared by `Dropout`
 * and GradNets' `GradualDropout`. A layer called twice within one announced
 * step draws the same mask both times.
 */
export function dropoutMaskSeed(seed: number, countCall: () => number): number {
  const key = streamStep ?? countCall();
  return hashSeed(seed, key, streamShard) >>> 0;
}

export interface DropoutArgs {
  /** The probability of zeroing a unit, in [0, 1). */
  rate: number;
  /** An integer seed (masks still change from step to step), or null for unseeded masks. */
  seed?: number | null;
  name?: string;
}

/** Dropout with a mask per training step (see the module comment). */
export class Dropout extends tf.layers.Layer {
  static className = 'hemnet>Dropout';
  readonly rate: number;
  readonly seed: number | null;
  private calls = 0;

  constructor(args: DropoutArgs) {
    if (typeof args !== 'object' || args === null) throw new Error(`Dropout: 'args' must be an object {rate, seed?}, received ${String(args)}`);
    const { rate, seed = null, name } = args;
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new Error(`Dropout: 'rate' must be in [0, 1), received ${JSON.stringify(rate)}`);
    if (seed !== null && !Number.isInteger(seed)) throw new Error(`Dropout: 'seed' must be an integer or null, received ${JSON.stringify(seed)}`);
    super(name === undefined ? {} : { name });
    this.rate = rate;
    this.seed = seed;
    this.supportsMasking = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  /** The seed of this call's mask (undefined: unseeded). */
  private maskSeed(): number | undefined {
    if (this.seed === null) return undefined;
    return dropoutMaskSeed(this.seed, () => this.calls++);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { [key: string]: unknown }): tf.Tensor {
    const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
    if (kwargs['training'] !== true || this.rate === 0) return x;
    const seed = this.maskSeed();
    return tf.tidy(() => tf.dropout(x, this.rate, undefined, seed));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { rate: this.rate, seed: this.seed, ...super.getConfig() };
  }
}
registerLayer(Dropout);
