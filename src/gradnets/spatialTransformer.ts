/**
 * Gradual spatial transformer (GradNets paper, "Gradual Spatial Transformer
 * Networks"): a randomly initialised localisation network can move the glimpse
 * off the image or zoom in too far, so the classifier is first trained on a
 * plain downsample and the affine spatial transformer is blended in:
 *   y = g·STN(x) + (1 − g)·downsample(x),  x [B, H, W, C] → [B, h, w, C].
 *
 * - downsample: 'average' (mean pooling with window H/h × W/w, the paper's 3×3
 *   mean pooling for 60 → 20) or 'bilinear' (half-pixel-centre bilinear
 *   resize; equals the STN output at the identity θ).
 * - STN: a localisation network (optional 5×5 conv + 2×2 max-pool stages,
 *   then a dense layer and a 6-unit dense layer whose kernel starts at zero and
 *   bias at the identity transform, so training starts from θ = identity)
 *   and the wasm-safe bilinear sampler of `sampler.ts`.
 */
import * as tf from '@tensorflow/tfjs';
import { registerLayer } from '../layers/serialization.js';
import { GradNetLayer, checkInteger, checkOneOf, describeShape, describeValue } from './base.js';
import type { GradNetLayerArgs, Kwargs, Shape } from './base.js';
import { IDENTITY_THETA, affineSample } from './sampler.js';

export type DownsampleMode = 'average' | 'bilinear';
export const DOWNSAMPLE_MODES: readonly DownsampleMode[] = ['average', 'bilinear'];

export interface GradualSpatialTransformerArgs extends GradNetLayerArgs {
  /** [h, w] of the output glimpse. */
  outputSize: [number, number];
  /** The early branch; default 'average' (needs H % h = 0 and W % w = 0). */
  downsample?: DownsampleMode;
  /** Filters of each localisation conv stage (5×5 conv, ReLU, 2×2 max pool); default [] (none). */
  localizationFilters?: number[];
  /** Kernel size of the localisation convolutions; default 5. */
  localizationKernelSize?: number;
  /** Hidden units of the localisation dense layer; default 50 (the paper's). */
  localizationUnits?: number;
}

/** Downsample → affine spatial transformer. */
export class GradualSpatialTransformer extends GradNetLayer {
  static readonly className = 'hemnet>GradualSpatialTransformer';
  readonly outputSize: [number, number];
  readonly downsample: DownsampleMode;
  readonly localizationFilters: readonly number[];
  readonly localizationKernelSize: number;
  readonly localizationUnits: number;
  /** Localisation network, input first; the last layer outputs θ [B, 6]. */
  readonly localization: readonly tf.layers.Layer[];

  constructor(args: GradualSpatialTransformerArgs) {
    const fn = 'GradualSpatialTransformer';
    if (typeof args !== 'object' || args === null) {
      throw new Error(`${fn}: 'args' must be an object {outputSize}, received ${String(args)}`);
    }
    const {
      outputSize,
      downsample = 'average',
      localizationFilters = [],
      localizationKernelSize = 5,
      localizationUnits = 50,
      ...rest
    } = args;
    super(rest);
    if (!Array.isArray(outputSize) || outputSize.length !== 2) {
      throw new Error(`${fn}: 'outputSize' must be [h, w], received ${describeValue(outputSize)}`);
    }
    this.outputSize = [checkInteger(fn, 'outputSize[0]', outputSize[0], 1), checkInteger(fn, 'outputSize[1]', outputSize[1], 1)];
    this.downsample = checkOneOf(fn, 'downsample', downsample, DOWNSAMPLE_MODES);
    if (!Array.isArray(localizationFilters)) {
      throw new Error(`${fn}: 'localizationFilters' must be an array of positive integers, received ${describeValue(localizationFilters)}`);
    }
    this.localizationFilters = localizationFilters.map((f, i) => checkInteger(fn, `localizationFilters[${i}]`, f, 1));
    this.localizationKernelSize = checkInteger(fn, 'localizationKernelSize', localizationKernelSize, 1);
    this.localizationUnits = checkInteger(fn, 'localizationUnits', localizationUnits, 1);

    const layers: tf.layers.Layer[] = [];
    this.localizationFilters.forEach((filters, i) => {
      layers.push(
        tf.layers.conv2d({
          name: `${this.name}_loc_conv${i + 1}`,
          filters,
          kernelSize: this.localizationKernelSize,
          padding: 'same',
          activation: 'relu',
        }),
      );
      layers.push(tf.layers.maxPooling2d({ name: `${this.name}_loc_pool${i + 1}`, poolSize: 2, padding: 'same' }));
    });
    layers.push(tf.layers.flatten({ name: `${this.name}_loc_flatten` }));
    layers.push(tf.layers.dense({ name: `${this.name}_loc_hidden`, units: this.localizationUnits, activation: 'relu' }));
    layers.push(
      tf.layers.dense({
        name: `${this.name}_loc_theta`,
        units: 6,
        // Zero kernel + identity bias (set in build): θ starts at the identity.
        kernelInitializer: 'zeros',
        biasInitializer: 'zeros',
      }),
    );
    this.localization = layers.map((layer) => this.addSublayer(layer));
  }

  override build(inputShape: Shape | Shape[]): void {
    const fn = 'GradualSpatialTransformer';
    const shape = inputShape as Shape;
    const [, height, width, channels] = shape;
    if (shape.length !== 4 || typeof height !== 'number' || typeof width !== 'number' || typeof channels !== 'number') {
      throw new Error(`${fn}: input must be rank 4 [B, H, W, C] with known H, W, C, received shape ${describeShape(shape)}`);
    }
    const [outH, outW] = this.outputSize;
    if (this.downsample === 'average' && (height % outH !== 0 || width % outW !== 0)) {
      throw new Error(
        `${fn}: downsample 'average' needs the input size to be a multiple of 'outputSize' [${outH}, ${outW}], ` +
          `received input [${height}, ${width}] (use downsample 'bilinear')`,
      );
    }
    super.build(inputShape);
    let current = shape;
    for (const layer of this.localization) current = this.buildSublayer(layer, current);
    // Start from θ = identity (a loaded checkpoint overwrites this afterwards).
    const thetaLayer = this.localization[this.localization.length - 1] as tf.layers.Layer;
    tf.tidy(() => {
      thetaLayer.setWeights([tf.zeros([this.localizationUnits, 6]), tf.tensor1d(IDENTITY_THETA as number[], 'float32')]);
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const shape = inputShape as Shape;
    return [shape[0] ?? null, this.outputSize[0], this.outputSize[1], shape[3] ?? null];
  }

  /** θ [B, 6] predicted by the localisation network for x [B, H, W, C]. */
  predictTheta(x: tf.Tensor4D, kwargs: Kwargs = {}): tf.Tensor2D {
    return tf.tidy(() => {
      let h: tf.Tensor = x;
      for (const layer of this.localization) h = this.callSublayer(layer, h, kwargs);
      return h as tf.Tensor2D;
    });
  }

  /** The early branch: plain downsampling to `outputSize`. */
  downsampleInput(x: tf.Tensor4D): tf.Tensor4D {
    const [outH, outW] = this.outputSize;
    if (this.downsample === 'bilinear') return tf.image.resizeBilinear(x, [outH, outW], false, true);
    const window: [number, number] = [x.shape[1] / outH, x.shape[2] / outW];
    return tf.avgPool(x, window, window, 'valid');
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const early = this.downsampleInput(x);
      const late = affineSample(x, this.predictTheta(x, kwargs), this.outputSize);
      return this.interpolate(early, late);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      outputSize: [...this.outputSize],
      downsample: this.downsample,
      localizationFilters: [...this.localizationFilters],
      localizationKernelSize: this.localizationKernelSize,
      localizationUnits: this.localizationUnits,
      ...super.getConfig(),
    };
  }
}
registerLayer(GradualSpatialTransformer);
