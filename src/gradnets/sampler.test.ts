import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { IDENTITY_THETA, affineSample, interpolationWeights } from './sampler.js';
import { TEST_BACKENDS, assertClose, assertNoLeak, randn, useBackend } from '../../test/helpers.js';

/** Float64 reference of the sampler: floor-based bilinear, zero padding, half-pixel centres. */
function referenceSample(
  image: Float64Array,
  [batch, height, width, channels]: [number, number, number, number],
  theta: Float64Array,
  [outH, outW]: [number, number],
): Float64Array {
  const out = new Float64Array(batch * outH * outW * channels);
  const pixel = (b: number, y: number, x: number, c: number): number =>
    y < 0 || y >= height || x < 0 || x >= width ? 0 : (image[((b * height + y) * width + x) * channels + c] as number);
  for (let b = 0; b < batch; b++) {
    const t = (k: number): number => theta[b * 6 + k] as number;
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const xt = (2 * j + 1) / outW - 1;
        const yt = (2 * i + 1) / outH - 1;
        const xs = t(0) * xt + t(1) * yt + t(2);
        const ys = t(3) * xt + t(4) * yt + t(5);
        const x = ((xs + 1) * width - 1) / 2;
        const y = ((ys + 1) * height - 1) / 2;
        const x0 = Math.floor(x);
        const y0 = Math.floor(y);
        const fx = x - x0;
        const fy = y - y0;
        for (let c = 0; c < channels; c++) {
          out[((b * outH + i) * outW + j) * channels + c] =
            (1 - fy) * ((1 - fx) * pixel(b, y0, x0, c) + fx * pixel(b, y0, x0 + 1, c)) +
            fy * ((1 - fx) * pixel(b, y0 + 1, x0, c) + fx * pixel(b, y0 + 1, x0 + 1, c));
        }
      }
    }
  }
  return out;
}

/** Smallest distance of any sampled pixel coordinate to an integer (kinks of bilinear sampling). */
function minDistanceToInteger(theta: Float64Array, batch: number, height: number, width: number, [outH, outW]: [number, number]): number {
  let best = Infinity;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const xt = (2 * j + 1) / outW - 1;
        const yt = (2 * i + 1) / outH - 1;
        const x = (((theta[b * 6] as number) * xt + (theta[b * 6 + 1] as number) * yt + (theta[b * 6 + 2] as number) + 1) * width - 1) / 2;
        const y = (((theta[b * 6 + 3] as number) * xt + (theta[b * 6 + 4] as number) * yt + (theta[b * 6 + 5] as number) + 1) * height - 1) / 2;
        for (const v of [x, y]) best = Math.min(best, Math.abs(v - Math.round(v)));
      }
    }
  }
  return best;
}

const SHAPE: [number, number, number, number] = [2, 5, 6, 2];
const OUT: [number, number] = [3, 4];
// Rotation-and-shear transforms that move some points outside the image (zero padding is exercised).
const THETA = new Float64Array([0.83, 0.21, 0.07, -0.18, 0.94, -0.11, 1.13, -0.29, 0.31, 0.24, 0.71, 0.17]);

for (const backend of TEST_BACKENDS) {
  describe(`affineSample on ${backend}`, () => {
    it('matches a float64 reference sampler, including points outside the image', async () => {
      await useBackend(backend);
      const image = randn(SHAPE, 7) as tf.Tensor4D;
      const theta = tf.tensor2d(Float32Array.from(THETA), [2, 6]);
      const out = affineSample(image, theta, OUT);
      assert.deepEqual(out.shape, [2, 3, 4, 2]);
      const expected = referenceSample(Float64Array.from(image.dataSync()), SHAPE, Float64Array.from(theta.dataSync()), OUT);
      assertClose(out, Array.from(expected), 1e-5, 0, 'sample');
      tf.dispose([image, theta, out]);
    });

    it('reproduces the image at the identity transform and equals half-pixel bilinear resizing when downsampling', async () => {
      await useBackend(backend);
      const image = randn([2, 6, 8, 3], 3) as tf.Tensor4D;
      const identity = tf.tensor2d([...IDENTITY_THETA, ...IDENTITY_THETA], [2, 6]);
      const same = affineSample(image, identity, [6, 8]);
      assertClose(same, image, 1e-5, 0, 'identity');
      const down = affineSample(image, identity, [3, 4]);
      const resized = tf.image.resizeBilinear(image, [3, 4], false, true);
      assertClose(down, resized, 1e-5, 0, 'downsample');
      tf.dispose([image, identity, same, down, resized]);
    });

    it('has gradients w.r.t. image and θ that match float64 finite differences', async () => {
      await useBackend(backend);
      // Keep every sample point ≥ 1e-3 pixels away from the bilinear kinks so that
      // central differences with eps = 1e-6 are exact to float64 rounding.
      assert.ok(minDistanceToInteger(THETA, 2, SHAPE[1], SHAPE[2], OUT) > 1e-3, 'test θ is too close to a kink');
      const image = randn(SHAPE, 11) as tf.Tensor4D;
      const theta = tf.tensor2d(Float32Array.from(THETA), [2, 6]);
      const weights = randn([2, ...OUT, SHAPE[3]], 13);
      const loss = (img: tf.Tensor, th: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(affineSample(img as tf.Tensor4D, th as tf.Tensor2D, OUT), weights));
      const [dImage, dTheta] = tf.grads(loss)([image, theta]);

      const imageData = Float64Array.from(image.dataSync());
      const thetaData = Float64Array.from(theta.dataSync());
      const weightData = Float64Array.from(weights.dataSync());
      const refLoss = (img: Float64Array, th: Float64Array): number => {
        const out = referenceSample(img, SHAPE, th, OUT);
        let sum = 0;
        for (let i = 0; i < out.length; i++) sum += (out[i] as number) * (weightData[i] as number);
        return sum;
      };
      const eps = 1e-6;
      const numeric = (data: Float64Array, other: Float64Array, isTheta: boolean): number[] =>
        Array.from(data, (_, i) => {
          const plus = Float64Array.from(data);
          const minus = Float64Array.from(data);
          plus[i] = (plus[i] as number) + eps;
          minus[i] = (minus[i] as number) - eps;
          const lp = isTheta ? refLoss(other, plus) : refLoss(plus, other);
          const lm = isTheta ? refLoss(other, minus) : refLoss(minus, other);
          return (lp - lm) / (2 * eps);
        });
      assertClose(dTheta!, numeric(thetaData, imageData, true), 1e-3, 1e-3, 'dθ');
      assertClose(dImage!, numeric(imageData, thetaData, false), 1e-4, 1e-4, 'dImage');
      // θ really receives a signal (a zero gradient would pass a loose check on a flat loss).
      assert.ok(Math.max(...Array.from(dTheta!.dataSync(), Math.abs)) > 0.1, 'dθ is not trivially zero');
      tf.dispose([image, theta, weights, dImage!, dTheta!]);
    });

    it('has a non-zero θ gradient exactly at the identity with aligned grids (right-sided derivative)', async () => {
      await useBackend(backend);
      // A horizontal ramp image: moving the sampling grid right raises every output.
      const ramp = tf.tidy(() => tf.reshape(tf.tile(tf.range(0, 6, 1, 'float32'), [5]), [1, 5, 6, 1])) as tf.Tensor4D;
      const identity = tf.tensor2d([IDENTITY_THETA as number[]]);
      const dTheta = tf.grad((th: tf.Tensor) => tf.sum(affineSample(ramp, th as tf.Tensor2D, [5, 5])))(identity);
      const tx = dTheta.dataSync()[2] as number;
      // ∂x_pix/∂tx = W/2 = 3 per point, slope 1 per pixel, 25 points (the last column still has a right neighbour).
      assert.ok(Math.abs(tx - 75) < 1e-3, `∂loss/∂tx = ${tx}, expected 75`);
      tf.dispose([ramp, identity, dTheta]);
    });

    it('builds interpolation rows that drop taps outside the image (zero padding)', async () => {
      await useBackend(backend);
      const coords = tf.tensor2d([[-0.5, 0.25, 2, 3.5]]);
      const w = interpolationWeights(coords, 4);
      // −0.5 keeps half its weight on pixel 0 (the other tap is outside); 3.5 likewise on pixel 3.
      assertClose(w, [0.5, 0, 0, 0, 0.75, 0.25, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0.5], 1e-6, 0, 'rows');
      tf.dispose([coords, w]);
    });

    it('leaks no tensors forward and backward', async () => {
      await useBackend(backend);
      const image = randn(SHAPE, 5) as tf.Tensor4D;
      const theta = tf.tensor2d(Float32Array.from(THETA), [2, 6]);
      assertNoLeak(() => affineSample(image, theta, OUT), 'forward');
      assertNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(affineSample(a as tf.Tensor4D, b as tf.Tensor2D, OUT)))([image, theta]), 'backward');
      tf.dispose([image, theta]);
    });

    it('rejects a θ of the wrong shape and a bad output size', async () => {
      await useBackend(backend);
      const image = tf.zeros([2, 4, 4, 1]) as tf.Tensor4D;
      const theta = tf.zeros([1, 6]) as tf.Tensor2D;
      assert.throws(() => affineSample(image, theta, [2, 2]), /affineSample: 'theta' must have shape \[2, 6\] \(row-major 2×3 per item\), received \[1, 6\]/);
      const theta2 = tf.zeros([2, 6]) as tf.Tensor2D;
      assert.throws(() => affineSample(image, theta2, [0, 2]), /affineSample: 'outputSize' must be two positive integers \[h, w\], received \[0, 2\]/);
      tf.dispose([image, theta, theta2]);
    });
  });
}
