/**
 * Gradual convolutions (GradNets paper, "Gradual Convolutions"):
 * - `GradualConv2D`: identity → convolution, "progressively adding depth":
 *     y = g·act(conv(x)) + (1 − g)·x,  x [B, H, W, C] → [B, H, W, C]
 *   (C filters, stride 1, 'same' padding, so both branches have x's shape).
 * - `GradualNetworkInNetwork`: convolution → Network-in-Network (mlpconv:
 *   the same convolution followed by 1×1 convolutions):
 *     h = act(conv(x)),  y = g·mlp(h) + (1 − g)·h,  [B, H, W, C] → [B, H', W', F].
 *
 * Convolution gradients need `Conv2DBackpropFilter`, which stock wasm lacks
 * (see STACK-NOTES); train these on a backend that has it.
 */
import * as tf from '@tensorflow/tfjs';
import { registerLayer } from '../layers/serialization.js';
import { GradNetLayer, checkInteger, checkOneOf, describeShape, describeValue } from './base.js';
import type { GradNetLayerArgs, Kwargs, Shape } from './base.js';
import { POOL_PADDINGS, pair } from './pooling.js';
import type { PoolPadding } from './pooling.js';

type Conv2DLayerArgs = Parameters<typeof tf.layers.conv2d>[0];
/** Activation names tfjs-layers knows ('relu', 'linear', 'tanh', …). */
export type ActivationName = NonNullable<Conv2DLayerArgs['activation']>;
/** Initializer names tfjs-layers knows ('glorotUniform', 'heNormal', 'zeros', …). */
export type InitializerName = Extract<NonNullable<Conv2DLayerArgs['kernelInitializer']>, string>;

function makeConv(fn: string, args: Conv2DLayerArgs): tf.layers.Layer {
  try {
    return tf.layers.conv2d(args);
  } catch (error) {
    throw new Error(`${fn}: could not create the convolution '${args.name ?? ''}': ${(error as Error).message}`);
  }
}

function checkString(fn: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new Error(`${fn}: '${name}' must be a non-empty string, received ${describeValue(value)}`);
  }
  return value;
}

export interface GradualConv2DArgs extends GradNetLayerArgs {
  /** Kernel size [h, w] or one odd number; default 3. */
  kernelSize?: number | [number, number];
  /** Nonlinearity after the convolution; default 'relu'. */
  activation?: ActivationName;
  /** Add a bias; default true. */
  useBias?: boolean;
  /** Kernel initializer name; default 'glorotUniform'. */
  kernelInitializer?: InitializerName;
}

/** Identity → convolution with as many filters as input channels ('same' padding). */
export class GradualConv2D extends GradNetLayer {
  static readonly className = 'hemnet>GradualConv2D';
  readonly kernelSize: [number, number];
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: InitializerName;
  private conv: tf.layers.Layer | null = null;

  constructor(args: GradualConv2DArgs = {}) {
    const fn = 'GradualConv2D';
    const { kernelSize = 3, activation = 'relu', useBias = true, kernelInitializer = 'glorotUniform', ...rest } = args;
    super(rest);
    this.kernelSize = pair(fn, 'kernelSize', kernelSize);
    this.activation = checkString(fn, 'activation', activation) as ActivationName;
    if (typeof useBias !== 'boolean') throw new Error(`${fn}: 'useBias' must be a boolean, received ${describeValue(useBias)}`);
    this.useBias = useBias;
    this.kernelInitializer = checkString(fn, 'kernelInitializer', kernelInitializer) as InitializerName;
  }

  /** The convolution sublayer (created at build, when the channel count is known). */
  get convolution(): tf.layers.Layer | null {
    return this.conv;
  }

  override build(inputShape: Shape | Shape[]): void {
    const fn = 'GradualConv2D';
    const shape = inputShape as Shape;
    const channels = shape[3];
    if (shape.length !== 4 || typeof channels !== 'number') {
      throw new Error(`${fn}: input must be rank 4 [B, H, W, C] with known C, received shape ${describeShape(shape)}`);
    }
    super.build(inputShape);
    if (this.conv === null) {
      this.conv = this.addSublayer(
        makeConv(fn, {
          name: `${this.name}_conv`,
          filters: channels,
          kernelSize: this.kernelSize,
          padding: 'same',
          activation: this.activation,
          useBias: this.useBias,
          kernelInitializer: this.kernelInitializer,
        }),
      );
    }
    this.buildSublayer(this.conv, shape);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      const conv = this.conv;
      if (conv === null) throw new Error(`GradualConv2D: layer '${this.name}' must be built before it is called`);
      return this.interpolate(x, this.callSublayer(conv, x, kwargs));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      kernelSize: [...this.kernelSize],
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: this.kernelInitializer,
      ...super.getConfig(),
    };
  }
}
registerLayer(GradualConv2D);

export interface GradualNetworkInNetworkArgs extends GradNetLayerArgs {
  /** F: output channels of the convolution and of every 1×1 layer. */
  filters: number;
  /** Kernel size of the first convolution; default 3. */
  kernelSize?: number | [number, number];
  /** Strides of the first convolution; default 1. */
  strides?: number | [number, number];
  /** Padding of the first convolution; default 'same'. */
  padding?: PoolPadding;
  /** Number of 1×1 layers after the convolution (the NiN "micro network"); default 2. */
  mlpLayers?: number;
  /** Nonlinearity after every convolution; default 'relu'. */
  activation?: ActivationName;
  /** Add biases; default true. */
  useBias?: boolean;
  /** Kernel initializer name; default 'glorotUniform'. */
  kernelInitializer?: InitializerName;
}

/** Convolution → Network-in-Network (the convolution followed by 1×1 convolutions). */
export class GradualNetworkInNetwork extends GradNetLayer {
  static readonly className = 'hemnet>GradualNetworkInNetwork';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: PoolPadding;
  readonly mlpLayers: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: InitializerName;
  readonly convolution: tf.layers.Layer;
  readonly pointwise: readonly tf.layers.Layer[];

  constructor(args: GradualNetworkInNetworkArgs) {
    const fn = 'GradualNetworkInNetwork';
    if (typeof args !== 'object' || args === null) {
      throw new Error(`${fn}: 'args' must be an object {filters}, received ${String(args)}`);
    }
    const {
      filters,
      kernelSize = 3,
      strides = 1,
      padding = 'same',
      mlpLayers = 2,
      activation = 'relu',
      useBias = true,
      kernelInitializer = 'glorotUniform',
      ...rest
    } = args;
    super(rest);
    this.filters = checkInteger(fn, 'filters', filters, 1);
    this.kernelSize = pair(fn, 'kernelSize', kernelSize);
    this.strides = pair(fn, 'strides', strides);
    this.padding = checkOneOf(fn, 'padding', padding, POOL_PADDINGS);
    this.mlpLayers = checkInteger(fn, 'mlpLayers', mlpLayers, 1);
    this.activation = checkString(fn, 'activation', activation) as ActivationName;
    if (typeof useBias !== 'boolean') throw new Error(`${fn}: 'useBias' must be a boolean, received ${describeValue(useBias)}`);
    this.useBias = useBias;
    this.kernelInitializer = checkString(fn, 'kernelInitializer', kernelInitializer) as InitializerName;
    const common = { activation: this.activation, useBias: this.useBias, kernelInitializer: this.kernelInitializer };
    this.convolution = this.addSublayer(
      makeConv(fn, {
        name: `${this.name}_conv`,
        filters: this.filters,
        kernelSize: this.kernelSize,
        strides: this.strides,
        padding: this.padding,
        ...common,
      }),
    );
    const pointwise: tf.layers.Layer[] = [];
    for (let i = 0; i < this.mlpLayers; i++) {
      pointwise.push(
        this.addSublayer(makeConv(fn, { name: `${this.name}_mlp${i + 1}`, filters: this.filters, kernelSize: 1, ...common })),
      );
    }
    this.pointwise = pointwise;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = inputShape as Shape;
    if (shape.length !== 4) {
      throw new Error(`GradualNetworkInNetwork: input must be rank 4 [B, H, W, C], received shape ${describeShape(shape)}`);
    }
    super.build(inputShape);
    let current = this.buildSublayer(this.convolution, shape);
    for (const layer of this.pointwise) current = this.buildSublayer(layer, current);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return this.convolution.computeOutputShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      const early = this.callSublayer(this.convolution, x, kwargs);
      let late = early;
      for (const layer of this.pointwise) late = this.callSublayer(layer, late, kwargs);
      return this.interpolate(early, late);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      mlpLayers: this.mlpLayers,
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: this.kernelInitializer,
      ...super.getConfig(),
    };
  }
}
registerLayer(GradualNetworkInNetwork);
