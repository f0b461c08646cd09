/**
 * PyTorch → hemnet: the fixtures under test/fixtures/torch/ come from
 * `/usr/bin/python3 scripts/fixtures/torch_fixtures.py` (torch 1.13, eval
 * mode); these tests load the weights into hemnet and match PyTorch's
 * outputs. Tolerance: max |diff| ≤ 1e-4 · max(1, max |expected|) — an
 * absolute 1e-4 on unit-scale outputs, relative to the output scale when it
 * is larger.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { hemHead } from '../layers/hemHead.js';
import { fcnAuxHead, segmentationHead } from '../models/heads.js';
import { loadBackboneWeights } from '../models/transfer.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { importTorchWeights, formatImportReport, type TorchImportReport } from './importTorch.js';
import type { TorchTensor } from './safetensors.js';
import { readSafetensorsFile } from './safetensorsFile.js';
import { emanetMapping, mmsegEmaHeadMapping, torchvisionResNetMapping } from './torchMaps.js';
import { buildTorchvisionResNet, importTorchCheckpoint } from './torchModels.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/torch/', import.meta.url));

async function fixture(name: string): Promise<{ weights: Map<string, TorchTensor>; io: Map<string, TorchTensor>; metadata: Record<string, string> }> {
  const weights = await readSafetensorsFile(`${FIXTURES}${name}.safetensors`);
  const io = await readSafetensorsFile(`${FIXTURES}${name}.io.safetensors`);
  return { weights: weights.tensors, io: io.tensors, metadata: weights.metadata };
}

/** NCHW torch tensor → NHWC tfjs tensor. */
function nhwc(t: TorchTensor | undefined): tf.Tensor4D {
  assert.ok(t !== undefined);
  return tf.tidy(() => tf.transpose(tf.tensor4d(t.data, t.shape as [number, number, number, number]), [0, 2, 3, 1]));
}

/** max |a − b| ≤ 1e-4 · max(1, max |b|); returns the measured max |diff| and the output scale max |b|. */
function assertMatches(actual: tf.Tensor, expected: tf.Tensor, label: string): string {
  assert.deepEqual(actual.shape, expected.shape, `${label} shape`);
  const [diff, scale] = tf.tidy(() => [tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] as number, tf.max(tf.abs(expected)).dataSync()[0] as number]);
  const tolerance = 1e-4 * Math.max(1, scale);
  assert.ok(diff <= tolerance, `${label}: max |diff| ${diff} > ${tolerance} (output scale ${scale})`);
  // The comparison must be able to fail: the outputs are not trivially small.
  assert.ok(scale > 0.1, `${label}: output scale ${scale} too small to test`);
  return `${diff.toExponential(2)} (max |expected| ${scale.toFixed(2)}, relative ${(diff / scale).toExponential(2)})`;
}

function weightValues(model: tf.LayersModel, prefix: string): number[] {
  return model.weights.filter((w) => w.originalName.startsWith(prefix)).flatMap((w) => Array.from(w.read().dataSync()));
}

describe('torchvision ResNet → hemnet backbone (PyTorch fixtures)', () => {
  for (const [name, depth, width, outputStride, size] of [
    ['resnet50_w3_os8', 50, 3, 8, [32, 40]],
    ['resnet101_w2_os16', 101, 2, 16, [48, 48]],
  ] as const) {
    it(`${name}: reproduces layer3 and layer4 outputs; fc and num_batches_tracked ignored`, async (t) => {
      await setBackend('wasm');
      const { weights, io, metadata } = await fixture(name);
      assert.equal(metadata['width'], String(width));
      const model = buildTorchvisionResNet({ depth, width, outputStride, inputSize: [...size] });
      const report = importTorchWeights(model, weights, torchvisionResNetMapping({ depth }));
      assert.equal(report.problems, 0, formatImportReport(report));
      const blocks = depth === 50 ? 16 : 33;
      // Per block 3 convs + 3 BNs (4 tensors) = 15, plus 4 downsamples (5 each), plus the stem (5).
      assert.equal(report.loaded.length, blocks * 15 + 4 * 5 + 5);
      assert.deepEqual(report.ignored.filter((i) => i.torch.startsWith('fc.')).map((i) => i.torch).sort(), ['fc.bias', 'fc.weight']);
      assert.equal(report.ignored.filter((i) => i.torch.endsWith('num_batches_tracked')).length, blocks * 3 + 4 + 1);
      // The fixtures set some running variances below 1e-3 − 1e-5: those go through the γ rescale.
      assert.ok(report.epsilonFold.gammaRescaledChannels > 0);
      assert.equal(report.epsilonFold.layers, blocks * 3 + 4 + 1);
      const x = nhwc(io.get('input'));
      const [features, stage3] = model.predict(x) as tf.Tensor[];
      const expectedFeatures = nhwc(io.get('features'));
      const expectedStage3 = nhwc(io.get('stage3'));
      t.diagnostic(`${name} layer4 max |diff| ${assertMatches(features as tf.Tensor, expectedFeatures, `${name} layer4`)}`);
      t.diagnostic(`${name} layer3 max |diff| ${assertMatches(stage3 as tf.Tensor, expectedStage3, `${name} layer3`)}`);
      tf.dispose([x, features, stage3, expectedFeatures, expectedStage3]);
      model.dispose();
    });
  }

  it("hemnet's default multi-grid dilation gives other outputs, and the imported backbone transfers into a zoo model by name", async () => {
    await setBackend('wasm');
    const { weights, io } = await fixture('resnet50_w3_os8');
    const imported = buildTorchvisionResNet({ depth: 50, width: 3, outputStride: 8, inputSize: [32, 40] });
    importTorchWeights(imported, weights, torchvisionResNetMapping());
    const zoo = buildSegmentationModel({ backbone: 'resnet50', width: 3, inputSize: [32, 40], outputStride: 8, head: 'fcn', numClasses: 3, channels: 8, midChannels: 8 });
    const transfer = await loadBackboneWeights(zoo.model, imported);
    assert.equal(transfer.notInSource.length, 0);
    assert.deepEqual(weightValues(zoo.model, 'backbone/'), weightValues(imported, 'backbone/'));
    const x = nhwc(io.get('input'));
    const expected = nhwc(io.get('features'));
    const zooFeatures = zoo.backbone.predict(x) as tf.Tensor;
    // Same weights, but the last stage dilates 4·(1, 2, 4) instead of torchvision's (2, 4, 4).
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(zooFeatures, expected))).dataSync()[0] as number);
    assert.ok(diff > 1e-2, `multi-grid should differ from torchvision's dilation, max |diff| ${diff}`);
    tf.dispose([x, expected, zooFeatures]);
    zoo.model.dispose();
    imported.dispose();
  });
});

describe('importTorchWeights report', () => {
  it('lists unmatched, missing and mis-shaped tensors in both directions, and strict mode writes nothing', async () => {
    await setBackend('wasm');
    const { weights } = await fixture('resnet50_w3_os8');
    const edited = new Map(weights);
    edited.delete('bn1.running_var');
    edited.set('layer5.0.conv1.weight', { name: 'layer5.0.conv1.weight', dtype: 'F32', shape: [1], data: new Float32Array(1) });
    const conv = weights.get('layer2.0.conv2.weight') as TorchTensor;
    edited.set('layer2.0.conv2.weight', { ...conv, shape: [conv.shape[0] as number, conv.shape[1] as number, 1, 9] });
    const model = buildTorchvisionResNet({ depth: 50, width: 3, outputStride: 8, inputSize: [32, 32] });
    const before = weightValues(model, 'backbone/');
    assert.throws(
      () => importTorchWeights(model, edited, torchvisionResNetMapping()),
      (error: Error) => {
        assert.match(error.message, /^importTorchWeights: 3 problem\(s\) loading 'torchvision-resnet50' into model 'hemnet_resnet50_torchvision':\n/);
        assert.match(error.message, /unmatched torch tensor 'layer5\.0\.conv1\.weight' \(no rule of 'torchvision-resnet50' uses it\)/);
        assert.match(error.message, /missing torch tensor 'bn1\.running_var' \(for 'backbone\/stem\/bn\/moving_variance'\)/);
        assert.match(error.message, /shape mismatch: torch 'layer2\.0\.conv2\.weight' is \[6, 6, 1, 9\], 'backbone\/stage2\/block1\/conv2\/conv\/kernel' needs \[6, 6, 3, 3\] \(torch layout\)/);
        return true;
      },
    );
    assert.deepEqual(weightValues(model, 'backbone/'), before, 'strict import must not write');
    const report: TorchImportReport = importTorchWeights(model, edited, torchvisionResNetMapping(), { strict: false });
    assert.deepEqual(report.unmatchedTorch, ['layer5.0.conv1.weight']);
    assert.deepEqual(report.missingTorch, [{ torch: 'bn1.running_var', target: 'backbone/stem/bn/moving_variance' }]);
    assert.equal(report.shapeMismatches.length, 1);
    assert.deepEqual(report.unloadedTarget, []);
    assert.equal(report.problems, 3);
    assert.notDeepEqual(weightValues(model, 'backbone/'), before, 'non-strict import writes what matched');
    model.dispose();
  });

  it('reports ResNet-50 weights loaded as ResNet-101 (missing layer3.6–22) and into a narrower model (every shape)', async () => {
    await setBackend('wasm');
    const { weights } = await fixture('resnet50_w3_os8');
    const deep = buildTorchvisionResNet({ depth: 101, width: 3, inputSize: [32, 32] });
    const report = importTorchWeights(deep, weights, torchvisionResNetMapping({ depth: 101 }), { strict: false });
    const missingBlocks = new Set(report.missingTorch.map((m) => m.torch.split('.').slice(0, 2).join('.')));
    assert.deepEqual([...missingBlocks].sort(), Array.from({ length: 17 }, (_, i) => `layer3.${i + 6}`).sort());
    assert.equal(report.missingTorch.length, 17 * 15);
    assert.equal(report.unmatchedTorch.length, 0);
    deep.dispose();
    const narrow = buildTorchvisionResNet({ depth: 50, width: 4, inputSize: [32, 32] });
    const narrowReport = importTorchWeights(narrow, weights, torchvisionResNetMapping(), { strict: false });
    assert.equal(narrowReport.loaded.length, 0);
    assert.equal(narrowReport.shapeMismatches.length, 16 * 15 + 4 * 5 + 5);
    assert.deepEqual(narrowReport.shapeMismatches[0], { torch: 'conv1.weight', target: 'backbone/stem/conv/kernel', torchShape: [3, 3, 7, 7], expectedShape: [4, 3, 7, 7] });
    narrow.dispose();
  });

  it("strips DataParallel's 'module.' prefix, without leaking tensors", async () => {
    await setBackend('wasm');
    const { weights } = await fixture('resnet50_w3_os8');
    const prefixed = new Map([...weights].map(([k, v]) => [`module.${k}`, v]));
    const model = buildTorchvisionResNet({ depth: 50, width: 3, inputSize: [32, 32] });
    const before = tf.memory().numTensors;
    assert.equal(importTorchWeights(model, prefixed, torchvisionResNetMapping()).problems, 0);
    assert.equal(tf.memory().numTensors, before, 'importTorchWeights leaked tensors');
    model.dispose();
  });
});

/** The `ema` head alone on features `[B, h, w, C_in]`, logits not upsampled: outputs [HemHead output, logits]. */
function headModel(shape: [number, number, number], channels: number, midChannels: number, numClasses: number, numBases: number): tf.LayersModel {
  const input = tf.input({ shape });
  const head = segmentationHead('ema', input, { numClasses, channels, midChannels, upsample: 1, hem: { numBases, trainIterations: 3 }, seed: 1 });
  assert.ok(head.hemHead !== null);
  return tf.model({ inputs: input, outputs: [head.hemHead.output as tf.SymbolicTensor, head.logits] });
}

describe('EMANet and mmseg EMAHead → hemnet ema head (PyTorch fixtures)', () => {
  it('official EMANet head (fc0, emau, fc1, fc2; BF16 file): reproduces the EMAU output and the logits', async (t) => {
    await setBackend('wasm');
    const { weights, io } = await fixture('emanet_head');
    const model = headModel([6, 7, 32], 16, 12, 5, 8);
    const report = importTorchWeights(model, weights, emanetMapping());
    assert.equal(report.problems, 0, formatImportReport(report));
    assert.ok(report.loaded.some((l) => l.torch === 'emau.mu' && l.target === 'head/ema/bases' && l.shape.join() === '8,16'));
    const x = nhwc(io.get('input'));
    const [ema, logits] = model.predict(x) as tf.Tensor[];
    const expectedEma = nhwc(io.get('ema'));
    const expectedLogits = nhwc(io.get('logits'));
    t.diagnostic(`EMAU output max |diff| ${assertMatches(ema as tf.Tensor, expectedEma, 'EMAU output')}`);
    t.diagnostic(`EMANet logits max |diff| ${assertMatches(logits as tf.Tensor, expectedLogits, 'EMANet logits')}`);
    tf.dispose([x, ema, logits, expectedEma, expectedLogits]);
    model.dispose();
  });

  it('mmseg EMAHead (decode_head.*; F32 file): reproduces the EMA block output and conv_seg', async (t) => {
    await setBackend('wasm');
    const { weights, io } = await fixture('mmseg_emahead');
    const model = headModel([6, 6, 32], 16, 12, 5, 8);
    const report = importTorchWeights(model, weights, mmsegEmaHeadMapping());
    assert.equal(report.problems, 0, formatImportReport(report));
    const x = nhwc(io.get('input'));
    const [ema, logits] = model.predict(x) as tf.Tensor[];
    const expectedEma = nhwc(io.get('ema'));
    const expectedLogits = nhwc(io.get('logits'));
    t.diagnostic(`mmseg EMA block max |diff| ${assertMatches(ema as tf.Tensor, expectedEma, 'EMA block output')}`);
    t.diagnostic(`mmseg logits max |diff| ${assertMatches(logits as tf.Tensor, expectedLogits, 'mmseg logits')}`);
    tf.dispose([x, ema, logits, expectedEma, expectedLogits]);
    model.dispose();
  });

  it("mmseg's FCN auxiliary head (auxiliary_head.convs.0, .conv_seg) → hemnet's aux head", async (t) => {
    await setBackend('wasm');
    const { weights, io } = await fixture('mmseg_emahead');
    const input = tf.input({ shape: [6, 6, 32] });
    const auxInput = tf.input({ shape: [6, 6, 24] });
    const head = segmentationHead('ema', input, { numClasses: 5, channels: 16, midChannels: 12, upsample: 1, hem: { numBases: 8 }, seed: 1 });
    const aux = fcnAuxHead(auxInput, { numClasses: 5, midChannels: 12, upsample: 1, seed: 2 });
    const model = tf.model({ inputs: [input, auxInput], outputs: [head.logits, aux] });
    const withoutAux = importTorchWeights(model, weights, mmsegEmaHeadMapping(), { strict: false });
    assert.equal(withoutAux.problems, 0);
    assert.ok(withoutAux.ignored.some((i) => i.torch === 'auxiliary_head.conv_seg.weight' && /not requested/.test(i.reason)));
    const report = importTorchWeights(model, weights, mmsegEmaHeadMapping({ auxiliaryHead: true }));
    assert.equal(report.problems, 0, formatImportReport(report));
    const [x, ax] = [nhwc(io.get('input')), nhwc(io.get('aux_input'))];
    const [logits, auxLogits] = model.predict([x, ax]) as tf.Tensor[];
    const expected = [nhwc(io.get('logits')), nhwc(io.get('aux_logits'))];
    assertMatches(logits as tf.Tensor, expected[0] as tf.Tensor, 'mmseg logits (with aux)');
    t.diagnostic(`mmseg aux logits max |diff| ${assertMatches(auxLogits as tf.Tensor, expected[1] as tf.Tensor, 'mmseg aux logits')}`);
    tf.dispose([x, ax, logits, auxLogits, ...expected]);
    model.dispose();
  });

  it("reports mmseg's conv_cat (concat_input=True) as unmatched and its backbone as ignored", async () => {
    await setBackend('wasm');
    const { weights } = await fixture('mmseg_emahead');
    const edited = new Map(weights);
    const t = (name: string, shape: number[]): TorchTensor => ({ name, dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    edited.set('decode_head.conv_cat.conv.weight', t('decode_head.conv_cat.conv.weight', [12, 44, 3, 3]));
    edited.set('backbone.stem.0.weight', t('backbone.stem.0.weight', [4, 3, 3, 3]));
    const model = headModel([6, 6, 32], 16, 12, 5, 8);
    const report = importTorchWeights(model, edited, mmsegEmaHeadMapping(), { strict: false });
    assert.deepEqual(report.unmatchedTorch, ['decode_head.conv_cat.conv.weight']);
    assert.ok(report.ignored.some((i) => i.torch === 'backbone.stem.0.weight' && /deep stem/.test(i.reason)));
    model.dispose();
  });

  it("lists model weights no rule reaches: EMANet weights into a 'hem' head (layer head/hem, not head/ema)", async () => {
    await setBackend('wasm');
    const { weights } = await fixture('emanet_head');
    const input = tf.input({ shape: [6, 7, 32] });
    const head = segmentationHead('hem', input, { numClasses: 5, channels: 16, midChannels: 12, upsample: 1, hem: { numBases: 8 }, seed: 1 });
    const model = tf.model({ inputs: input, outputs: head.logits });
    const report = importTorchWeights(model, weights, emanetMapping(), { strict: false });
    assert.deepEqual(report.missingTarget.map((m) => m.target), [
      'head/ema/bases', 'head/ema/in_kernel', 'head/ema/in_bias', 'head/ema/out_kernel', 'head/ema/bn_gamma', 'head/ema/bn_beta', 'head/ema/moving_mean', 'head/ema/moving_variance',
    ]);
    assert.deepEqual(report.unloadedTarget, [
      'head/hem/in_kernel', 'head/hem/in_bias', 'head/hem/out_kernel', 'head/hem/bn_gamma', 'head/hem/bn_beta', 'head/hem/moving_mean', 'head/hem/moving_variance', 'head/hem/bases',
    ]);
    assert.equal(report.loaded.length, 12);
    assert.match(formatImportReport(report), /model weight 'head\/hem\/bases' has no torch counterpart in 'emanet'/);
    model.dispose();
  });

  it('maps a bare EMAU state_dict (mu, conv1, conv2.0/1) onto a HemHead alone, with the EMAU output matching', async () => {
    await setBackend('wasm');
    const { weights, io } = await fixture('emanet_head');
    const bare = new Map([...weights].filter(([k]) => k.startsWith('emau.')).map(([k, v]) => [k.slice('emau.'.length), v]));
    // The EMAU's input is fc0's output: run fc0 in hemnet first (loaded from the same file), then the HemHead alone.
    const full = headModel([6, 7, 32], 16, 12, 5, 8);
    importTorchWeights(full, weights, emanetMapping());
    const fc0 = tf.model({ inputs: full.inputs, outputs: full.getLayer('head/conv_in/relu').output as tf.SymbolicTensor });
    const input = tf.input({ shape: [6, 7, 16] });
    const layer = hemHead({ preset: 'ema', numBases: 8, trainIterations: 3, name: 'head/ema' });
    const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
    const report = importTorchWeights(model, bare, emanetMapping({ emauOnly: true, emauPrefix: '' }));
    assert.equal(report.problems, 0, formatImportReport(report));
    assert.equal(report.loaded.length, 8);
    const x = nhwc(io.get('input'));
    const features = fc0.predict(x) as tf.Tensor;
    const ema = model.predict(features) as tf.Tensor;
    const expected = nhwc(io.get('ema'));
    assertMatches(ema, expected, 'bare EMAU output');
    tf.dispose([x, features, ema, expected]);
    full.dispose();
    model.dispose();
  });

  it('importTorchCheckpoint sizes a zoo ema model from an EMANet head and loads it', async () => {
    await setBackend('wasm');
    const file = await readSafetensorsFile(`${FIXTURES}emanet_head.safetensors`);
    const { model, report, built } = importTorchCheckpoint(file, 'emanet', { inputSize: [32, 32] });
    assert.equal(report.problems, 0, formatImportReport(report));
    assert.equal(built.kind, 'segmentation');
    if (built.kind === 'segmentation') {
      assert.deepEqual(
        [built.config.backbone, built.config.width, built.config.channels, built.config.midChannels, built.config.numClasses, built.config.hem.numBases],
        ['resnet50', 1, 16, 12, 5, 8],
      );
    }
    model.dispose();
    assert.throws(
      () => importTorchCheckpoint(file, 'torchvision-resnet50'),
      /^Error: importTorchCheckpoint: '<buffer>' has no tensor 'conv1\.weight' — not a torchvision ResNet state_dict\?$/,
    );
  });
});
