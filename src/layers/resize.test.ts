import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BilinearUpsample } from './resize.js';
import { assertClose, assertNoLeak, randn, useBackend } from '../../test/helpers.js';
import { saveAndLoad } from '../../test/layers.js';

describe('BilinearUpsample', () => {
  it('upsamples with half-pixel centres, keeps constant maps constant, and round-trips', async () => {
    await useBackend('wasm');
    const input = tf.input({ shape: [null, null, 2] as unknown as number[] });
    const layer = new BilinearUpsample({ factor: 4, name: 'up' });
    const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
    const x = randn([1, 3, 5, 2], 1);
    const y = model.predict(x) as tf.Tensor;
    assert.deepEqual(y.shape, [1, 12, 20, 2]);
    assertClose(y, tf.image.resizeBilinear(x as tf.Tensor4D, [12, 20], false, true), 1e-6);
    // Half-pixel centres: a row [0, 1] upsampled ×2 samples the source at −0.25 (clamped), 0.25, 0.75, 1.25
    // (clamped) → [0, 0.25, 0.75, 1]; the legacy alignment of upSampling2d gives [0, 0.5, 1, 1].
    const row = new BilinearUpsample({ factor: 2 }).apply(tf.tensor4d([0, 0, 1, 1], [1, 1, 2, 2])) as tf.Tensor;
    assertClose(tf.slice(row, [0, 0, 0, 0], [1, 1, 4, 1]), [0, 0.25, 0.75, 1], 1e-6);
    const loaded = await saveAndLoad(model);
    assertClose(loaded.predict(x) as tf.Tensor, y, 0);
    assert.equal(BilinearUpsample.fromConfig(BilinearUpsample, layer.getConfig()).getConfig()['factor'], 4);
    assertNoLeak(() => model.predict(x) as tf.Tensor);
    const grad = tf.grad((t: tf.Tensor) => tf.sum(layer.apply(t) as tf.Tensor))(x);
    // Each output pixel's interpolation weights sum to 1, so the gradient of the sum has total mass = #outputs.
    assertClose([tf.sum(grad).dataSync()[0]!], [12 * 20 * 2], 1e-3);
    assert.throws(() => new BilinearUpsample({ factor: 1.5 }), /BilinearUpsample: 'factor' must be an integer ≥ 1, received 1.5/);
    tf.dispose([x, y, row, grad]);
  });

  it('has the exact gradient (finite differences; tfjs 4.22 ResizeBilinearGrad ignores halfPixelCenters)', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await useBackend(backend);
      for (const [factor, shape] of [[2, [2, 3, 5, 2]], [8, [1, 4, 4, 3]]] as const) {
        const layer = new BilinearUpsample({ factor });
        const x = randn([...shape], 11);
        const w = randn([shape[0], shape[1] * factor, shape[2] * factor, shape[3]], 12);
        const d = randn([...shape], 13);
        const f = (t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t) as tf.Tensor, w)) as tf.Scalar;
        const [analytic, numeric, legacy] = tf.tidy(() => {
          const g = tf.grad(f)(x);
          const eps = 1e-2;
          const fd = (f(tf.add(x, tf.mul(d, eps))).dataSync()[0]! - f(tf.sub(x, tf.mul(d, eps))).dataSync()[0]!) / (2 * eps);
          // What tfjs's own gradient of the half-pixel resize gives (the legacy alignment's adjoint).
          if (factor !== 8) return [tf.sum(tf.mul(g, d)).dataSync()[0]!, fd, NaN];
          const tfjs = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(t as tf.Tensor4D, [shape[1] * factor, shape[2] * factor], false, true), w)) as tf.Scalar)(x);
          return [tf.sum(tf.mul(g, d)).dataSync()[0]!, fd, tf.sum(tf.mul(tfjs, d)).dataSync()[0]!];
        });
        assert.ok(Math.abs(analytic - numeric) <= 1e-3 * Math.max(1, Math.abs(numeric)), `${backend} ×${factor}: g·d ${analytic} vs finite difference ${numeric}`);
        if (factor === 8) assert.ok(Math.abs(legacy - numeric) > 0.05 * Math.abs(numeric), `tfjs's gradient became right (${legacy} vs ${numeric}): drop the custom gradient`);
        tf.dispose([x, w, d]);
      }
    }
  });
});
