import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { assertClose } from '../../test/helpers.js';
import { loadBackboneWeights } from './transfer.js';
import { buildSegmentationModel, type SegmentationModelConfig } from './zoo.js';

const SMALL: Partial<SegmentationModelConfig> = { inputSize: [32, 32], numClasses: 4, width: 8, channels: 8, midChannels: 8, hem: { numBases: 4 } };

function backboneWeights(model: tf.LayersModel): Map<string, number[]> {
  return new Map(model.weights.filter((w) => w.originalName.startsWith('backbone/')).map((w) => [w.originalName, Array.from(w.read().dataSync())]));
}

function headWeights(model: tf.LayersModel): number[] {
  return model.weights.filter((w) => w.originalName.startsWith('head/')).flatMap((w) => Array.from(w.read().dataSync()));
}

async function saveToMemory(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  assert.ok(saved !== undefined);
  return saved;
}

describe('loadBackboneWeights', () => {
  it('copies the backbone of a model with the same config (other seed, other head)', async () => {
    await setBackend('wasm');
    const source = buildSegmentationModel({ ...SMALL, seed: 1 });
    // Move the BN statistics so that the non-trainable weights are tested too.
    tf.tidy(() => source.model.apply(tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1), { training: true }) as tf.Tensor);
    const target = buildSegmentationModel({ ...SMALL, head: 'fcn', seed: 2 });
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 2);
    const before = target.backbone.predict(x) as tf.Tensor;
    const expected = source.backbone.predict(x) as tf.Tensor;
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(before, expected))).dataSync()[0] as number) > 1e-3, 'seeds gave equal backbones');
    const headBefore = headWeights(target.model);

    const report = await loadBackboneWeights(target.model, source.model);
    const sourceWeights = backboneWeights(source.model);
    const targetWeights = backboneWeights(target.model);
    assert.deepEqual([...targetWeights.keys()].sort(), [...sourceWeights.keys()].sort());
    for (const [name, values] of sourceWeights) assertClose(targetWeights.get(name) as number[], values, 0, 0, name);
    const after = target.backbone.predict(x) as tf.Tensor;
    assertClose(after, expected, 1e-6, 0, 'backbone outputs');
    assert.deepEqual(headWeights(target.model), headBefore, 'head weights changed');

    assert.equal(report.copiedWeights, sourceWeights.size);
    assert.equal(report.copiedParameters, [...sourceWeights.values()].reduce((s, v) => s + v.length, 0));
    assert.ok(report.copiedLayers.includes('backbone/stem/conv') && report.copiedLayers.includes('backbone/stage4/block1/conv2/bn'));
    assert.deepEqual([report.missingInTarget, report.notInSource], [[], []]);
    tf.dispose([x, before, expected, after]);
    source.model.dispose();
    target.model.dispose();
  });

  it('loads from anything tf.loadLayersModel accepts (an in-memory IOHandler)', async () => {
    await setBackend('wasm');
    // An fcn source: loading it builds no HemHead (whose build keeps one extra tensor alive).
    const source = buildSegmentationModel({ ...SMALL, head: 'fcn', seed: 3 });
    const target = buildSegmentationModel({ ...SMALL, seed: 4 });
    const artifacts = await saveToMemory(source.model);
    const before = tf.memory().numTensors;
    const report = await loadBackboneWeights(target.model, tf.io.fromMemory(artifacts));
    assert.equal(tf.memory().numTensors, before, 'the model loaded for the copy was not disposed');
    assert.ok(report.copiedWeights > 0);
    const sourceWeights = backboneWeights(source.model);
    for (const [name, values] of backboneWeights(target.model)) assertClose(values, sourceWeights.get(name) as number[], 0, 0, name);
    source.model.dispose();
    target.model.dispose();
  });

  it('fails on a shape mismatch, naming the layer and both shapes, and leaves the target unchanged', async () => {
    await setBackend('wasm');
    const source = buildSegmentationModel({ ...SMALL, width: 4, seed: 5 });
    const target = buildSegmentationModel({ ...SMALL, width: 8, seed: 6 });
    const untouched = backboneWeights(target.model);
    await assert.rejects(
      loadBackboneWeights(target.model, source.model),
      /^Error: loadBackboneWeights: shape mismatch in layer 'backbone\/stem\/conv' weight 'kernel': source \[3, 3, 3, 4\], target \[3, 3, 3, 8\]$/,
    );
    assert.deepEqual(backboneWeights(target.model), untouched);
    source.model.dispose();
    target.model.dispose();
  });

  it('lists source layers missing in the target, unless allowMissing', async () => {
    await setBackend('wasm');
    const source = buildSegmentationModel({ ...SMALL, blocksPerStage: 2, seed: 7 });
    const target = buildSegmentationModel({ ...SMALL, blocksPerStage: 1, seed: 8 });
    await assert.rejects(
      loadBackboneWeights(target.model, source.model),
      /^Error: loadBackboneWeights: 16 source layer\(s\) have no counterpart in the target: backbone\/stage1\/block2\/conv1\/conv, backbone\/stage1\/block2\/conv1\/bn, .*backbone\/stage4\/block2\/conv2\/bn \(pass allowMissing: true to skip them\)$/,
    );
    const report = await loadBackboneWeights(target.model, source.model, { allowMissing: true });
    assert.equal(report.missingInTarget.length, 16);
    assert.deepEqual(report.notInSource, []);
    assert.ok(report.copiedLayers.includes('backbone/stage3/block1/shortcut/conv'));
    // The other direction: the target has blocks the source lacks.
    const reverse = await loadBackboneWeights(source.model, target.model);
    assert.equal(reverse.notInSource.length, 16);
    await assert.rejects(loadBackboneWeights(target.model, source.model, { prefix: 'encoder' }), /loadBackboneWeights: the source model has no layer with weights under the prefix 'encoder'/);
    source.model.dispose();
    target.model.dispose();
  });
});
