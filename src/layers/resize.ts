/**
 * Bilinear upsampling by an integer factor with half-pixel centres (the
 * alignment of PyTorch's `align_corners=False` used by EMANet/mmseg), as a
 * serializable layer. tfjs's `upSampling2d` uses the legacy alignment, which
 * shifts the upsampled logits by up to (factor − 1)/2 pixels.
 */
import * as tf from '@tensorflow/tfjs';
import { defaultLayerName, registerLayer } from './serialization.js';

export interface BilinearUpsampleConfig {
  /** Integer factor ≥ 1 for both height and width. */
  factor: number;
  name?: string;
  trainable?: boolean;
  dtype?: tf.DataType;
}

export class BilinearUpsample extends tf.layers.Layer {
  static className = 'hemnet>BilinearUpsample';
  readonly factor: number;

  constructor(config: BilinearUpsampleConfig) {
    super({ ...config, name: config.name ?? defaultLayerName(BilinearUpsample.className) });
    const factor = config.factor;
    if (!Number.isInteger(factor) || factor < 1) {
      throw new Error(`BilinearUpsample: 'factor' must be an integer ≥ 1, received ${String(factor)}`);
    }
    this.factor = factor;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const scale = (d: number | null | undefined) => (d === null || d === undefined ? null : d * this.factor);
    return [shape[0] ?? null, scale(shape[1]), scale(shape[2]), shape[3] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const input = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (this.factor === 1) return tf.clone(input);
      const [, h, w] = input.shape;
      return tf.image.resizeBilinear(input, [h * this.factor, w * this.factor], false, true);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), factor: this.factor };
  }
}

// Registered as 'hemnet>BilinearUpsample'; models saved by hemnet 0.1 name it 'BilinearUpsample'.
registerLayer(BilinearUpsample, ['BilinearUpsample']);
