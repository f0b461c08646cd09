/**
 * Small helpers the backbones and heads share: seeded initialisers, a
 * conv → batch norm (→ ReLU) unit with stable layer names, and validation.
 * Layer names use '/' as a scope separator (`backbone/stage2/block1/conv1`);
 * tfjs-layers accepts it (tensor names match `^[A-Za-z0-9][-A-Za-z0-9._/]*$`)
 * and `model.save` / `loadLayersModel` keep the names.
 */
import * as tf from '@tensorflow/tfjs';

/** Momentum of every batch norm's moving statistics (PyTorch's 0.1 in Keras terms). */
export const BATCH_NORM_MOMENTUM = 0.9;
/** Batch norm ε, the same as the HemHead's. */
export const BATCH_NORM_EPSILON = 1e-3;

/**
 * Hands out distinct seeds (null = unseeded) so a build is reproducible from
 * one seed: seed i of stream `s` is an FNV-1a hash of "seed:s:i", so the
 * backbone's and the heads' initialisers never share a seed.
 */
export class SeedSequence {
  private offset = 0;
  constructor(private readonly seed: number | null, private readonly stream = '') {}
  next(): number | undefined {
    if (this.seed === null) return undefined;
    this.offset += 1;
    let hash = 0x811c9dc5;
    for (const char of `${this.seed}:${this.stream}:${this.offset}`) {
      hash ^= char.charCodeAt(0);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash % 2147483647;
  }
  /** A seed for a HemHead (null when unseeded). */
  nextOrNull(): number | null {
    return this.next() ?? null;
  }
}

export interface ConvUnitOptions {
  filters: number;
  kernelSize: number;
  strides?: number;
  dilation?: number;
  /** Apply ReLU after the batch norm. Default true. */
  relu?: boolean;
  /**
   * 'same' (default): tfjs 'same' padding, which for a strided conv on an
   * even size pads one more row/column at the bottom/right. 'symmetric':
   * PyTorch's `padding = d·(k − 1)/2` on every side (an explicit
   * `name/pad` ZeroPadding2D layer, then a 'valid' conv), so strided convs
   * sample the same pixels as torchvision's.
   */
  padding?: 'same' | 'symmetric';
}

/** `name/conv` (no bias) → `name/bn` (→ `name/relu`). Input and output `[B, H, W, C]`. */
export function convBnRelu(input: tf.SymbolicTensor, name: string, options: ConvUnitOptions, seeds: SeedSequence): tf.SymbolicTensor {
  const strides = options.strides ?? 1;
  const dilation = options.dilation ?? 1;
  const pad = (dilation * (options.kernelSize - 1)) / 2;
  // Stride 1 with an odd kernel: 'same' is already symmetric.
  const explicit = options.padding === 'symmetric' && strides > 1;
  if (explicit && pad > 0) {
    input = tf.layers.zeroPadding2d({ name: `${name}/pad`, padding: [[pad, pad], [pad, pad]] }).apply(input) as tf.SymbolicTensor;
  }
  const conv = tf.layers.conv2d({
    name: `${name}/conv`,
    filters: options.filters,
    kernelSize: options.kernelSize,
    strides,
    dilationRate: dilation,
    padding: explicit ? 'valid' : 'same',
    useBias: false,
    kernelInitializer: tf.initializers.heNormal({ seed: seeds.next() }),
  });
  const bn = tf.layers.batchNormalization({ name: `${name}/bn`, momentum: BATCH_NORM_MOMENTUM, epsilon: BATCH_NORM_EPSILON });
  let x = bn.apply(conv.apply(input)) as tf.SymbolicTensor;
  if (options.relu ?? true) x = tf.layers.reLU({ name: `${name}/relu` }).apply(x) as tf.SymbolicTensor;
  return x;
}

/** Channels (last axis) of a symbolic `[B, H, W, C]` tensor. */
export function channelsOf(fn: string, t: tf.SymbolicTensor): number {
  const channels = t.shape[t.shape.length - 1];
  if (t.shape.length !== 4 || typeof channels !== 'number') {
    throw new Error(`${fn}: input must be rank 4 [B, H, W, C] with known C, received [${t.shape.map(String).join(', ')}]`);
  }
  return channels;
}

export function checkPositiveInteger(fn: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`${fn}: '${name}' must be a positive integer, received ${JSON.stringify(value)}`);
  }
}
