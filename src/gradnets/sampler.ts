/**
 * Affine spatial transformer sampling (Jaderberg et al. 2015, used by the
 * GradNets paper's "Gradual Spatial Transformer Networks"), built only from
 * ops that have gradients on every tfjs backend, wasm included.
 *
 * Coordinates are normalised to [−1, 1] with pixel centres at
 * (2i + 1)/n − 1 (the "align corners = false" convention), so the identity
 * transform with equal sizes reproduces the image exactly.
 *
 * The usual gather-based bilinear sampler needs `UnsortedSegmentSum` for its
 * gradient, which wasm lacks. Here the bilinear kernel is separable per output
 * point p: with source pixel position (x_p, y_p),
 *   out[b, p, c] = Σ_l Σ_k Wy[b, p, l] · Wx[b, p, k] · image[b, l, k, c],
 * where Wx[b, p, k] = (1 − fx)·[k = ⌊x_p⌋] + fx·[k = ⌊x_p⌋ + 1] (fx the
 * fractional part; out-of-range taps are zero, i.e. zero padding). The k sum
 * is one batched matrix product, the l sum an elementwise product and a
 * reduction; the weight rows come from a small custom-gradient op whose
 * derivative w.r.t. x_p is Wx' = [k = ⌊x_p⌋ + 1] − [k = ⌊x_p⌋] (the
 * right-sided derivative, as in floor-based samplers).
 */
import * as tf from '@tensorflow/tfjs';
import { batchMatMul } from '../ops/batchMatMul.js';

/**
 * One-hot tap masks at ⌊x⌋ and ⌊x⌋ + 1 plus the fractional part, for coords
 * [B, P] over `size` pixels. `tf.oneHot` leaves rows of out-of-range indices
 * empty, which is the zero padding; it is also ~30× faster on wasm than a
 * broadcast `tf.equal` against a position ramp (measured 1.3 vs 69 ms for
 * [16, 400, 60]). Coords are first clipped to [−2, size + 1], which changes no
 * tap (everything outside [−1, size] has none) but keeps the int32 cast safe.
 */
function tapMasks(coords: tf.Tensor2D, size: number): [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] {
  const x = tf.clipByValue(coords, -2, size + 1);
  const x0 = tf.floor(x);
  const index = tf.cast(x0, 'int32') as tf.Tensor2D;
  const m0 = tf.cast(tf.oneHot(index, size), 'float32') as tf.Tensor3D;
  const m1 = tf.cast(tf.oneHot(tf.add(index, tf.scalar(1, 'int32')) as tf.Tensor2D, size), 'float32') as tf.Tensor3D;
  const frac = tf.expandDims(tf.sub(x, x0), 2) as tf.Tensor3D;
  return [m0, m1, frac];
}

const interpolationWeightsOps = new Map<number, (coords: tf.Tensor) => tf.Tensor>();

/**
 * Linear-interpolation weight rows for positions `coords` [B, P] (in pixels,
 * 0 … size − 1) over `size` pixels: returns [B, P, size], each row holding
 * (1 − f) at ⌊x⌋ and f at ⌊x⌋ + 1 (taps outside the image are dropped).
 * Differentiable w.r.t. coords on every backend.
 */
export function interpolationWeights(coords: tf.Tensor2D, size: number): tf.Tensor3D {
  let op = interpolationWeightsOps.get(size);
  if (op === undefined) {
    op = tf.customGrad((input, save) => {
      const c = input as tf.Tensor2D;
      (save as (tensors: tf.Tensor[]) => void)([c]);
      const [m0, m1, frac] = tapMasks(c, size);
      const value = tf.add(tf.mul(m0, tf.sub(1, frac)), tf.mul(m1, frac));
      return {
        value,
        gradFunc: (dy, saved) => {
          const [m0b, m1b] = tapMasks(saved[0] as tf.Tensor2D, size);
          // ∂W[p, k]/∂x_p = m1[p, k] − m0[p, k].
          return tf.sum(tf.mul(dy as tf.Tensor, tf.sub(m1b, m0b)), 2);
        },
      };
    });
    interpolationWeightsOps.set(size, op);
  }
  return op(coords) as tf.Tensor3D;
}

/** Normalised target grid [3, h·w] with rows (x_t, y_t, 1), row-major over (i, j). */
export function targetGrid(height: number, width: number): tf.Tensor2D {
  const xs = new Float32Array(height * width);
  const ys = new Float32Array(height * width);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      xs[i * width + j] = (2 * j + 1) / width - 1;
      ys[i * width + j] = (2 * i + 1) / height - 1;
    }
  }
  const ones = new Float32Array(height * width).fill(1);
  const data = new Float32Array(3 * height * width);
  data.set(xs, 0);
  data.set(ys, height * width);
  data.set(ones, 2 * height * width);
  return tf.tensor2d(data, [3, height * width]);
}

/** The identity affine transform θ = [1, 0, 0, 0, 1, 0] (row-major 2×3). */
export const IDENTITY_THETA: readonly number[] = [1, 0, 0, 0, 1, 0];

/**
 * Samples `image` [B, H, W, C] at the points θ·(x_t, y_t, 1) of an
 * `outputSize` = [h, w] grid; θ [B, 6] is row-major [[a, b, tx], [c, d, ty]]
 * mapping normalised target coords to normalised source coords.
 * Returns [B, h, w, C]; differentiable w.r.t. image and θ on cpu and wasm.
 */
export function affineSample(image: tf.Tensor4D, theta: tf.Tensor2D, outputSize: [number, number]): tf.Tensor4D {
  const fn = 'affineSample';
  if (image.rank !== 4) throw new Error(`${fn}: 'image' must be rank 4 [B, H, W, C], received shape [${image.shape.join(', ')}]`);
  const [batch, height, width, channels] = image.shape;
  if (theta.rank !== 2 || theta.shape[0] !== batch || theta.shape[1] !== 6) {
    throw new Error(`${fn}: 'theta' must have shape [${batch}, 6] (row-major 2×3 per item), received [${theta.shape.join(', ')}]`);
  }
  const [outH, outW] = outputSize;
  if (!Number.isInteger(outH) || !Number.isInteger(outW) || outH < 1 || outW < 1) {
    throw new Error(`${fn}: 'outputSize' must be two positive integers [h, w], received [${outputSize.join(', ')}]`);
  }
  const points = outH * outW;
  return tf.tidy(() => {
    const grid = targetGrid(outH, outW);
    // Rows of θ times the grid: [B, 3] · [3, P] → source coords [B, P] (rank-2
    // products are the fast path on wasm; slicing θ is cheaper than unstacking the result).
    const xNorm = tf.matMul(tf.slice(theta, [0, 0], [batch, 3]), grid) as tf.Tensor2D;
    const yNorm = tf.matMul(tf.slice(theta, [0, 3], [batch, 3]), grid) as tf.Tensor2D;
    // Normalised → pixel index space: x = ((x_n + 1)·W − 1) / 2.
    const xPix = tf.div(tf.sub(tf.mul(tf.add(xNorm, 1), width), 1), 2) as tf.Tensor2D;
    const yPix = tf.div(tf.sub(tf.mul(tf.add(yNorm, 1), height), 1), 2) as tf.Tensor2D;
    const wx = interpolationWeights(xPix, width); // [B, P, W]
    const wy = interpolationWeights(yPix, height); // [B, P, H]
    // Sum over k (width): [B, P, W] · [B, W, H·C] → [B, P, H·C].
    const columns = tf.reshape(tf.transpose(image, [0, 2, 1, 3]), [batch, width, height * channels]) as tf.Tensor3D;
    const rows = tf.reshape(batchMatMul(wx, columns), [batch, points, height, channels]);
    // Sum over l (height) with the row weights.
    const out = tf.sum(tf.mul(rows, tf.expandDims(wy, 3)), 2);
    return tf.reshape(out, [batch, outH, outW, channels]) as tf.Tensor4D;
  });
}
