/**
 * Models and configs saved by hemnet 0.1.0 (test/fixtures/legacy-0.1, see its
 * README) still load with the current code and give the same outputs.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { GradualReLU } from '../src/gradnets/activations.js';
import { HemHead } from '../src/layers/hemHead.js';
import { loadModelFromFiles } from '../src/train/checkpointFiles.js';
import { modelArtifacts } from '../src/train/checkpoint.js';
import { defaultRunConfig, mergeRunConfig } from '../src/train/runConfig.js';
import '../src/data/builtinDatasets.js';
import '../src/index.js'; // registers every serializable layer, as an app importing 'hemnet' does

const FIXTURES = join(import.meta.dirname, 'fixtures', 'legacy-0.1');

function fixedInput(shape: number[]): tf.Tensor4D {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = Float32Array.from({ length: size }, (_, i) => Math.sin(0.37 * i + 0.1) * 0.8);
  return tf.tensor4d(values, shape as [number, number, number, number]);
}

function maxAbsDifference(a: ArrayLike<number>, b: readonly number[]): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

describe('models saved by hemnet 0.1.0', () => {
  let expected: Record<string, { inputShape: number[]; outputs: number[][] }>;
  before(async () => {
    await setBackend('cpu');
    expected = JSON.parse(await readFile(join(FIXTURES, 'expected.json'), 'utf8')) as typeof expected;
  });

  for (const name of ['zoo', 'custom']) {
    it(`${name}: loads and gives the saved outputs`, async () => {
      const model = await loadModelFromFiles(join(FIXTURES, name));
      const want = expected[name];
      assert.ok(want !== undefined);
      const before = tf.memory().numTensors;
      const outputs = tf.tidy(() => {
        const y = model.predict(fixedInput(want.inputShape)) as tf.Tensor | tf.Tensor[];
        return (Array.isArray(y) ? y : [y]).map((t) => t.dataSync().slice());
      });
      assert.equal(tf.memory().numTensors, before);
      assert.equal(outputs.length, want.outputs.length);
      outputs.forEach((out, i) => {
        const diff = maxAbsDifference(out, want.outputs[i] as number[]);
        assert.ok(diff < 1e-5, `${name} output ${i}: max |Δ| ${diff}`);
      });
      const heads = model.layers.filter((l): l is HemHead => l instanceof HemHead);
      assert.equal(heads.length, 1);
      if (name === 'zoo') {
        assert.deepEqual([heads[0]?.options.stepSize, heads[0]?.options.detachEm, heads[0]?.options.normalizeBases], [1, true, true]);
      } else {
        assert.deepEqual([heads[0]?.options.stepSize, heads[0]?.options.kernel, heads[0]?.evalIterations], [0.4, 'rbf', 4]);
        const grelu = model.layers.find((l): l is GradualReLU => l instanceof GradualReLU);
        assert.equal(grelu?.gate, 0.5);
      }
      // Saved again, the layers carry the hemnet> namespace and the current preset names.
      const topology = JSON.stringify((await modelArtifacts(model)).modelTopology);
      assert.ok(topology.includes('"hemnet>HemHead"') && topology.includes('"hemnet>BilinearUpsample"'), 'namespaced class names');
      assert.ok(!topology.includes('"class_name":"HemHead"') && !/"preset":"(hemnet|emanet)"/.test(topology), 'no 0.1 names left');
      model.dispose();
    });
  }

  it('run config: loads, with data.scaleRange moved to data.augmentScale', async () => {
    const old = JSON.parse(await readFile(join(FIXTURES, 'run-config.json'), 'utf8')) as { data: Record<string, unknown> };
    assert.deepEqual(old.data['scaleRange'], [0.75, 1.25]);
    const config = mergeRunConfig(defaultRunConfig(), old, 'run-config.json');
    assert.deepEqual(config.data.augmentScale, [0.75, 1.25]);
    assert.equal(config.data.flip, true);
    assert.ok(!('scaleRange' in config.data));
    // The fixture's own step count (0.1's default) is kept; npm start's default has since become 2000.
    assert.equal(config.train.steps, 1000);
    // Everything else equals today's defaults (the fixture was the 0.1 default run).
    const defaults = defaultRunConfig();
    assert.deepEqual({ ...config, data: { ...config.data, augmentScale: [1, 1], flip: false }, train: { ...config.train, steps: defaults.train.steps } }, defaults);
    assert.throws(
      () => mergeRunConfig(defaultRunConfig(), { data: { scaleRange: [1, 2], augmentScale: [1, 2] } }, 'both.json'),
      /^Error: both\.json: 'data\.scaleRange' was renamed 'data\.augmentScale'; give only 'data\.augmentScale'$/,
    );
  });
});
