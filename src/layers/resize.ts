/**
 * Bilinear upsampling by an integer factor with half-pixel centres (the
 * alignment of PyTorch's `align_corners=False` used by EMANet/mmseg), as a
 * serializable layer. tfjs's `upSampling2d` uses the legacy alignment, which
 * shifts the upsampled logits by up to (factor − 1)/2 pixels.
 *
 * The gradient is our own: tfjs 4.22's ResizeBilinearGrad ignores
 * `halfPixelCenters` and returns the gradient of the legacy alignment (on
 * cpu and wasm; a finite-difference check in resize.test.ts shows it), so
 * backpropagation uses the exact adjoint Aₕᵀ·dy·A_w of the interpolation
 * matrices instead.
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

/**
 * The [n·factor, n] matrix of half-pixel bilinear interpolation (tfjs's
 * rule: source coordinate (o + ½)/factor − ½ clamped at 0, the upper
 * neighbour clamped at n − 1).
 */
export function halfPixelInterpolationMatrix(n: number, factor: number): Float32Array {
  const out = n * factor;
  const matrix = new Float32Array(out * n);
  for (let o = 0; o < out; o++) {
    const source = Math.max(0, (o + 0.5) / factor - 0.5);
    const top = Math.min(Math.floor(source), n - 1);
    const bottom = Math.min(top + 1, n - 1);
    const frac = source - top;
    matrix[o * n + top] = (matrix[o * n + top] as number) + (1 - frac);
    matrix[o * n + bottom] = (matrix[o * n + bottom] as number) + frac;
  }
  return matrix;
}

/** Half-pixel bilinear upsampling `[B, h, w, C]` → `[B, h·f, w·f, C]` with the exact gradient. */
export function upsampleHalfPixel(input: tf.Tensor4D, factor: number): tf.Tensor4D {
  const [, h, w] = input.shape;
  const upsample = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const value = tf.image.resizeBilinear(args[0] as tf.Tensor4D, [h * factor, w * factor], false, true);
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const g = (Array.isArray(dy) ? dy[0] : dy) as tf.Tensor4D; // [B, hf, wf, C]
        const ah = tf.tensor2d(halfPixelInterpolationMatrix(h, factor), [h * factor, h]);
        const aw = tf.tensor2d(halfPixelInterpolationMatrix(w, factor), [w * factor, w]);
        const [b, , , c] = g.shape;
        // dx[b, i, j, c] = Σ_{o,p} A_h[o, i] · dy[b, o, p, c] · A_w[p, j]
        const rows = tf.matMul(ah, tf.reshape(tf.transpose(g, [1, 0, 2, 3]), [h * factor, b * w * factor * c]), true, false); // [h, B·wf·C]
        const byCol = tf.transpose(tf.reshape(rows, [h, b, w * factor, c]), [2, 0, 1, 3]); // [wf, h, B, C]
        const cols = tf.matMul(aw, tf.reshape(byCol, [w * factor, h * b * c]), true, false); // [w, h·B·C]
        return tf.transpose(tf.reshape(cols, [w, h, b, c]), [2, 1, 0, 3]);
      },
    };
  });
  return upsample(input) as tf.Tensor4D;
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
      return upsampleHalfPixel(input, this.factor);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), factor: this.factor };
  }
}

// Registered as 'hemnet>BilinearUpsample'; models saved by hemnet 0.1 name it 'BilinearUpsample'.
registerLayer(BilinearUpsample, ['BilinearUpsample']);
