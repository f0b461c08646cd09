import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { setBackend } from '../backend.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { saveModelToFiles } from '../train/checkpointFiles.js';
import { defaultRunConfig, mergeRunConfig } from '../train/runConfig.js';
import { loadSegmenter, segment } from './node.js';
import { segmenterInfoForRun } from './runInfo.js';
import { createSegmenter, segmentSync, SEGMENTER_FILE } from './segment.js';

/** A 30×45 RGB test picture (not a multiple of the output stride). */
function picture(height = 30, width = 45): Uint8Array {
  const rgb = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = 3 * (y * width + x);
      rgb[p] = (7 * x + 3 * y) % 256;
      rgb[p + 1] = (x * y) % 256;
      rgb[p + 2] = x > width / 2 ? 200 : 30;
    }
  }
  return rgb;
}

describe('segment() and loadSegmenter()', () => {
  let dir: string;
  let model: tf.LayersModel;
  const mean = [0.5, 0.5, 0.5];
  const std = [0.29, 0.29, 0.29];
  const classNames = ['background', 'a', 'b', 'c', 'd'];

  before(async () => {
    await setBackend('wasm');
    dir = await mkdtemp(join(tmpdir(), 'hemnet-segment-'));
    ({ model } = buildSegmentationModel({ inputSize: [16, 16], width: 8, channels: 16, midChannels: 16, numClasses: 5, hem: { numBases: 4 }, seed: 11 }));
  });
  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('segments a tensor, RGB and RGBA pixels alike, at the image size, with labels = argmax of probabilities and the attention maps', async () => {
    const segmenter = createSegmenter(model, { classNames, mean, std });
    const rgb = picture();
    const rgba = new Uint8ClampedArray(30 * 45 * 4);
    for (let p = 0; p < 30 * 45; p++) {
      rgba.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p);
      rgba[4 * p + 3] = 255;
    }
    const pixels = tf.tensor3d(rgb, [30, 45, 3], 'int32');
    const fromTensor = await segment(segmenter, pixels);
    const fromRgb = await segment(segmenter, { data: rgb, width: 45, height: 30 });
    const fromRgba = await segment(segmenter, { data: rgba, width: 45, height: 30 });
    pixels.dispose();
    assert.equal(fromTensor.height, 30);
    assert.equal(fromTensor.width, 45);
    assert.equal(fromTensor.labels.length, 30 * 45);
    assert.equal(fromTensor.probabilities.length, 30 * 45 * 5);
    assert.equal(fromTensor.mode, 'whole');
    assert.deepEqual(fromTensor.classNames, classNames);
    assert.deepEqual(fromRgb.labels, fromTensor.labels);
    assert.deepEqual(fromRgba.labels, fromTensor.labels);
    for (let p = 0; p < 30 * 45; p++) {
      const row = Array.from(fromTensor.probabilities.subarray(5 * p, 5 * p + 5));
      assert.equal(fromTensor.labels[p], row.indexOf(Math.max(...row)));
    }
    // Same as normalising by hand and running inferProbabilities' whole mode.
    const normalized = tf.tidy(() => tf.div(tf.sub(tf.div(tf.tensor3d(rgb, [30, 45, 3], 'float32'), 255), tf.tensor1d(mean)), tf.tensor1d(std)) as tf.Tensor3D);
    const byHand = segmentSync(model, normalized, { normalized: true, attention: false });
    normalized.dispose();
    assert.deepEqual(byHand.labels, fromTensor.labels);
    assert.equal(byHand.attention, null);
    const attention = fromTensor.attention;
    assert.ok(attention !== null);
    assert.equal(attention.elbo.length, 3);
    assert.deepEqual(attention.featureSize, [4, 6], 'the whole image padded to 32×48, at stride 8');
  });

  it('slides windows over a large image and leaves no tensors behind', async () => {
    const rgb = picture(40, 70);
    const segmenter = createSegmenter(model, { classNames, mean, std, inference: { maxWholeSide: 32 } });
    const first = await segment(segmenter, { data: rgb, width: 70, height: 40 }, { attention: false });
    const before = tf.memory().numTensors;
    const result = await segment(segmenter, { data: rgb, width: 70, height: 40 });
    assert.equal(tf.memory().numTensors, before);
    assert.equal(result.mode, 'slide');
    assert.deepEqual(result.labels, first.labels);
    assert.equal(result.labels.length, 40 * 70);
  });

  it('takes file paths and encoded bytes in Node, at their own size', async () => {
    const rgb = picture();
    const path = join(dir, 'photo.png');
    await sharp(rgb, { raw: { width: 45, height: 30, channels: 3 } }).png().toFile(path);
    const segmenter = createSegmenter(model, { classNames, mean, std });
    const fromPath = await segment(segmenter, path);
    const fromBuffer = await segment(segmenter, await readFile(path));
    const fromPixels = await segment(segmenter, { data: rgb, width: 45, height: 30 });
    assert.deepEqual(fromPath.labels, fromPixels.labels);
    assert.deepEqual(fromBuffer.labels, fromPixels.labels);
    await assert.rejects(segment(segmenter, join(dir, 'missing.png')), /segment: cannot read image '.*missing\.png'/);
  });

  it('loadSegmenter reads a run folder or a model folder, with segmenter.json or from the run config', async () => {
    const config = mergeRunConfig(defaultRunConfig(), { model: { numClasses: 5, inputSize: [16, 16], width: 8, channels: 16, midChannels: 16, hem: { numBases: 4 }, seed: 11 }, data: { canvasSize: 16, classNames } });
    const run = join(dir, 'run');
    await saveModelToFiles(join(run, 'model'), model);
    await writeFile(join(run, 'config.json'), JSON.stringify(config));
    // Without segmenter.json: taken from config.json.
    const fromConfig = await loadSegmenter(run);
    assert.deepEqual(fromConfig.info.classNames, classNames);
    assert.deepEqual(fromConfig.info.mean, mean);
    await writeFile(join(run, 'model', SEGMENTER_FILE), JSON.stringify(segmenterInfoForRun(config)));
    const fromFolder = await loadSegmenter(join(run, 'model'));
    const fromModelJson = await loadSegmenter(join(run, 'model', 'model.json'));
    assert.deepEqual(fromFolder.info, fromModelJson.info);
    assert.deepEqual(fromFolder.info.inputSize, [16, 16]);
    const rgb = { data: picture(), width: 45, height: 30 };
    const expected = await segment(createSegmenter(model, { classNames, mean, std }), rgb);
    assert.deepEqual((await segment(fromFolder, rgb)).labels, expected.labels);
    for (const s of [fromConfig, fromFolder, fromModelJson]) s.model.dispose();
    await assert.rejects(loadSegmenter(dir), /loadSegmenter: '.*' holds no saved model \(model\/model\.json or model\.json\)/);
    await writeFile(join(run, 'model', SEGMENTER_FILE), JSON.stringify({ format: 'something-else' }));
    await assert.rejects(loadSegmenter(run), /loadSegmenter: '.*segmenter\.json' is not a hemnet segmenter description \(format 'hemnet-segmenter'\), received "something-else"/);
  });

  it('rejects what it cannot segment, naming the argument', async () => {
    await assert.rejects(segment({} as never, { data: picture(), width: 45, height: 30 }), /segment: 'target' must be a Segmenter \(loadSegmenter\) or a tf.LayersModel, received an object \(Object\)/);
    await assert.rejects(segment(model, 42 as never), /segment: 'image' must be a file path or encoded image bytes \(Buffer\), received number|segment: 'image' must be a tensor of pixels/);
    await assert.rejects(segment(model, { data: new Uint8Array(10), width: 45, height: 30 }), /segment: pixel 'image' must hold width·height·3 or ·4 bytes, received 10 bytes for 45×30/);
    const wrong = tf.zeros([2, 8, 8, 3]);
    await assert.rejects(segment(model, wrong as tf.Tensor4D), /segment: a tensor 'image' must be \[H, W, 3\] or \[1, H, W, 3\] \(or 1 channel\), received shape \[2, 8, 8, 3\]/);
    wrong.dispose();
    await assert.rejects(segment(model, { data: picture(), width: 45, height: 30 }, { mean: [0.5] }), /segment: 'mean' and 'std' must be 3 numbers each/);
  });
});
