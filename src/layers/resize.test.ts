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
});
