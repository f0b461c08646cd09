/**
 * ONNX export, verified by running the exported files in ONNX Runtime
 * (onnxruntime-web's wasm build, in Node) and matching hemnet's outputs.
 *
 * Each model is checked twice: with ORT's graph optimisations off (the graph
 * as written) and with them on, as a user runs it (ORT folds BN into convs,
 * which changes float32 rounding); both to max |diff| ≤ 1e-4 · max(1, the
 * largest |logit|), i.e. 1e-4 absolute for the compact models.
 */
import { describe, it, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import protobuf from 'protobufjs/light.js';
import { setBackend } from '../../backend.js';
import { normalizeImage } from '../../data/augment.js';
import { HemHead } from '../../layers/hemHead.js';
import { buildSegmentationModel, type SegmentationModelConfig } from '../../models/zoo.js';
import { loadModelFromFiles, saveModelToFiles } from '../../train/checkpointFiles.js';
import { exportOnnx, type OnnxExport, type OnnxExportOptions } from './export.js';
import { ONNX_SCHEMA } from './schema.js';

ort.env.wasm.numThreads = 1;

const TINY: Partial<SegmentationModelConfig> = {
  inputSize: [32, 32],
  numClasses: 5,
  width: 8,
  channels: 16,
  midChannels: 16,
  hem: { numBases: 4 },
  seed: 3,
};

/**
 * Gives every batch norm (and the HemHead's) non-trivial statistics, so an
 * exporter that dropped or mis-ordered them would fail: γ, σ² ∈ [0.5, 1.5],
 * β, mean ~ N(0, 0.2).
 */
function randomizeStatistics(model: tf.LayersModel, seed: number): void {
  let offset = 0;
  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (className !== 'BatchNormalization' && className !== 'HemHead') continue;
    const current = layer.getWeights();
    const next = layer.weights.map((weight, i) => {
      const name = weight.originalName ?? weight.name;
      const shape = (current[i] as tf.Tensor).shape;
      offset += 1;
      if (/(moving_variance|gamma)$/.test(name)) return tf.randomUniform(shape, 0.5, 1.5, 'float32', seed + offset);
      if (/(moving_mean|beta)$/.test(name)) return tf.randomNormal(shape, 0, 0.2, 'float32', seed + offset);
      return tf.clone(current[i] as tf.Tensor);
    });
    layer.setWeights(next);
    tf.dispose(next);
  }
}

type Feeds = Record<string, ort.Tensor>;

async function runOnnx(bytes: Uint8Array, feeds: Feeds, optimize: boolean): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: optimize ? 'all' : 'disabled' });
  try {
    const results = await session.run(feeds);
    const out: Record<string, Float32Array> = {};
    for (const [name, tensor] of Object.entries(results)) out[name] = tensor.data as Float32Array;
    return out;
  } finally {
    await session.release();
  }
}

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i] as number));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** tfjs outputs [B, H, W, K] → NCHW arrays, in output order. */
function referenceOutputs(model: tf.LayersModel, images: tf.Tensor4D, layout: 'nchw' | 'nhwc' = 'nchw'): Float32Array[] {
  return tf.tidy(() => {
    const raw = model.predict(images);
    const list = Array.isArray(raw) ? raw : [raw];
    return list.map((t) => (layout === 'nchw' ? tf.transpose(t, [0, 3, 1, 2]) : t).dataSync() as Float32Array);
  });
}

function nchwFeed(images: tf.Tensor4D): ort.Tensor {
  const data = tf.tidy(() => tf.transpose(images, [0, 3, 1, 2]).dataSync() as Float32Array);
  const [b, h, w, c] = images.shape;
  return new ort.Tensor('float32', data, [b, c, h, w]);
}

/** Exports, runs in ORT with and without optimisations, and checks every output against tfjs. */
async function checkAgainstTfjs(model: tf.LayersModel, images: tf.Tensor4D, options: OnnxExportOptions = {}, label = '', t?: TestContext): Promise<{ exported: OnnxExport; diff: number; optimizedDiff: number }> {
  const exported = exportOnnx(model, options);
  const expected = referenceOutputs(model, images);
  const feeds = { image: nchwFeed(images) };
  const plain = await runOnnx(exported.bytes, feeds, false);
  const optimized = await runOnnx(exported.bytes, feeds, true);
  let diff = 0;
  let optimizedDiff = 0;
  expected.forEach((reference, i) => {
    const name = exported.outputNames[i] as string;
    const got = plain[name];
    assert.ok(got !== undefined, `${label}: ORT returned no '${name}'`);
    const d = maxDiff(got, reference);
    const od = maxDiff(optimized[name] as Float32Array, reference);
    const scale = maxAbs(reference);
    assert.ok(scale > 0.1, `${label} ${name}: reference logits are degenerate (max |v| ${scale})`);
    // 1e-4 absolute for logits of order 1; deep ResNets with random BN statistics reach |logit| ≈ 50–200, where float32 sums differ by more.
    assert.ok(d <= 1e-4 * Math.max(1, scale), `${label} ${name}: ORT (no optimisation) vs hemnet max |diff| ${d} > 1e-4 · ${scale}`);
    assert.ok(od <= 1e-4 * Math.max(1, scale), `${label} ${name}: ORT (optimised) vs hemnet max |diff| ${od} > 1e-4 · ${scale}`);
    diff = Math.max(diff, d);
    optimizedDiff = Math.max(optimizedDiff, od);
    t?.diagnostic(`${label} ${name}: max |diff| ${d.toExponential(1)} (ORT unoptimised), ${od.toExponential(1)} (optimised), max |logit| ${scale.toFixed(1)}`);
  });
  return { exported, diff, optimizedDiff };
}

describe('exportOnnx: the zoo in ONNX Runtime', () => {
  before(async () => {
    await setBackend('wasm');
  });

  const cases: { label: string; config: Partial<SegmentationModelConfig> }[] = [
    { label: 'compact + hem', config: { backbone: 'compact', head: 'hem', outputStride: 8 } },
    { label: 'compact + ema + aux head', config: { backbone: 'compact', head: 'ema', outputStride: 8, auxiliaryHead: true } },
    { label: 'compact + fcn at OS 4', config: { backbone: 'compact', head: 'fcn', outputStride: 4 } },
    { label: 'resnet50 (width 8) + hem at OS 8', config: { backbone: 'resnet50', head: 'hem', outputStride: 8 } },
    { label: 'resnet50 (width 8) + ema at OS 16', config: { backbone: 'resnet50', head: 'ema', outputStride: 16 } },
    { label: 'resnet101 (width 8) + fcn at OS 8', config: { backbone: 'resnet101', head: 'fcn', outputStride: 8 } },
  ];
  for (const { label, config } of cases) {
    it(`${label}: ORT reproduces hemnet's outputs`, async (t) => {
      const { model } = buildSegmentationModel({ ...TINY, ...config });
      randomizeStatistics(model, 11);
      const images = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const { exported } = await checkAgainstTfjs(model, images, {}, label, t);
      assert.deepEqual(exported.inputShape, ['batch', 3, 32, 32]);
      assert.deepEqual(exported.outputNames, config.auxiliaryHead === true ? ['logits', 'aux_logits'] : ['logits']);
      const hem = config.head !== 'fcn';
      assert.equal((exported.opCounts['Softmax'] ?? 0) > 0, hem, 'Softmax appears exactly for attention heads');
      if (hem) assert.deepEqual(Object.values(exported.evalIterations), [3]);
      if (config.head === 'ema') assert.equal(exported.opCounts['ReduceL2'], 3, 'EMANet normalises μ after each of the 3 N-steps');
      assert.equal(exported.opCounts['Dropout'] ?? 0, 0);
      // The ResNets pad strided convs and the stem pool symmetrically (explicit ZeroPadding2D layers).
      assert.equal((exported.opCounts['Pad'] ?? 0) > 0, config.backbone !== 'compact');
      images.dispose();
      model.dispose();
    });
  }
});

describe('exportOnnx: HEM head variants', () => {
  before(async () => {
    await setBackend('wasm');
  });

  it('rbf kernel, η 0.3, σ² 2, emChannels ≠ C_in, and a T_eval override match the layer', async () => {
    const { model, hemHead } = buildSegmentationModel({
      ...TINY,
      head: 'hem',
      hem: { numBases: 5, kernel: 'rbf', stepSize: 0.3, temperature: 2, emChannels: 12, evalIterations: 2 },
    });
    randomizeStatistics(model, 21);
    const images = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const configured = await checkAgainstTfjs(model, images, {}, 'T_eval 2');
    assert.deepEqual(Object.values(configured.exported.evalIterations), [2]);
    assert.equal(configured.exported.opCounts['ReduceSumSquare'], 2, 'the rbf logits need ‖μ‖² once per iteration');

    // T_eval 6 in the export equals the layer run with T_eval 6, and differs from T_eval 2.
    const head = hemHead as HemHead;
    const atTwo = referenceOutputs(model, images)[0] as Float32Array;
    head.setEvalIterations(6);
    const six = await checkAgainstTfjs(model, images, { evalIterations: 6 }, 'T_eval 6');
    head.setEvalIterations(null);
    assert.equal(six.exported.opCounts['Softmax'], 6);
    const exportedSix = (await runOnnx(six.exported.bytes, { image: nchwFeed(images) }, false))['logits'] as Float32Array;
    assert.ok(maxDiff(exportedSix, atTwo) > 1e-3, 'more EM iterations change the logits');
    images.dispose();
    model.dispose();
  });

  it("exports the η in use after an annealing override (what a saved model keeps)", async () => {
    const { model, hemHead } = buildSegmentationModel({ ...TINY, head: 'hem' });
    randomizeStatistics(model, 31);
    (hemHead as HemHead).setStepSize(0.8);
    const images = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 13) as tf.Tensor4D;
    await checkAgainstTfjs(model, images, {}, 'η 0.8');
    images.dispose();
    model.dispose();
  });
});

describe('exportOnnx: layout, normalisation, outputs, opsets, files', () => {
  before(async () => {
    await setBackend('wasm');
  });

  it("'nhwc' + baked normalisation + probabilities: raw pixels in, the same logits out", async () => {
    const { model } = buildSegmentationModel({ ...TINY, head: 'hem' });
    randomizeStatistics(model, 41);
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const pixels = Uint8Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => (i * 37 + (i >> 5) * 11) % 256);
    const normalized = tf.tensor4d(normalizeImage(pixels, 3, mean, std, 1 / 255), [2, 32, 32, 3]);
    const exported = exportOnnx(model, { layout: 'nhwc', normalization: { mean, std }, probabilities: true });
    assert.deepEqual(exported.inputShape, ['batch', 32, 32, 3]);
    assert.deepEqual(exported.outputNames, ['logits', 'probabilities']);
    const out = await runOnnx(exported.bytes, { image: new ort.Tensor('float32', Float32Array.from(pixels), [2, 32, 32, 3]) }, false);
    const reference = referenceOutputs(model, normalized, 'nhwc')[0] as Float32Array;
    const logits = out['logits'] as Float32Array;
    assert.ok(maxDiff(logits, reference) <= 1e-4, `NHWC logits differ by ${maxDiff(logits, reference)}`);
    const probabilities = out['probabilities'] as Float32Array;
    const expected = tf.tidy(() => tf.softmax(tf.tensor(reference, [2, 32, 32, 5])).dataSync());
    assert.ok(maxDiff(probabilities, expected) <= 1e-5, 'probabilities = softmax over classes');
    normalized.dispose();
    model.dispose();
  });

  it("'outputs: main' leaves the auxiliary head out of the graph", async () => {
    const { model } = buildSegmentationModel({ ...TINY, head: 'fcn', auxiliaryHead: true });
    const all = exportOnnx(model);
    const main = exportOnnx(model, { outputs: 'main' });
    assert.deepEqual(main.outputNames, ['logits']);
    assert.equal((all.opCounts['Resize'] ?? 0) - (main.opCounts['Resize'] ?? 0), 1);
    assert.ok(main.parameters < all.parameters);
    const images = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 17) as tf.Tensor4D;
    const out = await runOnnx(main.bytes, { image: nchwFeed(images) }, false);
    assert.deepEqual(Object.keys(out), ['logits']);
    assert.ok(maxDiff(out['logits'] as Float32Array, referenceOutputs(model, images)[0] as Float32Array) <= 1e-4);
    images.dispose();
    model.dispose();
  });

  it('opset 13 runs too; the file decodes with the schema and carries opset, IR version and metadata', async () => {
    const { model } = buildSegmentationModel({ ...TINY, head: 'ema' });
    randomizeStatistics(model, 51);
    const images = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 19) as tf.Tensor4D;
    const { exported } = await checkAgainstTfjs(model, images, { opset: 13, metadata: { 'hemnet.classNames': '["a","b","c","d","e"]' }, batchSize: 1 }, 'opset 13');
    const root = protobuf.Root.fromJSON(ONNX_SCHEMA);
    const decoded = root.lookupType('onnx.ModelProto').toObject(root.lookupType('onnx.ModelProto').decode(exported.bytes), { longs: Number }) as {
      irVersion: number;
      opsetImport: { version: number }[];
      producerName: string;
      metadataProps: { key: string; value: string }[];
      graph: { input: { name: string; type: { tensorType: { shape: { dim: { dimValue?: number; dimParam?: string }[] } } } }[] };
    };
    assert.equal(decoded.irVersion, 7);
    assert.equal(decoded.opsetImport[0]?.version, 13);
    assert.equal(decoded.producerName, 'hemnet');
    const meta = Object.fromEntries(decoded.metadataProps.map((e) => [e.key, e.value]));
    assert.equal(meta['hemnet.inputLayout'], 'NCHW');
    assert.equal(meta['hemnet.classNames'], '["a","b","c","d","e"]');
    assert.deepEqual(JSON.parse(meta['hemnet.evalIterations'] as string), { 'head/ema': 3 });
    assert.deepEqual(decoded.graph.input[0]?.type.tensorType.shape.dim.map((d) => d.dimValue), [1, 3, 32, 32]);
    images.dispose();
    model.dispose();
  });

  it('a model saved and loaded from files exports to the same bytes, without leaking tensors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-onnx-'));
    try {
      const { model } = buildSegmentationModel({ ...TINY, head: 'hem', auxiliaryHead: true });
      randomizeStatistics(model, 61);
      await saveModelToFiles(dir, model);
      const loaded = await loadModelFromFiles(dir);
      exportOnnx(model); // warm-up
      const before = tf.memory().numTensors;
      const original = exportOnnx(model);
      assert.equal(tf.memory().numTensors, before, 'exportOnnx leaks no tensors');
      const reloaded = exportOnnx(loaded);
      assert.equal(Buffer.compare(Buffer.from(original.bytes), Buffer.from(reloaded.bytes)), 0);
      model.dispose();
      loaded.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("odd sizes: TF 'same' pads (stride 2 conv and max pool), valid convs, ReLU6 and concat match", async () => {
    const input = tf.input({ shape: [7, 9, 2] });
    const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }), biasInitializer: tf.initializers.randomNormal({ seed: 2 }) }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const c = tf.layers.conv2d({ filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same', kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }).apply(b) as tf.SymbolicTensor;
    const joined = tf.layers.concatenate().apply([a, c]) as tf.SymbolicTensor;
    const capped = tf.layers.reLU({ maxValue: 0.5 }).apply(joined) as tf.SymbolicTensor;
    const out = tf.layers.conv2d({ filters: 2, kernelSize: 2, padding: 'valid', kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }) }).apply(capped) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const images = tf.randomNormal([2, 7, 9, 2], 0, 1, 'float32', 23) as tf.Tensor4D;
    const exported = exportOnnx(model);
    const got = (await runOnnx(exported.bytes, { image: nchwFeed(images) }, false))['logits'] as Float32Array;
    const reference = referenceOutputs(model, images)[0] as Float32Array;
    assert.equal(got.length, 2 * 2 * 3 * 4);
    assert.ok(maxDiff(got, reference) <= 1e-5, `max |diff| ${maxDiff(got, reference)}`);
    images.dispose();
    model.dispose();
  });
});

describe('exportOnnx: errors', () => {
  before(async () => {
    await setBackend('wasm');
  });

  it('names the layer and class it cannot convert', () => {
    const input = tf.input({ shape: [4, 4, 1] });
    const output = tf.layers.conv2dTranspose({ filters: 1, kernelSize: 2, name: 'upconv' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    assert.throws(() => exportOnnx(model), /exportOnnx: layer 'upconv' of class 'Conv2DTranspose' is not supported \(supported: Conv2D, /);
    model.dispose();
  });

  it('rejects bad options and non-models', () => {
    const { model } = buildSegmentationModel({ ...TINY, head: 'fcn' });
    assert.throws(() => exportOnnx(model, { layout: 'nwhc' as 'nhwc' }), /exportOnnx: 'layout' must be 'nchw' or 'nhwc', received "nwhc"/);
    assert.throws(() => exportOnnx(model, { opset: 18 }), /exportOnnx: 'opset' must be one of 13, 14, 15, 16, 17, received 18/);
    assert.throws(() => exportOnnx(model, { evalIterations: 0 }), /exportOnnx: 'evalIterations' must be an integer ≥ 1, received 0/);
    assert.throws(() => exportOnnx(model, { colour: true } as unknown as OnnxExportOptions), /exportOnnx: unknown option 'colour' \(valid: layout, outputs, /);
    assert.throws(() => exportOnnx(model, { outputs: 'aux' as 'main' }), /exportOnnx: 'outputs' must be 'all' or 'main', received "aux"/);
    assert.throws(() => exportOnnx(model, { normalization: { mean: [0.5], std: [0] } }), /exportOnnx: 'normalization' must have 'mean' and 'std' of equal length with std > 0/);
    assert.throws(() => exportOnnx(model, { normalization: { mean: [0.5], std: [0.2] } }), /exportOnnx: 'normalization' has 1 channels, the model input has 3/);
    assert.throws(() => exportOnnx({} as tf.LayersModel), /exportOnnx: 'model' must be a tf.LayersModel, received object/);
    model.dispose();
  });
});
