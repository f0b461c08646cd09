import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildSegmentationModel, type SegmentationModelConfig } from '../models/zoo.js';
import { evaluateSegmentation } from '../train/evaluate.js';
import type { SegmentationDataset } from '../data/types.js';
import { useBackend } from '../../test/helpers.js';
import { foldInference, releaseFoldedInference, sharedFoldedInference } from './folded.js';
import { inferProbabilities } from './inference.js';

/**
 * Random moving statistics, γ and β in every batch norm (the HemHead's own
 * included), so that folding is not the identity map it is at initialisation.
 */
function randomizeBatchNorms(model: tf.LayersModel, seed: number): void {
  let s = seed;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const values = layer.weights.map((w) => {
      s += 1;
      const name = w.originalName;
      const shape = w.shape as number[];
      if (name.endsWith('moving_variance')) return tf.randomUniform(shape, 0.3, 3, 'float32', s);
      if (name.endsWith('gamma')) return tf.randomUniform(shape, 0.5, 1.5, 'float32', s);
      return tf.randomNormal(shape, 0, 0.5, 'float32', s);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/** max |a − b| / max |b|: the relative error of a whole logit tensor. */
function relativeError(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  assert.ok(scale > 0, 'the reference logits are all zero');
  return diff / scale;
}

function plainLogits(model: tf.LayersModel, x: tf.Tensor4D): Float32Array {
  return tf.tidy(() => {
    const out = model.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
    return (Array.isArray(out) ? (out[0] as tf.Tensor) : out).dataSync() as Float32Array;
  });
}

function foldedMatches(config: Partial<SegmentationModelConfig>, size: number, label: string): void {
  const { model } = buildSegmentationModel({ ...config, inputSize: [size, size], seed: 3 });
  randomizeBatchNorms(model, 11);
  const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const folded = foldInference(model);
  const logits = tf.tidy(() => folded.logits(x).dataSync() as Float32Array);
  const error = relativeError(logits, plainLogits(model, x));
  assert.ok(error < 1e-4, `${label}: relative error ${error}`);
  // Every batch norm outside the HemHead sits right after a conv: all of them on the main output's path are folded.
  const convBatchNorms = model.layers.filter((l) => l.getClassName() === 'BatchNormalization' && !l.name.startsWith('aux/')).length;
  assert.equal(folded.summary.foldedBatchNorms, convBatchNorms, label);
  assert.ok(folded.summary.fusedRelus > 0, label);
  folded.dispose();
  assert.equal(tf.memory().numTensors, before, `${label}: leaked tensors`);
  x.dispose();
  model.dispose();
}

describe('foldInference: batch norms folded into the convolutions (Eq. W\' = s·W, b\' = β + s·(b − m))', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    // cpu is pure JS: smaller models there.
    const small = backend === 'cpu' ? { width: 4, channels: 8, midChannels: 8, hem: { numBases: 4 } } : { width: 8, channels: 32, midChannels: 32, hem: { numBases: 8 } };
    for (const head of ['hem', 'fcn', 'ema'] as const) {
      it(`${backend}: ${head} head, compact backbone (stage 4 dilated ×2): the same logits as model.apply(training: false)`, async () => {
        await useBackend(backend);
        foldedMatches({ head, ...small }, 32, `${backend} ${head}`);
      });
    }
    it(`${backend}: compact backbone at output stride 4 (dilations 2 and 4) and an auxiliary head (not computed)`, async () => {
      await useBackend(backend);
      foldedMatches({ head: 'fcn', outputStride: 4, auxiliaryHead: true, ...small }, 32, `${backend} os4`);
    });
    it(`${backend}: resnet50 backbone (symmetric ZeroPadding2D folded into strided convs, max pool, multi-grid dilations)`, async () => {
      await useBackend(backend);
      const { model } = buildSegmentationModel({ backbone: 'resnet50', head: 'fcn', width: 4, channels: 8, midChannels: 8, inputSize: [32, 32], seed: 4 });
      randomizeBatchNorms(model, 21);
      const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
      const folded = foldInference(model);
      const error = relativeError(tf.tidy(() => folded.logits(x).dataSync() as Float32Array), plainLogits(model, x));
      assert.ok(error < 1e-4, `relative error ${error}`);
      assert.ok(folded.summary.foldedPaddings > 0, JSON.stringify(folded.summary));
      folded.dispose();
      tf.dispose(x);
      model.dispose();
    });
  }

  it('wasm: the folded fcn pass runs no batch-norm and no separate ReLU kernel after a conv (fewer kernels than execute)', async () => {
    await useBackend('wasm');
    const { model } = buildSegmentationModel({ head: 'fcn', width: 8, channels: 16, midChannels: 16, inputSize: [32, 32], seed: 1 });
    const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const folded = foldInference(model);
    tf.tidy(() => void folded.logits(x)); // the first call folds the weights
    const kernelsOf = async (f: () => void): Promise<string[]> => (await tf.profile(f)).kernels.map((k) => k.name).filter((n) => !n.endsWith('__op'));
    const plain = await kernelsOf(() => tf.tidy(() => void model.execute(x, model.outputs[0]!.name)));
    const fused = await kernelsOf(() => tf.tidy(() => void folded.logits(x)));
    assert.ok(plain.includes('FusedBatchNorm'), 'the plain pass has batch-norm kernels');
    assert.ok(!fused.includes('FusedBatchNorm'), `folded kernels: ${fused.join(' ')}`);
    // The ReLUs left are the ones after residual adds (one per block), none after a conv.
    const blocks = model.layers.filter((l) => l.name.endsWith('/add')).length;
    assert.equal(fused.filter((n) => n === 'Relu').length, blocks);
    assert.ok(fused.length < plain.length, `${fused.length} kernels folded vs ${plain.length} plain`);
    folded.dispose();
    x.dispose();
    model.dispose();
  });

  it('wasm: 3×3 stride-1 units (dilated ones too) run as Winograd F(4×4, 3×3) from 16 input channels where the map allows it, F(2×2, 3×3) from 32 otherwise, with the logits of winograd: false; the options are checked', async () => {
    await useBackend('wasm');
    const { model } = buildSegmentationModel({ head: 'hem', seed: 3 });
    randomizeBatchNorms(model, 4);
    // 72 × 72: the 9 × 9 maps at output stride 8 are not multiples of 2, the 18 × 18 ones not of 4.
    for (const size of [64, 72]) {
      const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const winograd = foldInference(model);
      const smallTiles = foldInference(model, { winogradTile: 2 });
      const direct = foldInference(model, { winograd: false });
      const kernelsOf = async (f: () => void): Promise<Array<{ name: string; inputs: number }>> =>
        (await tf.profile(f)).kernels.filter((k) => !k.name.endsWith('__op')).map((k) => ({ name: k.name, inputs: k.inputShapes.length }));
      for (const f of [winograd, smallTiles, direct]) tf.tidy(() => void f.logits(x)); // folds (and transforms) the weights
      const before = tf.memory().numTensors;
      const withWinograd = await kernelsOf(() => tf.tidy(() => void winograd.logits(x)));
      const withSmallTiles = await kernelsOf(() => tf.tidy(() => void smallTiles.logits(x)));
      const without = await kernelsOf(() => tf.tidy(() => void direct.logits(x)));
      // From the layers: 3×3, stride 1, 'same', dilation d, channels multiples of 4; the map (at this input size) a multiple of 4d with ≥ 16 input channels, or of 2d with ≥ 32.
      const scale = size / 64;
      const units = model.layers.filter((layer) => {
        if (layer.getClassName() !== 'Conv2D') return false;
        const config = layer.getConfig();
        return JSON.stringify(config['kernelSize']) === '[3,3]' && JSON.stringify(config['strides']) === '[1,1]' && config['padding'] === 'same';
      }).map((layer) => {
        const [, h, w, C] = (layer.input as tf.SymbolicTensor).shape as [null, number, number, number];
        const [H, W] = [h * scale, w * scale];
        const d = (layer.getConfig()['dilationRate'] as number[])[0] as number;
        const fits = (m: number) => H % (m * d) === 0 && W % (m * d) === 0 && C % 4 === 0 && (layer.getConfig()['filters'] as number) % 4 === 0;
        return { large: fits(4) && C >= 16, small: fits(2) && C >= 32, d };
      });
      const large = units.filter((u) => u.large).length;
      const small = units.filter((u) => !u.large && u.small).length;
      const smallOnly = units.filter((u) => u.small).length;
      const count = (list: Array<{ name: string; inputs: number }>, name: string, inputs?: number) => list.filter((k) => k.name === name && (inputs === undefined || k.inputs === inputs)).length;
      // x, 36 or 16 filters, bias
      assert.equal(count(withWinograd, 'HemnetWinogradConv2D', 38), large, `F(4×4) units at ${size}`);
      assert.equal(count(withWinograd, 'HemnetWinogradConv2D', 18), small, `F(2×2) units at ${size}`);
      assert.equal(count(withSmallTiles, 'HemnetWinogradConv2D', 18), smallOnly, `winogradTile 2 at ${size}`);
      assert.equal(count(withSmallTiles, 'HemnetWinogradConv2D', 38), 0);
      assert.equal(count(without, 'HemnetWinogradConv2D'), 0);
      assert.equal(count(withWinograd, 'FusedConv2D'), count(without, 'FusedConv2D') - large - small);
      if (size === 64) {
        assert.ok(large >= 7 && small === 0, `at 64 × 64 every eligible unit of the default model takes 4 × 4 tiles (${large} of them, ${small} F(2×2))`);
        assert.ok(units.some((u) => u.large && u.d === 2), 'dilated units too');
      } else {
        assert.ok(small >= 1 && large >= 1, `at 72 × 72 both tiles run (${large} F(4×4), ${small} F(2×2))`);
      }
      const b = tf.tidy(() => direct.logits(x));
      for (const [f, bound] of [[winograd, 5e-5], [smallTiles, 1e-5]] as const) {
        const a = tf.tidy(() => f.logits(x));
        assert.ok(relativeError(a.dataSync(), b.dataSync()) < bound, `relative error ${relativeError(a.dataSync(), b.dataSync())} at ${size}`);
        a.dispose();
      }
      b.dispose();
      assert.equal(tf.memory().numTensors, before, 'repeated calls leak nothing');
      const held = tf.memory().numTensors;
      winograd.dispose();
      assert.ok(tf.memory().numTensors < held, 'dispose frees the transformed filters');
      smallTiles.dispose();
      direct.dispose();
      x.dispose();
    }
    assert.throws(() => foldInference(model, { winograd: 'yes' as unknown as boolean }), /foldInference: 'winograd' must be a boolean, received yes/);
    assert.throws(() => foldInference(model, { winogradTile: 3 as unknown as 2 }), /foldInference: 'winogradTile' must be 'auto', 2 or 4, received 3/);
    model.dispose();
  });

  it('follows weight changes: after setWeights the next call folds again; repeated calls leak nothing', async () => {
    await useBackend('wasm');
    const { model } = buildSegmentationModel({ head: 'hem', width: 8, channels: 16, midChannels: 16, hem: { numBases: 4 }, inputSize: [16, 16], seed: 2 });
    const x = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const folded = foldInference(model);
    const first = tf.tidy(() => folded.logits(x).dataSync() as Float32Array);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.tidy(() => void folded.logits(x));
    assert.equal(tf.memory().numTensors, count, 'repeated calls are flat');
    randomizeBatchNorms(model, 31);
    const after = tf.tidy(() => folded.logits(x).dataSync() as Float32Array);
    assert.ok(relativeError(after, first) > 1e-2, 'the new statistics change the logits');
    assert.ok(relativeError(after, plainLogits(model, x)) < 1e-4, 'and the folded pass follows them');
    folded.dispose();
    assert.throws(() => folded.logits(x), /FoldedInference\.logits: this FoldedInference was disposed/);
    x.dispose();
    model.dispose();
  });

  it('inferProbabilities and evaluateSegmentation give the same results folded (the default) and with fold: false', async () => {
    await useBackend('wasm');
    const start = tf.memory().numTensors;
    const { model } = buildSegmentationModel({ head: 'hem', width: 8, channels: 16, midChannels: 16, numClasses: 4, hem: { numBases: 4 }, inputSize: [16, 16], seed: 5 });
    randomizeBatchNorms(model, 41);
    const image = tf.randomNormal([1, 21, 27, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    for (const mode of ['whole', 'slide'] as const) {
      const p = inferProbabilities(model, image, { mode });
      const q = inferProbabilities(model, image, { mode, fold: false });
      assert.ok(relativeError(p.dataSync(), q.dataSync()) < 1e-4, mode);
      tf.dispose([p, q]);
      // The fold is kept with the model between calls: a second call leaves nothing behind.
      const before = tf.memory().numTensors;
      inferProbabilities(model, image, { mode }).dispose();
      assert.equal(tf.memory().numTensors, before, `${mode}: no tensor left behind`);
    }
    image.dispose();
    const dataset: SegmentationDataset = {
      numClasses: 4,
      ignoreLabel: 255,
      classNames: ['a', 'b', 'c', 'd'],
      size: 3,
      get: (i) => {
        const image = Float32Array.from({ length: 16 * 16 * 3 }, (_, j) => Math.sin(i * 31 + j * 0.7));
        const label = Uint8Array.from({ length: 16 * 16 }, (_, j) => (i + j) % 4);
        return { image, label, height: 16, width: 16, channels: 3, id: `s${i}` };
      },
    };
    const folded = await evaluateSegmentation(model, dataset, { batchSize: 2 });
    const plain = await evaluateSegmentation(model, dataset, { batchSize: 2, fold: false });
    assert.deepEqual(folded.metrics.matrix, plain.metrics.matrix);
    const wholeFolded = await evaluateSegmentation(model, dataset, { inference: { mode: 'whole' } });
    const wholePlain = await evaluateSegmentation(model, dataset, { inference: { mode: 'whole', fold: false } });
    assert.deepEqual(wholeFolded.metrics.matrix, wholePlain.metrics.matrix);
    // model.dispose() frees the kept fold as well: nothing of the model is left.
    model.dispose();
    assert.equal(tf.memory().numTensors, start, 'the model and its kept fold are freed');
  });

  it('sharedFoldedInference: one per model, folded again after a weight change, released on demand', async () => {
    await useBackend('wasm');
    const { model } = buildSegmentationModel({ head: 'fcn', width: 4, channels: 8, midChannels: 8, inputSize: [16, 16], seed: 8 });
    const before = tf.memory().numTensors;
    const image = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const first = sharedFoldedInference(model);
    assert.equal(sharedFoldedInference(model), first, 'the same object on the next call');
    inferProbabilities(model, image).dispose();
    randomizeBatchNorms(model, 51);
    const p = inferProbabilities(model, image);
    const q = inferProbabilities(model, image, { fold: false });
    assert.ok(relativeError(p.dataSync(), q.dataSync()) < 1e-4, 'the kept fold follows setWeights');
    tf.dispose([p, q, image]);
    releaseFoldedInference(model);
    assert.notEqual(sharedFoldedInference(model), first, 'a new one after release');
    releaseFoldedInference(model);
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  });

  it('sharedFoldedInference: a kept fold disposed directly (not through releaseFoldedInference) is replaced, not reused', async () => {
    await useBackend('wasm');
    const { model } = buildSegmentationModel({ head: 'fcn', width: 4, channels: 8, midChannels: 8, inputSize: [16, 16], seed: 8 });
    const image = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const first = sharedFoldedInference(model);
    first.dispose();
    assert.ok(first.isDisposed);
    const second = sharedFoldedInference(model);
    assert.notEqual(second, first, 'a fresh fold after the kept one was disposed');
    assert.ok(!second.isDisposed);
    const p = inferProbabilities(model, image);
    const q = inferProbabilities(model, image, { fold: false });
    assert.ok(relativeError(p.dataSync(), q.dataSync()) < 1e-4);
    tf.dispose([p, q, image]);
    model.dispose();
  });

  it("fan-out: a tensor read by several layers (the input through linear Activations, read three times) lives until its last reader; the caller's input is kept", async () => {
    await useBackend('wasm');
    const input = tf.input({ shape: [8, 8, 3] });
    const same = tf.layers.activation({ activation: 'linear', name: 'same' }).apply(input) as tf.SymbolicTensor;
    const conv = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', useBias: false, name: 'c' }).apply(same) as tf.SymbolicTensor;
    const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(conv) as tf.SymbolicTensor;
    const again = tf.layers.activation({ activation: 'linear', name: 'again' }).apply(same) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'sum' }).apply([bn, again]) as tf.SymbolicTensor;
    const output = tf.layers.add({ name: 'out' }).apply([sum, same]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    randomizeBatchNorms(model, 61);
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 12) as tf.Tensor4D;
    const folded = foldInference(model);
    assert.equal(folded.summary.foldedBatchNorms, 1);
    const logits = tf.tidy(() => folded.logits(x).dataSync() as Float32Array);
    assert.ok(!x.isDisposed, "the caller's input is not freed");
    assert.ok(relativeError(logits, plainLogits(model, x)) < 1e-4);
    folded.dispose();
    tf.dispose(x);
    model.dispose();
  });

  it('rejects what is not a model, and a bad fold option', async () => {
    await useBackend('wasm');
    assert.throws(() => foldInference({} as tf.LayersModel), /foldInference: 'model' must be a tf\.LayersModel, received object/);
    const { model } = buildSegmentationModel({ head: 'fcn', width: 4, channels: 8, midChannels: 8, inputSize: [16, 16], seed: 1 });
    const image = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    assert.throws(() => inferProbabilities(model, image, { fold: 'yes' as unknown as boolean }), /inferProbabilities: 'fold' must be a boolean, received "yes"/);
    const dataset: SegmentationDataset = {
      numClasses: 11,
      ignoreLabel: 255,
      classNames: Array.from({ length: 11 }, (_, i) => `c${i}`),
      size: 1,
      get: () => ({ image: new Float32Array(16 * 16 * 3), label: new Uint8Array(16 * 16), height: 16, width: 16, channels: 3, id: 's0' }),
    };
    const before = tf.memory().numTensors;
    await assert.rejects(evaluateSegmentation(model, dataset, { fold: 'no' as unknown as boolean }), /evaluateSegmentation: 'fold' must be a boolean, received "no"/);
    // The whole-image path overrides inference.fold with its own fold: a bad value must still be reported.
    await assert.rejects(
      evaluateSegmentation(model, dataset, { inference: { mode: 'whole', fold: 0 as unknown as boolean } }),
      /evaluateSegmentation: 'inference\.fold' must be a boolean, received 0/,
    );
    assert.equal(tf.memory().numTensors, before, 'nothing left behind by the rejected calls');
    image.dispose();
    model.dispose();
  });
});
