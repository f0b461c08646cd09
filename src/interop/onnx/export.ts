/**
 * tfjs-layers segmentation model → ONNX (opset 13–17), for the zoo's models
 * (`buildSegmentationModel`: compact / resnet50 backbones, hem / ema / fcn
 * heads, optional auxiliary head) and any functional model made of the same
 * layers. Platform-neutral: returns the file's bytes.
 *
 * The exported graph runs in NCHW, ONNX's native layout: kernels are
 * transposed from tfjs's HWIO to OIHW at export. By default the input is
 * `image [batch, C_in, H, W]` (float32, already normalised exactly as hemnet's
 * datasets normalise: (pixel/255 − mean)/std) and the outputs are
 * `logits [batch, numClasses, H, W]` (then `aux_logits`); `layout: 'nhwc'`
 * adds transposes so input and outputs keep tfjs's `[B, H, W, C]`;
 * `normalization` bakes the normalisation in (the input is then raw pixels
 * 0..255).
 *
 * Layer by layer: Conv2D → Conv (explicit pads reproducing TF 'same',
 * dilation, stride), BatchNormalization → BatchNormalization (inference, the
 * moving statistics), ReLU → Relu (Clip with maxValue), Add → Add,
 * MaxPooling2D → MaxPool, ZeroPadding2D → Pad (the symmetric padding of
 * the ResNet backbones), Concatenate → Concat, Dropout → dropped,
 * BilinearUpsample → Resize (linear, half_pixel: the same sampling as tfjs's
 * `resizeBilinear(…, alignCorners false, halfPixelCenters true)`), and the
 * HemHead unrolled for T_eval iterations (Eq. 8, 13, 10; `src/em/steps.ts`):
 * MatMul, Softmax, the N-step with η, μ⁽⁰⁾ as an initializer, ReLU, 1×1
 * convs, batch norm and the residual.
 */
import * as tf from '@tensorflow/tfjs';
import { NK_EPSILON, NORM_EPSILON } from '../../em/steps.js';
import { checkIterations } from '../../em/validate.js';
import type { HemHead } from '../../layers/hemHead.js';
import { attr, OnnxGraph } from './graph.js';

const FN = 'exportOnnx';
/** Default opset; every op emitted has the same semantics from opset 13 to 17 (18 moves reduce axes to inputs). */
export const ONNX_DEFAULT_OPSET = 17;
export const ONNX_OPSETS = [13, 14, 15, 16, 17] as const;
/** The HemHead's batch-norm ε (`src/layers/hemHead.ts`). */
const HEM_BN_EPSILON = 1e-3;

export interface OnnxNormalization {
  /** Per-channel mean of pixels·scale. */
  mean: readonly number[];
  /** Per-channel std (> 0). */
  std: readonly number[];
  /** Multiplies raw pixels first. Default 1/255. */
  scale?: number;
}

export interface OnnxExportOptions {
  /** 'nchw' (default, ONNX's convention) or 'nhwc' (tfjs's, via transposes at input and outputs). */
  layout?: 'nchw' | 'nhwc';
  /** T_eval of every HemHead (default: each head's own `evalIterations`). */
  evalIterations?: number | null;
  /** Bake input normalisation into the graph: the input becomes raw pixels, (x·scale − mean)/std is computed inside. */
  normalization?: OnnxNormalization | null;
  /** 'all' (default): every model output (logits, then aux_logits); 'main': the logits only (the auxiliary head is left out of the graph). */
  outputs?: 'all' | 'main';
  /** Also output `probabilities` = softmax of the logits over classes. Default false. */
  probabilities?: boolean;
  /** Fixed batch size in the declared input/output shapes (default: symbolic 'batch'). */
  batchSize?: number | null;
  /** Default-domain opset, 13–17. Default 17. */
  opset?: number;
  /** Extra `metadata_props` (e.g. class names); hemnet adds its own `hemnet.*` keys. */
  metadata?: Readonly<Record<string, string>>;
  /** `producer_version` (e.g. the package version). Default '0'. */
  producerVersion?: string;
}

export interface OnnxExport {
  /** The `.onnx` file. */
  bytes: Uint8Array;
  inputName: string;
  /** Declared input shape ('batch' when symbolic). */
  inputShape: (number | string)[];
  outputNames: string[];
  /** Nodes per op type. */
  opCounts: Record<string, number>;
  /** Float parameters written (weights, BN statistics, μ⁽⁰⁾). */
  parameters: number;
  opset: number;
  /** T_eval used for each HemHead, by layer name. */
  evalIterations: Record<string, number>;
}

const OPTION_KEYS = ['layout', 'outputs', 'evalIterations', 'normalization', 'probabilities', 'batchSize', 'opset', 'metadata', 'producerVersion'];

function fail(message: string): never {
  throw new Error(`${FN}: ${message}`);
}

/** A model value in NCHW with its static shape [C, H, W] (batch excluded). */
interface Value {
  name: string;
  shape: number[];
}

interface WeightTable {
  get(suffix: string): { data: Float32Array; shape: number[] };
  has(suffix: string): boolean;
}

/** The layer's weights by the last segment of their names ('kernel', 'moving_mean', …). */
function weightsOf(layer: tf.layers.Layer): WeightTable {
  const values = layer.getWeights();
  const table = new Map<string, { data: Float32Array; shape: number[] }>();
  layer.weights.forEach((weight, i) => {
    const full = weight.originalName ?? weight.name;
    const suffix = full.slice(full.lastIndexOf('/') + 1).replace(/_\d+$/, '');
    const tensor = values[i] as tf.Tensor;
    table.set(suffix, { data: tensor.dataSync() as Float32Array, shape: [...tensor.shape] });
  });
  return {
    has: (suffix) => table.has(suffix),
    get: (suffix) => {
      const found = table.get(suffix);
      if (found === undefined) fail(`layer '${layer.name}' has no weight '${suffix}' (has ${[...table.keys()].join(', ')})`);
      return found;
    },
  };
}

function pair(value: unknown, what: string, layer: tf.layers.Layer): [number, number] {
  const list = typeof value === 'number' ? [value, value] : Array.isArray(value) ? value : null;
  if (list === null || list.length !== 2 || !list.every((v) => Number.isInteger(v) && v > 0)) {
    fail(`layer '${layer.name}': '${what}' must be a positive integer or a pair, received ${JSON.stringify(value)}`);
  }
  return [list[0] as number, list[1] as number];
}

/**
 * Pads of TF's 'same' (extra padding at the end, ONNX's SAME_UPPER) for a
 * known input size: out = ⌈in/s⌉, total = max((out − 1)·s + (k − 1)·d + 1 − in, 0).
 */
function samePads(size: readonly [number, number], kernel: readonly [number, number], stride: readonly [number, number], dilation: readonly [number, number]): { pads: number[]; out: [number, number] } {
  const before: number[] = [];
  const after: number[] = [];
  const out: number[] = [];
  for (let axis = 0; axis < 2; axis++) {
    const n = size[axis] as number;
    const s = stride[axis] as number;
    const effective = ((kernel[axis] as number) - 1) * (dilation[axis] as number) + 1;
    const o = Math.ceil(n / s);
    const total = Math.max((o - 1) * s + effective - n, 0);
    before.push(Math.floor(total / 2));
    after.push(total - Math.floor(total / 2));
    out.push(o);
  }
  return { pads: [...before, ...after], out: [out[0] as number, out[1] as number] };
}

function validPads(size: readonly [number, number], kernel: readonly [number, number], stride: readonly [number, number], dilation: readonly [number, number]): { pads: number[]; out: [number, number] } {
  const out = [0, 1].map((axis) => {
    const effective = ((kernel[axis] as number) - 1) * (dilation[axis] as number) + 1;
    return Math.floor(((size[axis] as number) - effective) / (stride[axis] as number)) + 1;
  });
  return { pads: [0, 0, 0, 0], out: [out[0] as number, out[1] as number] };
}

/** HWIO [kh, kw, in, out] → OIHW [out, in, kh, kw]. */
function hwioToOihw(data: Float32Array, shape: readonly number[]): Float32Array {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        for (let o = 0; o < cout; o++) {
          out[((o * cin + i) * kh + y) * kw + x] = data[((y * kw + x) * cin + i) * cout + o] as number;
        }
      }
    }
  }
  return out;
}

/** [in, out] (a 1×1 conv as a matrix) → OIHW [out, in, 1, 1]. */
function matrixToOihw(data: Float32Array, shape: readonly number[]): Float32Array {
  return hwioToOihw(data, [1, 1, shape[0] as number, shape[1] as number]);
}

function checkChannelsLast(layer: tf.layers.Layer, config: tf.serialization.ConfigDict): void {
  const format = config['dataFormat'];
  if (format !== undefined && format !== 'channelsLast') fail(`layer '${layer.name}': only dataFormat 'channelsLast' is supported, received '${String(format)}'`);
}

/** Appends `activation` of a conv layer (linear, relu). */
function activation(graph: OnnxGraph, layer: tf.layers.Layer, value: string, name: unknown): string {
  if (name === undefined || name === null || name === 'linear') return value;
  if (name === 'relu') return graph.node('Relu', [value], {}, `${layer.name}/relu`);
  return fail(`layer '${layer.name}': activation '${String(name)}' is not supported (supported: linear, relu)`);
}

function batchNormNode(graph: OnnxGraph, prefix: string, input: string, channels: number, gamma: Float32Array, beta: Float32Array, mean: Float32Array, variance: Float32Array, epsilon: number): string {
  const check = (what: string, data: Float32Array): void => {
    if (data.length !== channels) fail(`batch norm '${prefix}': '${what}' has ${data.length} values for ${channels} channels`);
  };
  check('gamma', gamma);
  check('beta', beta);
  check('moving_mean', mean);
  check('moving_variance', variance);
  return graph.node(
    'BatchNormalization',
    [
      input,
      graph.initializer(`${prefix}/gamma`, [channels], gamma),
      graph.initializer(`${prefix}/beta`, [channels], beta),
      graph.initializer(`${prefix}/moving_mean`, [channels], mean),
      graph.initializer(`${prefix}/moving_variance`, [channels], variance),
    ],
    { epsilon: attr.float(epsilon) },
    prefix,
  );
}

function convLayer(graph: OnnxGraph, layer: tf.layers.Layer, input: Value): Value {
  const config = layer.getConfig();
  checkChannelsLast(layer, config);
  const kernel = pair(config['kernelSize'], 'kernelSize', layer);
  const stride = pair(config['strides'] ?? 1, 'strides', layer);
  const dilation = pair(config['dilationRate'] ?? 1, 'dilationRate', layer);
  const padding = config['padding'] ?? 'valid';
  if (padding !== 'same' && padding !== 'valid') fail(`layer '${layer.name}': padding '${String(padding)}' is not supported (supported: same, valid)`);
  const size: [number, number] = [input.shape[1] as number, input.shape[2] as number];
  const geometry = padding === 'same' ? samePads(size, kernel, stride, dilation) : validPads(size, kernel, stride, dilation);
  const weights = weightsOf(layer);
  const k = weights.get('kernel');
  const [, , cin, cout] = k.shape as [number, number, number, number];
  if (cin !== input.shape[0]) fail(`layer '${layer.name}': kernel expects ${cin} input channels, the graph has ${input.shape[0]}`);
  const inputs = [input.name, graph.initializer(`${layer.name}/kernel`, [cout, cin, kernel[0], kernel[1]], hwioToOihw(k.data, k.shape))];
  if (config['useBias'] !== false && weights.has('bias')) inputs.push(graph.initializer(`${layer.name}/bias`, [cout], weights.get('bias').data));
  const conv = graph.node(
    'Conv',
    inputs,
    {
      kernel_shape: attr.ints(kernel),
      strides: attr.ints(stride),
      dilations: attr.ints(dilation),
      pads: attr.ints(geometry.pads),
      group: attr.int(1),
    },
    layer.name,
  );
  return { name: activation(graph, layer, conv, config['activation']), shape: [cout, ...geometry.out] };
}

function batchNormLayer(graph: OnnxGraph, layer: tf.layers.Layer, input: Value): Value {
  const config = layer.getConfig();
  const axis = config['axis'];
  if (axis !== -1 && axis !== 3) fail(`layer '${layer.name}': only batch norm over the channel axis (-1) is supported, received axis ${JSON.stringify(axis)}`);
  const weights = weightsOf(layer);
  const channels = input.shape[0] as number;
  const gamma = config['scale'] === false ? new Float32Array(channels).fill(1) : weights.get('gamma').data;
  const beta = config['center'] === false ? new Float32Array(channels) : weights.get('beta').data;
  const epsilon = typeof config['epsilon'] === 'number' ? config['epsilon'] : 1e-3;
  const out = batchNormNode(graph, layer.name, input.name, channels, gamma, beta, weights.get('moving_mean').data, weights.get('moving_variance').data, epsilon);
  return { name: out, shape: input.shape };
}

function reluLayer(graph: OnnxGraph, layer: tf.layers.Layer, input: Value): Value {
  const config = layer.getConfig();
  const maxValue = config['maxValue'];
  if (maxValue === undefined || maxValue === null) return { name: graph.node('Relu', [input.name], {}, layer.name), shape: input.shape };
  if (typeof maxValue !== 'number') fail(`layer '${layer.name}': 'maxValue' must be a number, received ${JSON.stringify(maxValue)}`);
  return { name: graph.node('Clip', [input.name, graph.constant([0], 'float', []), graph.constant([maxValue], 'float', [])], {}, layer.name), shape: input.shape };
}

function maxPoolLayer(graph: OnnxGraph, layer: tf.layers.Layer, input: Value): Value {
  const config = layer.getConfig();
  checkChannelsLast(layer, config);
  const kernel = pair(config['poolSize'], 'poolSize', layer);
  const stride = pair(config['strides'] ?? config['poolSize'], 'strides', layer);
  const padding = config['padding'] ?? 'valid';
  const size: [number, number] = [input.shape[1] as number, input.shape[2] as number];
  if (padding !== 'same' && padding !== 'valid') fail(`layer '${layer.name}': padding '${String(padding)}' is not supported (supported: same, valid)`);
  // TF's 'same' max pool never picks a padded value; ONNX MaxPool's pads are ignored the same way.
  const geometry = padding === 'same' ? samePads(size, kernel, stride, [1, 1]) : validPads(size, kernel, stride, [1, 1]);
  const out = graph.node('MaxPool', [input.name], { kernel_shape: attr.ints(kernel), strides: attr.ints(stride), pads: attr.ints(geometry.pads) }, layer.name);
  return { name: out, shape: [input.shape[0] as number, ...geometry.out] };
}

function zeroPaddingLayer(graph: OnnxGraph, layer: tf.layers.Layer, input: Value): Value {
  const config = layer.getConfig();
  checkChannelsLast(layer, config);
  const raw: unknown = config['padding'];
  const sides: unknown[] | null = typeof raw === 'number' ? [[raw, raw], [raw, raw]] : Array.isArray(raw) && raw.length === 2 ? raw.map((p: unknown) => (typeof p === 'number' ? [p, p] : p)) : null;
  if (sides === null || !sides.every((p) => Array.isArray(p) && p.length === 2 && p.every((v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0))) {
    fail(`layer '${layer.name}': 'padding' must be n, [h, w] or [[top, bottom], [left, right]], received ${JSON.stringify(raw)}`);
  }
  const [[top, bottom], [left, right]] = sides as [[number, number], [number, number]];
  // NCHW pads: [N, C, top, left] begins, then [N, C, bottom, right] ends; zeros as in tfjs.
  const pads = graph.constant([0, 0, top, left, 0, 0, bottom, right], 'int64');
  const out = graph.node('Pad', [input.name, pads], { mode: attr.string('constant') }, layer.name);
  return { name: out, shape: [input.shape[0] as number, (input.shape[1] as number) + top + bottom, (input.shape[2] as number) + left + right] };
}

function concatLayer(graph: OnnxGraph, layer: tf.layers.Layer, inputs: Value[]): Value {
  const axis = layer.getConfig()['axis'];
  if (axis !== -1 && axis !== 3) fail(`layer '${layer.name}': only concatenation over channels (axis -1) is supported, received axis ${JSON.stringify(axis)}`);
  const channels = inputs.reduce((sum, v) => sum + (v.shape[0] as number), 0);
  return { name: graph.node('Concat', inputs.map((v) => v.name), { axis: attr.int(1) }, layer.name), shape: [channels, ...(inputs[0] as Value).shape.slice(1)] };
}

function upsampleLayer(graph: OnnxGraph, layer: tf.layers.Layer, input: Value): Value {
  const factor = layer.getConfig()['factor'];
  if (typeof factor !== 'number' || !Number.isInteger(factor) || factor < 1) fail(`layer '${layer.name}': 'factor' must be an integer ≥ 1, received ${JSON.stringify(factor)}`);
  if (factor === 1) return input;
  // x_src = (x_dst + 0.5)/factor − 0.5, clamped at the borders: exactly tfjs's half-pixel-centre sampling.
  const out = graph.node(
    'Resize',
    [input.name, '', graph.constant([1, 1, factor, factor], 'float')],
    { mode: attr.string('linear'), coordinate_transformation_mode: attr.string('half_pixel') },
    layer.name,
  );
  return { name: out, shape: [input.shape[0] as number, (input.shape[1] as number) * factor, (input.shape[2] as number) * factor] };
}

/**
 * The HemHead, unrolled: input v [B, C_in, H, W] → 1×1 conv → x [B, N, C] →
 * T × (E-step, N-step) → R-step → ReLU → 1×1 conv → BN → + v → ReLU.
 */
function hemHeadLayer(graph: OnnxGraph, layer: HemHead, input: Value, iterations: number): Value {
  const p = layer.name;
  const o = layer.options;
  const weights = weightsOf(layer);
  const [cin, h, w] = input.shape as [number, number, number];
  const inKernel = weights.get('in_kernel');
  const channels = inKernel.shape[1] as number;
  const bases = weights.get('bases');
  const numBases = bases.shape[0] as number;
  const temperature = o.temperature ?? Math.sqrt(channels);
  const eta = layer.stepSize;
  const n = h * w;

  // 1×1 conv in, then x = [B, N, C].
  const features = graph.node('Conv', [input.name, graph.initializer(`${p}/in_kernel`, [channels, cin, 1, 1], matrixToOihw(inKernel.data, inKernel.shape)), graph.initializer(`${p}/in_bias`, [channels], weights.get('in_bias').data)], { kernel_shape: attr.ints([1, 1]) }, `${p}/conv_in`);
  const flat = graph.node('Reshape', [features, graph.constant([0, channels, n], 'int64')], {}, `${p}/flatten`);
  const x = graph.node('Transpose', [flat], { perm: attr.ints([0, 2, 1]) }, `${p}/x`);

  let mu = graph.initializer(`${p}/mu0`, [1, numBases, channels], bases.data); // μ⁽⁰⁾, broadcast over B
  let gamma = '';
  const sigma = graph.constant([temperature], 'float', []);
  for (let t = 1; t <= iterations; t++) {
    const s = `${p}/t${t}`;
    // E-step (Eq. 7/8): γ = softmax_k(logits / σ²).
    const muT = graph.node('Transpose', [mu], { perm: attr.ints([0, 2, 1]) }, `${s}/mu_t`);
    let logits = graph.node('MatMul', [x, muT], {}, `${s}/dot`); // x·μᵀ [B, N, K]
    if (o.kernel === 'rbf') {
      // −‖x − μ‖² up to a term constant in k: 2 x·μ − ‖μ‖².
      const norms = graph.node('ReduceSumSquare', [mu], { axes: attr.ints([2]), keepdims: attr.int(1) }, `${s}/mu_norm2`); // [·, K, 1]
      const row = graph.node('Transpose', [norms], { perm: attr.ints([0, 2, 1]) }, `${s}/mu_norm2_row`); // [·, 1, K]
      logits = graph.node('Sub', [graph.node('Mul', [logits, graph.constant([2], 'float', [])], {}, `${s}/dot2`), row], {}, `${s}/logits`);
    }
    gamma = graph.node('Softmax', [graph.node('Div', [logits, sigma], {}, `${s}/scaled`)], { axis: attr.int(2) }, `${s}/gamma`);
    // N-step (Eq. 13): N_k = Σ_n γ; F = (γ/(ε + N_k))ᵀ·x; μ ← (1 − η)μ + ηF.
    const nk = graph.node('ReduceSum', [gamma, graph.constant([1], 'int64')], { keepdims: attr.int(1) }, `${s}/nk`);
    const normalized = graph.node('Div', [gamma, graph.node('Add', [nk, graph.constant([NK_EPSILON], 'float', [])], {}, `${s}/nk_eps`)], {}, `${s}/gamma_bar`);
    const update = graph.node('MatMul', [graph.node('Transpose', [normalized], { perm: attr.ints([0, 2, 1]) }, `${s}/gamma_bar_t`), x], {}, `${s}/f_em`);
    let next = eta === 1
      ? update
      : graph.node('Add', [graph.node('Mul', [mu, graph.constant([1 - eta], 'float', [])], {}, `${s}/keep`), graph.node('Mul', [update, graph.constant([eta], 'float', [])], {}, `${s}/step`)], {}, `${s}/mu_highway`);
    if (o.normalizeBases) {
      const norm = graph.node('ReduceL2', [next], { axes: attr.ints([2]), keepdims: attr.int(1) }, `${s}/mu_norm`);
      next = graph.node('Div', [next, graph.node('Add', [norm, graph.constant([NORM_EPSILON], 'float', [])], {}, `${s}/mu_norm_eps`)], {}, `${s}/mu_normalized`);
    }
    mu = next;
  }
  // R-step (Eq. 10) with the final μ and the last γ, then ReLU, 1×1 conv out, BN, residual, ReLU.
  const reconstruction = graph.node('Relu', [graph.node('MatMul', [gamma, mu], {}, `${p}/reconstruction`)], {}, `${p}/reconstruction_relu`);
  const spatial = graph.node('Reshape', [graph.node('Transpose', [reconstruction], { perm: attr.ints([0, 2, 1]) }, `${p}/reconstruction_t`), graph.constant([0, channels, h, w], 'int64')], {}, `${p}/reconstruction_map`);
  const outKernel = weights.get('out_kernel');
  const projected = graph.node('Conv', [spatial, graph.initializer(`${p}/out_kernel`, [cin, channels, 1, 1], matrixToOihw(outKernel.data, outKernel.shape))], { kernel_shape: attr.ints([1, 1]) }, `${p}/conv_out`);
  const normalizedOut = batchNormNode(graph, `${p}/bn`, projected, cin, weights.get('bn_gamma').data, weights.get('bn_beta').data, weights.get('moving_mean').data, weights.get('moving_variance').data, HEM_BN_EPSILON);
  const residual = graph.node('Add', [normalizedOut, input.name], {}, `${p}/residual`);
  return { name: graph.node('Relu', [residual], {}, `${p}/output`), shape: input.shape };
}

/** The non-input layers that the `outputs` depend on, in model order. */
function neededLayers(model: tf.LayersModel, outputs: readonly tf.SymbolicTensor[]): tf.layers.Layer[] {
  const needed = new Set<number>(outputs.map((t) => t.id));
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const chosen = new Set<tf.layers.Layer>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const layer of layers) {
      if (chosen.has(layer)) continue;
      const node = layer.inboundNodes[0];
      if (node === undefined || !node.outputTensors.some((t) => needed.has(t.id))) continue;
      chosen.add(layer);
      node.inputTensors.forEach((t) => needed.add(t.id));
      changed = true;
    }
  }
  return layers.filter((layer) => chosen.has(layer));
}

function checkOptions(options: OnnxExportOptions): Required<Pick<OnnxExportOptions, 'layout' | 'outputs' | 'probabilities' | 'opset'>> {
  if (typeof options !== 'object' || options === null) fail(`'options' must be an object, received ${JSON.stringify(options)}`);
  for (const key of Object.keys(options)) if (!OPTION_KEYS.includes(key)) fail(`unknown option '${key}' (valid: ${OPTION_KEYS.join(', ')})`);
  const layout = options.layout ?? 'nchw';
  if (layout !== 'nchw' && layout !== 'nhwc') fail(`'layout' must be 'nchw' or 'nhwc', received ${JSON.stringify(layout)}`);
  const outputs = options.outputs ?? 'all';
  if (outputs !== 'all' && outputs !== 'main') fail(`'outputs' must be 'all' or 'main', received ${JSON.stringify(outputs)}`);
  if (options.probabilities !== undefined && typeof options.probabilities !== 'boolean') fail(`'probabilities' must be a boolean, received ${JSON.stringify(options.probabilities)}`);
  const opset = options.opset ?? ONNX_DEFAULT_OPSET;
  if (!(ONNX_OPSETS as readonly number[]).includes(opset)) fail(`'opset' must be one of ${ONNX_OPSETS.join(', ')}, received ${JSON.stringify(opset)}`);
  if (options.evalIterations !== undefined && options.evalIterations !== null) checkIterations(FN, 'evalIterations', options.evalIterations);
  if (options.batchSize !== undefined && options.batchSize !== null && !(Number.isInteger(options.batchSize) && options.batchSize > 0)) {
    fail(`'batchSize' must be a positive integer or null, received ${JSON.stringify(options.batchSize)}`);
  }
  const norm = options.normalization;
  if (norm !== undefined && norm !== null) {
    const ok = (list: unknown): list is number[] => Array.isArray(list) && list.length > 0 && list.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (!ok(norm.mean) || !ok(norm.std) || norm.mean.length !== norm.std.length || norm.std.some((s) => !(s > 0))) {
      fail(`'normalization' must have 'mean' and 'std' of equal length with std > 0, received ${JSON.stringify(norm)}`);
    }
    if (norm.scale !== undefined && !(typeof norm.scale === 'number' && norm.scale > 0 && Number.isFinite(norm.scale))) fail(`'normalization.scale' must be a positive number, received ${JSON.stringify(norm.scale)}`);
  }
  if (options.metadata !== undefined && (typeof options.metadata !== 'object' || options.metadata === null || Object.values(options.metadata).some((v) => typeof v !== 'string'))) {
    fail(`'metadata' must be an object of strings, received ${JSON.stringify(options.metadata)}`);
  }
  return { layout, outputs, probabilities: options.probabilities ?? false, opset };
}

/**
 * Converts a tfjs-layers segmentation model (input `[B, H, W, C_in]`,
 * outputs `[B, H, W, K]`) to an ONNX model. The model is read, not changed.
 *
 * @returns the `.onnx` bytes and a description (input/output names and
 *   shapes, op counts, parameter count, T_eval per HemHead)
 */
export function exportOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): OnnxExport {
  if (!(model instanceof tf.LayersModel)) fail(`'model' must be a tf.LayersModel, received ${typeof model}`);
  const { layout, outputs, probabilities, opset } = checkOptions(options);
  if (model.inputs.length !== 1) fail(`the model must have one input, received ${model.inputs.length}`);
  const modelInput = model.inputs[0] as tf.SymbolicTensor;
  const [, height, width, inChannels] = modelInput.shape;
  if (modelInput.shape.length !== 4 || typeof height !== 'number' || typeof width !== 'number' || typeof inChannels !== 'number') {
    fail(`the model input must be [B, H, W, C] with known H, W, C, received [${modelInput.shape.map(String).join(', ')}]`);
  }
  const batch: number | string = options.batchSize ?? 'batch';
  const graph = new OnnxGraph();
  const inputName = 'image';
  const inputShape = layout === 'nchw' ? [batch, inChannels, height, width] : [batch, height, width, inChannels];
  graph.addInput({ name: inputName, dims: inputShape });

  let first = inputName;
  if (layout === 'nhwc') first = graph.node('Transpose', [first], { perm: attr.ints([0, 3, 1, 2]) }, 'image_nchw');
  const norm = options.normalization ?? null;
  if (norm !== null) {
    if (norm.mean.length !== inChannels) fail(`'normalization' has ${norm.mean.length} channels, the model input has ${inChannels}`);
    const scaled = graph.node('Mul', [first, graph.constant([norm.scale ?? 1 / 255], 'float', [])], {}, 'image_scaled');
    const centred = graph.node('Sub', [scaled, graph.constant([...norm.mean], 'float', [1, inChannels, 1, 1])], {}, 'image_centred');
    first = graph.node('Div', [centred, graph.constant([...norm.std], 'float', [1, inChannels, 1, 1])], {}, 'image_normalized');
  }

  const values = new Map<number, Value>();
  values.set(modelInput.id, { name: first, shape: [inChannels, height, width] });
  const evalIterations: Record<string, number> = {};
  const kept = outputs === 'all' ? model.outputs : model.outputs.slice(0, 1);
  const pending = neededLayers(model, kept);
  while (pending.length > 0) {
    const index = pending.findIndex((layer) => {
      const node = layer.inboundNodes[0];
      return node !== undefined && node.inputTensors.every((t) => values.has(t.id));
    });
    if (index < 0) fail(`cannot order the layers (${pending.map((l) => `'${l.name}'`).join(', ')} wait for inputs that are never computed)`);
    const layer = pending.splice(index, 1)[0] as tf.layers.Layer;
    if (layer.inboundNodes.length !== 1) fail(`layer '${layer.name}' is applied ${layer.inboundNodes.length} times; shared layers are not supported`);
    const node = layer.inboundNodes[0] as (typeof layer.inboundNodes)[number];
    const inputs = node.inputTensors.map((t) => values.get(t.id) as Value);
    const single = inputs[0] as Value;
    // hemnet's own layers serialise as 'hemnet>Name' (0.1 files as 'Name').
    const className = layer.getClassName().replace(/^hemnet>/, '');
    let out: Value;
    switch (className) {
      case 'Conv2D':
        out = convLayer(graph, layer, single);
        break;
      case 'BatchNormalization':
        out = batchNormLayer(graph, layer, single);
        break;
      case 'ReLU':
        out = reluLayer(graph, layer, single);
        break;
      case 'Activation': {
        const name = layer.getConfig()['activation'];
        out = { name: activation(graph, layer, single.name, name), shape: single.shape };
        break;
      }
      case 'Add':
        out = { name: inputs.slice(1).reduce((acc, v, i) => graph.node('Add', [acc, v.name], {}, i === inputs.length - 2 ? layer.name : `${layer.name}/partial`), single.name), shape: single.shape };
        break;
      case 'Concatenate':
        out = concatLayer(graph, layer, inputs);
        break;
      case 'MaxPooling2D':
        out = maxPoolLayer(graph, layer, single);
        break;
      case 'ZeroPadding2D':
        out = zeroPaddingLayer(graph, layer, single);
        break;
      case 'Dropout':
      case 'SpatialDropout2D':
        out = single; // identity in inference
        break;
      case 'BilinearUpsample':
        out = upsampleLayer(graph, layer, single);
        break;
      case 'HemHead': {
        const head = layer as HemHead;
        const t = options.evalIterations ?? head.evalIterations;
        evalIterations[layer.name] = t;
        out = hemHeadLayer(graph, head, single, t);
        break;
      }
      default:
        fail(`layer '${layer.name}' of class '${className}' is not supported (supported: Conv2D, BatchNormalization, ReLU, Activation, Add, Concatenate, MaxPooling2D, ZeroPadding2D, Dropout, BilinearUpsample, HemHead)`);
    }
    if (node.outputTensors.length !== 1) fail(`layer '${layer.name}' has ${node.outputTensors.length} outputs; only single-output layers are supported`);
    values.set((node.outputTensors[0] as tf.SymbolicTensor).id, out);
  }

  const outputNames: string[] = [];
  const base = model.outputs.length === 1 ? ['logits'] : model.outputs.length === 2 ? ['logits', 'aux_logits'] : model.outputs.map((_, i) => `output_${i}`);
  kept.forEach((symbolic, i) => {
    const value = values.get(symbolic.id);
    if (value === undefined) fail(`output ${i} of the model is not computed by any layer`);
    const name = base[i] as string;
    const [classes, h, w] = value.shape as [number, number, number];
    const dims = layout === 'nchw' ? [batch, classes, h, w] : [batch, h, w, classes];
    const emitted = layout === 'nhwc' ? graph.node('Transpose', [value.name], { perm: attr.ints([0, 2, 3, 1]) }, `${name}_nhwc`) : value.name;
    graph.addOutput(emitted, { name, dims });
    outputNames.push(name);
    if (probabilities && i === 0) {
      const probs = graph.node('Softmax', [emitted], { axis: attr.int(layout === 'nchw' ? 1 : 3) }, 'probabilities_value');
      graph.addOutput(probs, { name: 'probabilities', dims });
      outputNames.push('probabilities');
    }
  });

  const metadata: Record<string, string> = {
    ...(options.metadata ?? {}),
    'hemnet.inputLayout': layout.toUpperCase(),
    'hemnet.inputNormalization': norm === null ? 'none: feed (pixel/255 − mean)/std' : JSON.stringify({ baked: true, scale: norm.scale ?? 1 / 255, mean: norm.mean, std: norm.std }),
    'hemnet.evalIterations': JSON.stringify(evalIterations),
  };
  const bytes = graph.encode({
    opset,
    irVersion: opset <= 13 ? 7 : 8,
    producerName: 'hemnet',
    producerVersion: options.producerVersion ?? '0',
    graphName: model.name,
    docString: `hemnet ${model.name}: input '${inputName}' ${layout.toUpperCase()} [${inputShape.join(', ')}], outputs ${outputNames.map((n) => `'${n}'`).join(', ')}`,
    metadata,
  });
  return { bytes, inputName, inputShape, outputNames, opCounts: graph.opCounts(), parameters: graph.parameterCount(), opset, evalIterations };
}
