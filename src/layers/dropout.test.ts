import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Dropout, setDropoutStream } from './dropout.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { TEST_BACKENDS, useBackend } from '../../test/helpers.js';

const ones = (): tf.Tensor => tf.ones([2, 4, 4, 8]);
const maskOf = (layer: Dropout, x: tf.Tensor): number[] => tf.tidy(() => Array.from((layer.apply(x, { training: true }) as tf.Tensor).dataSync()));

for (const backend of TEST_BACKENDS) {
  describe(`Dropout (a mask per training step) on ${backend}`, () => {
    afterEach(() => setDropoutStream(null));

    it("tfjs's seeded Dropout repeats its mask on every call (why this layer exists; fails once tfjs changes that)", async () => {
      await useBackend(backend);
      const x = ones();
      const stock = tf.layers.dropout({ rate: 0.5, seed: 3 });
      const first = tf.tidy(() => Array.from((stock.apply(x, { training: true }) as tf.Tensor).dataSync()));
      const second = tf.tidy(() => Array.from((stock.apply(x, { training: true }) as tf.Tensor).dataSync()));
      assert.deepEqual(first, second);
      x.dispose();
    });

    it('draws a new mask each step, the same mask for the same (seed, step, shard), another per shard; scales kept units by 1/(1 − rate); identity in inference; no leaks', async () => {
      await useBackend(backend);
      const x = ones();
      const layer = new Dropout({ rate: 0.25, seed: 11 });
      const twin = new Dropout({ rate: 0.25, seed: 11 });
      const before = tf.memory().numTensors;
      setDropoutStream(5);
      const step5 = maskOf(layer, x);
      assert.deepEqual(maskOf(layer, x), step5, 'the same step gives the same mask');
      assert.deepEqual(maskOf(twin, x), step5, 'the same seed and step give the same mask in another instance (a worker replica, a resumed run)');
      setDropoutStream(6);
      const step6 = maskOf(layer, x);
      assert.notDeepEqual(step6, step5, 'another step, another mask');
      setDropoutStream(6, 1);
      assert.notDeepEqual(maskOf(layer, x), step6, 'another shard, another mask');
      for (const mask of [step5, step6]) {
        assert.ok(mask.every((v) => v === 0 || Math.abs(v - 1 / 0.75) < 1e-6), 'kept units are scaled by 1/(1 − rate)');
        const dropped = mask.filter((v) => v === 0).length / mask.length;
        assert.ok(dropped > 0.1 && dropped < 0.4, `dropped ${dropped} of the units at rate 0.25`);
      }
      const inference = layer.apply(x, { training: false }) as tf.Tensor;
      assert.equal(inference.dataId, x.dataId, 'the identity in inference (the same data, no copy)');
      inference.dispose();
      assert.equal(tf.memory().numTensors, before);
      x.dispose();
    });

    it('without an announced step, counts its own calls (masks still differ); without a seed, masks differ too', async () => {
      await useBackend(backend);
      const x = ones();
      const counted = new Dropout({ rate: 0.5, seed: 2 });
      const first = maskOf(counted, x);
      assert.notDeepEqual(maskOf(counted, x), first);
      assert.deepEqual(maskOf(new Dropout({ rate: 0.5, seed: 2 }), x), first, 'a fresh layer starts at the same first mask');
      const unseeded = new Dropout({ rate: 0.5 });
      assert.notDeepEqual(maskOf(unseeded, x), maskOf(unseeded, x));
      x.dispose();
    });

    it('round-trips through the model JSON and rejects bad arguments', async () => {
      await useBackend(backend);
      const { model } = buildSegmentationModel({ head: 'fcn' });
      const dropouts = model.layers.filter((l) => l instanceof Dropout) as Dropout[];
      assert.ok(dropouts.length >= 1, 'the zoo heads use hemnet Dropout');
      const restored = await tf.models.modelFromJSON({ modelTopology: model.toJSON(null, false) } as tf.io.ModelJSON);
      const again = restored.layers.filter((l) => l instanceof Dropout) as Dropout[];
      assert.deepEqual(again.map((l) => [l.name, l.rate, l.seed]), dropouts.map((l) => [l.name, l.rate, l.seed]));
      assert.throws(() => new Dropout({ rate: 1 }), /Dropout: 'rate' must be in \[0, 1\), received 1/);
      assert.throws(() => new Dropout({ rate: 0.1, seed: 1.5 }), /'seed' must be an integer or null, received 1.5/);
      assert.throws(() => setDropoutStream(-1), /'step' must be an integer ≥ 0 or null, received -1/);
      assert.throws(() => setDropoutStream(0, 0.5), /'shard' must be an integer ≥ 0, received 0.5/);
      model.dispose();
      restored.dispose();
    });

    it('saves and loads with a model (topology and weights), and the loaded layer draws the same mask for the same step', async () => {
      await useBackend(backend);
      const input = tf.input({ shape: [4, 4, 8] });
      const output = new Dropout({ rate: 0.3, seed: 9, name: 'drop' }).apply(tf.layers.conv2d({ filters: 8, kernelSize: 1, name: 'conv' }).apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor;
      const model = tf.model({ inputs: input, outputs: output });
      let saved: tf.io.ModelArtifacts | undefined;
      await model.save(tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved as tf.io.ModelArtifacts));
      const layer = loaded.getLayer('drop');
      assert.ok(layer instanceof Dropout);
      assert.deepEqual([layer.rate, layer.seed], [0.3, 9]);
      const x = tf.ones([2, 4, 4, 8]);
      setDropoutStream(4);
      const run = (m: tf.LayersModel): number[] => tf.tidy(() => Array.from((m.apply(x, { training: true }) as tf.Tensor).dataSync()));
      assert.deepEqual(run(loaded), run(model));
      x.dispose();
      model.dispose();
      loaded.dispose();
    });
  });
}
