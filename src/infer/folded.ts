/**
 * Inference with every batch norm folded into the convolution before it
 * (platform-neutral). In inference a batch norm is an affine map per
 * channel with the moving statistics,
 *
 *   BN(y) = γ · (y − m) / √(v + ε) + β = s · y + (β − s · m),  s = γ / √(v + ε),
 *
 * so a 2-D convolution y = W ∗ x + b followed by it is the convolution with
 * W' = s · W (per output channel) and b' = β + s · (b − m). A conv → BN →
 * ReLU unit then runs as one `tf.fused.conv2d` with the bias and the ReLU
 * fused (one XNNPACK operator on wasm) instead of three kernels, and a
 * `ZeroPadding2D` that only feeds a 'valid' conv becomes the conv's own
 * explicit padding. Dropout is the identity in inference and is skipped.
 * Every other layer (the HemHead, upsampling, residual adds, ...) runs as
 * `layer.apply(inputs, {training: false})`, exactly as `model.execute`
 * would run it; only the main output (`model.outputs[0]`) is computed.
 *
 * The folded weights are a snapshot taken by `foldInference`; when a source
 * weight is re-assigned afterwards (an optimizer step, `setWeights`), the
 * next call folds again. (A backend that overwrites a weight's buffer in
 * place keeps its data id; while a `FoldedInference` holds a reference to
 * every source weight, such backends see a second reader and write a fresh
 * buffer instead, so the change is still seen.)
 */
import * as tf from '@tensorflow/tfjs';
import { winogradConv2d, winogradConvApplies, winogradConvAvailable, winogradFilters, type WinogradTile } from '../ops/winograd.js';
import { wasmWinogradEnabled, winogradTileRule, withWasmWinograd } from '../kernels/winogradTraining.js';
import { Dropout } from '../layers/dropout.js';

const FN = 'foldInference';

type Kwargs = Record<string, unknown>;

interface Folded {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D | null;
  /**
   * Where the unit can run as Winograd: the filter's transforms
   * (src/ops/winograd.ts) per output tile, each made the first time a map
   * needs it; else null.
   */
  winograd: Map<WinogradTile, tf.Tensor2D[]> | null;
}

/** Options of `foldInference`. */
export interface FoldOptions {
  /**
   * Run the 3×3 stride-1 units as Winograd convolutions where the backend
   * has the kernel (wasm with SIMD) and it is faster (bench/winograd.ts):
   * F(4×4, 3×3) where the map's sides are multiples of 4·dilation (from 16
   * input channels), else F(2×2, 3×3) where they are multiples of
   * 2·dilation (from 32). F(4×4, 3×3) rounds a little more (≈ 1e-5
   * relative against ≈ 1e-6; see `winogradTile`).
   * Default true; false keeps every unit a direct `tf.fused.conv2d` (also
   * where the wasm kernels would run it as Winograd: `setWasmWinograd`).
   * With `setWasmWinograd(false)` no unit runs as Winograd either way.
   */
  winograd?: boolean;
  /**
   * Which Winograd tile to use where both apply: 'auto' (default: 4 where
   * it applies, as above), or 2 to keep every unit at F(2×2, 3×3) (its
   * rounding, its 32-channel rule).
   */
  winogradTile?: 'auto' | WinogradTile;
}


/** A conv (→ BN) (→ ReLU) unit run as one fused convolution. */
interface ConvStep {
  kind: 'conv';
  conv: tf.layers.Layer;
  bn: tf.layers.Layer | null;
  relu: boolean;
  /** Explicit [top, bottom], [left, right] zero padding folded in from a ZeroPadding2D, else null. */
  pad: [[number, number], [number, number]] | null;
  strides: [number, number];
  dilations: [number, number];
  padding: 'same' | 'valid';
  input: number;
  output: number;
  /** The source weights the fold was computed from (clones: the same data ids). */
  sources: tf.Tensor[];
  folded: Folded | null;
}

interface LayerStep {
  kind: 'layer';
  layer: tf.layers.Layer;
  inputs: number[];
  output: number;
  outputIndex: number | undefined;
  callArgs: Kwargs;
}

type Step = ConvStep | LayerStep;

/** What `foldInference` built: how many units it fused, and how many layers run as they are. */
export interface FoldSummary {
  /** conv → BN pairs folded into one convolution. */
  foldedBatchNorms: number;
  /** ReLUs fused into the convolution before them. */
  fusedRelus: number;
  /** ZeroPadding2D layers folded into the convolution after them. */
  foldedPaddings: number;
  /** Dropout layers skipped (the identity in inference). */
  skippedDropouts: number;
  /** Layers run through `layer.apply(…, {training: false})`. */
  plainLayers: number;
}

function pair(value: unknown, name: string, layer: string): [number, number] {
  const list = Array.isArray(value) ? value : [value, value];
  const [a, b] = list as unknown[];
  if (typeof a !== 'number' || typeof b !== 'number') throw new Error(`${FN}: layer '${layer}': cannot read '${name}' (${JSON.stringify(value)})`);
  return [a, b];
}

function isReluLayer(layer: tf.layers.Layer): boolean {
  const config = layer.getConfig();
  if (layer.getClassName() === 'ReLU') return config['maxValue'] === null || config['maxValue'] === undefined;
  return layer.getClassName() === 'Activation' && config['activation'] === 'relu';
}

/** A conv layer this module can fuse: 2-D, channels last, linear activation. */
function isFoldableConv(layer: tf.layers.Layer): boolean {
  if (layer.getClassName() !== 'Conv2D') return false;
  const config = layer.getConfig();
  return (config['dataFormat'] ?? 'channelsLast') === 'channelsLast' && (config['activation'] ?? 'linear') === 'linear';
}

/** A batch norm over the last axis (NHWC channels). */
function isChannelBatchNorm(layer: tf.layers.Layer): boolean {
  if (layer.getClassName() !== 'BatchNormalization') return false;
  const axis = layer.getConfig()['axis'];
  return axis === -1 || axis === 3;
}

function weightNamed(layer: tf.layers.Layer, suffix: string): tf.Tensor | null {
  const found = layer.weights.find((w) => w.originalName.endsWith(`/${suffix}`) || w.name.endsWith(`/${suffix}`));
  return found === undefined ? null : found.read();
}

/** A batch norm's weights: γ and β may be absent (`scale` / `center` false); the moving statistics never are. */
interface BatchNormWeights {
  gamma: tf.Tensor1D | null;
  beta: tf.Tensor1D | null;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** The source weights of a conv step, rank-checked. */
interface SourceWeights {
  kernel: tf.Tensor4D;
  bias: tf.Tensor1D | null;
  bn: BatchNormWeights | null;
}

function rank4(t: tf.Tensor, what: string): tf.Tensor4D {
  if (t.rank !== 4) throw new Error(`${FN}: ${what} has rank ${t.rank}, expected a 4-D conv kernel`);
  return t as tf.Tensor4D;
}

function vector(t: tf.Tensor | null, what: string): tf.Tensor1D | null {
  if (t !== null && t.rank !== 1) throw new Error(`${FN}: ${what} has rank ${t.rank}, expected a vector`);
  return t as tf.Tensor1D | null;
}

function sourceWeights(step: ConvStep): SourceWeights {
  const kernel = weightNamed(step.conv, 'kernel');
  if (kernel === null) throw new Error(`${FN}: conv layer '${step.conv.name}' has no kernel (is the model built?)`);
  const conv = `conv layer '${step.conv.name}'`;
  const weights: SourceWeights = { kernel: rank4(kernel, `${conv}'s kernel`), bias: vector(weightNamed(step.conv, 'bias'), `${conv}'s bias`), bn: null };
  if (step.bn !== null) {
    const bn = `batch norm '${step.bn.name}'`;
    const mean = vector(weightNamed(step.bn, 'moving_mean'), `${bn}'s moving mean`);
    const variance = vector(weightNamed(step.bn, 'moving_variance'), `${bn}'s moving variance`);
    if (mean === null || variance === null) throw new Error(`${FN}: ${bn} has no moving statistics`);
    const gamma = vector(weightNamed(step.bn, 'gamma'), `${bn}'s gamma`);
    const beta = vector(weightNamed(step.bn, 'beta'), `${bn}'s beta`);
    weights.bn = { gamma, beta, mean, variance };
  }
  return weights;
}

/** The weights in a fixed order (kernel, bias, γ, β, moving mean, moving variance; absent ones left out): what a fold is keyed on. */
function presentWeights(weights: SourceWeights): tf.Tensor[] {
  const bn = weights.bn;
  const list: Array<tf.Tensor | null> = [weights.kernel, weights.bias, bn?.gamma ?? null, bn?.beta ?? null, bn?.mean ?? null, bn?.variance ?? null];
  return list.filter((t): t is tf.Tensor => t !== null);
}

function fold(step: ConvStep, weights: SourceWeights): Folded {
  const { kernel, bias: convBias, bn: norm } = weights;
  const bn = step.bn;
  if (bn === null || norm === null) return { filter: tf.clone(kernel), bias: convBias === null ? null : tf.clone(convBias), winograd: null };
  const epsilon = bn.getConfig()['epsilon'];
  if (typeof epsilon !== 'number') throw new Error(`${FN}: batch norm '${bn.name}' has no epsilon`);
  const { gamma, beta, mean, variance } = norm;
  const { filter, bias } = tf.tidy(() => {
    // s = γ / √(v + ε); W' = s·W; b' = β + s·(b − m)
    const rstd: tf.Tensor1D = tf.rsqrt(tf.add<tf.Tensor1D>(variance, epsilon));
    const s: tf.Tensor1D = gamma === null ? rstd : tf.mul(gamma, rstd);
    const centred: tf.Tensor1D = convBias === null ? tf.neg(mean) : tf.sub(convBias, mean);
    const scaled: tf.Tensor1D = tf.mul(centred, s);
    const filter: tf.Tensor4D = tf.mul(kernel, s);
    const bias: tf.Tensor1D = beta === null ? scaled : tf.add<tf.Tensor1D>(scaled, beta);
    return { filter, bias };
  });
  return { filter, bias, winograd: null };
}

/**
 * A model's main output with conv → BN (→ ReLU) units folded into fused
 * convolutions (see the module comment). Create it with `foldInference`;
 * `dispose` frees the folded weights (the model is untouched).
 */
export class FoldedInference {
  readonly summary: FoldSummary;
  private readonly steps: Step[];
  private readonly inputId: number;
  private readonly outputId: number;
  /** Steps that read each symbolic tensor id (to free intermediates early). */
  private readonly readers: Map<number, number>;
  private disposed = false;

  /** True after `dispose`: `logits` then throws. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  private readonly winograd: boolean;
  private readonly largestTile: WinogradTile;

  constructor(readonly model: tf.LayersModel, options: FoldOptions = {}) {
    if (options.winograd !== undefined && typeof options.winograd !== 'boolean') throw new Error(`${FN}: 'winograd' must be a boolean, received ${String(options.winograd)}`);
    const tile = options.winogradTile ?? 'auto';
    if (tile !== 'auto' && tile !== 2 && tile !== 4) throw new Error(`${FN}: 'winogradTile' must be 'auto', 2 or 4, received ${JSON.stringify(tile)}`);
    this.winograd = options.winograd ?? true;
    this.largestTile = tile === 2 ? 2 : 4;
    const input = model.inputs[0];
    const output = model.outputs[0];
    if (model.inputs.length !== 1 || input === undefined || output === undefined) {
      throw new Error(`${FN}: the model must have one input and at least one output, received ${model.inputs.length} inputs and ${model.outputs.length} outputs`);
    }
    const plan = planSteps(input, output);
    this.inputId = input.id;
    this.outputId = plan.output;
    this.steps = plan.steps;
    this.summary = plan.summary;
    this.readers = new Map();
    for (const step of this.steps) {
      for (const id of step.kind === 'conv' ? [step.input] : step.inputs) this.readers.set(id, (this.readers.get(id) ?? 0) + 1);
    }
  }

  /** Folds (again) every conv step whose source weights changed since its last fold. */
  private refresh(): void {
    for (const step of this.steps) {
      if (step.kind !== 'conv') continue;
      const current = sourceWeights(step);
      const present = presentWeights(current);
      const fresh = step.folded !== null && present.length === step.sources.length && present.every((t, i) => t.dataId === step.sources[i]?.dataId && !t.isDisposed);
      if (fresh) continue;
      this.release(step);
      // Kept: logits() may run inside the caller's tf.tidy, which must not free the folded weights.
      const folded = fold(step, current);
      tf.keep(folded.filter);
      if (folded.bias !== null) tf.keep(folded.bias);
      if (this.winograd && winogradConvAvailable() && winogradConvApplies([1, 2 * step.dilations[0], 2 * step.dilations[0], folded.filter.shape[2]], folded.filter.shape, step.strides, step.dilations, padOf(step))) {
        folded.winograd = new Map();
      }
      step.folded = folded;
      step.sources = present.map((t) => tf.keep(tf.clone(t)));
    }
  }

  private release(step: ConvStep): void {
    if (step.folded !== null) tf.dispose([step.folded.filter, ...(step.folded.bias !== null ? [step.folded.bias] : []), ...[...(step.folded.winograd?.values() ?? [])].flat()]);
    tf.dispose(step.sources);
    step.folded = null;
    step.sources = [];
  }

  /**
   * The main output (logits `[B, H, W, K]` for the zoo's models) of the
   * model on `input` `[B, H, W, C]`, as `model.execute(input,
   * model.outputs[0].name)` computes it, with the folded units. Like
   * `execute`, it does not check H and W against the model's input shape.
   */
  logits(input: tf.Tensor4D): tf.Tensor4D {
    if (this.disposed) throw new Error('FoldedInference.logits: this FoldedInference was disposed');
    this.refresh();
    return tf.tidy(() => {
      const values = new Map<number, tf.Tensor>([[this.inputId, input]]);
      const remaining = new Map(this.readers);
      const take = (id: number): tf.Tensor => {
        const value = values.get(id);
        if (value === undefined) throw new Error(`FoldedInference.logits: internal error, tensor ${id} was not computed`);
        return value;
      };
      const done = (id: number): void => {
        const left = (remaining.get(id) ?? 0) - 1;
        remaining.set(id, left);
        if (left === 0 && id !== this.inputId && id !== this.outputId) {
          values.get(id)?.dispose();
          values.delete(id);
        }
      };
      for (const step of this.steps) {
        if (step.kind === 'conv') {
          values.set(step.output, this.runConv(step, take(step.input) as tf.Tensor4D));
          done(step.input);
        } else {
          const args = step.inputs.map(take);
          const result = step.layer.apply(args.length === 1 ? (args[0] as tf.Tensor) : args, { ...step.callArgs, training: false }) as tf.Tensor | tf.Tensor[];
          const chosen = Array.isArray(result) ? result[step.outputIndex ?? 0] : result;
          if (chosen === undefined) throw new Error(`${FN}: layer '${step.layer.name}' returned no output ${step.outputIndex ?? 0}`);
          values.set(step.output, chosen);
          step.inputs.forEach(done);
        }
      }
      return take(this.outputId) as tf.Tensor4D;
    });
  }

  private runConv(step: ConvStep, x: tf.Tensor4D): tf.Tensor4D {
    const folded = step.folded as Folded;
    const padding = padOf(step);
    const tile = folded.winograd !== null && wasmWinogradEnabled() && winogradConvAvailable() ? this.winogradTileFor(x.shape, folded, step, padding) : null;
    if (tile !== null && folded.winograd !== null) {
      let filters = folded.winograd.get(tile);
      if (filters === undefined) {
        // Kept: this runs inside logits()' tf.tidy; release() frees them.
        filters = winogradFilters(folded.filter, tile).map((u) => tf.keep(u));
        folded.winograd.set(tile, filters);
      }
      return winogradConv2d(x, filters, folded.bias, step.relu, step.dilations[0]);
    }
    const pad: 'same' | 'valid' | tf.backend_util.ExplicitPadding = padding === 'same' || padding === 'valid' ? padding : [[0, 0], padding[0], padding[1], [0, 0]];
    const direct = () => tf.fused.conv2d({
      x,
      filter: folded.filter,
      strides: step.strides,
      pad,
      dataFormat: 'NHWC',
      dilations: step.dilations,
      ...(folded.bias !== null ? { bias: folded.bias } : {}),
      activation: step.relu ? 'relu' : 'linear',
    });
    return this.winograd ? direct() : withWasmWinograd(false, direct);
  }

  /** The Winograd tile this unit runs with on an input of `shape`, or null for the direct conv. */
  private winogradTileFor(shape: readonly number[], folded: Folded, step: ConvStep, padding: ReturnType<typeof padOf>): WinogradTile | null {
    const applies = (tile: WinogradTile) => winogradConvApplies(shape, folded.filter.shape, step.strides, step.dilations, padding, tile);
    return winogradTileRule(shape[3] as number, applies, this.largestTile);
  }

  /** Frees the folded weights; the model itself is untouched. */
  dispose(): void {
    for (const step of this.steps) if (step.kind === 'conv') this.release(step);
    this.disposed = true;
  }
}

/** A unit's padding: 'same' / 'valid', or the explicit [top, bottom], [left, right] folded in from a ZeroPadding2D. */
function padOf(step: ConvStep): 'same' | 'valid' | [[number, number], [number, number]] {
  return step.pad === null ? step.padding : step.pad;
}

/** The steps that compute `output` from `input`, in an order where every step's inputs come first. */
function planSteps(input: tf.SymbolicTensor, output: tf.SymbolicTensor): { steps: Step[]; summary: FoldSummary; output: number } {
  // Every symbolic tensor the main output depends on, and how many times each is read.
  const order: tf.SymbolicTensor[] = [];
  const seen = new Set<number>();
  const reads = new Map<number, number>();
  const visit = (t: tf.SymbolicTensor): void => {
    // Iterative post-order (deep backbones would overflow a recursive walk's stack only at thousands of layers, but be safe).
    const stack: Array<{ t: tf.SymbolicTensor; expanded: boolean }> = [{ t, expanded: false }];
    while (stack.length > 0) {
      const top = stack.pop() as { t: tf.SymbolicTensor; expanded: boolean };
      if (top.expanded) {
        order.push(top.t);
        continue;
      }
      if (seen.has(top.t.id)) continue;
      seen.add(top.t.id);
      stack.push({ t: top.t, expanded: true });
      if (top.t.id === input.id) continue;
      if (top.t.inputs.length === 0) {
        throw new Error(`${FN}: tensor '${top.t.name}' of layer '${top.t.sourceLayer.name}' has no inputs and is not the model's input`);
      }
      for (const parent of [...top.t.inputs].reverse()) if (!seen.has(parent.id)) stack.push({ t: parent, expanded: false });
    }
  };
  visit(output);
  for (const t of order) if (t.id !== input.id) for (const parent of t.inputs) reads.set(parent.id, (reads.get(parent.id) ?? 0) + 1);
  /** True when `t` is produced by a single-input layer from `parent` and is read only once (by one consumer) and is not the output. */
  const onlyReader = (t: tf.SymbolicTensor): boolean => (reads.get(t.id) ?? 0) === 1 && t.id !== output.id;

  // Which tensors are absorbed into a fused conv (computed by the conv step of a later tensor).
  const absorbed = new Set<number>();
  const convOf = new Map<number, ConvStep>();
  const summary: FoldSummary = { foldedBatchNorms: 0, fusedRelus: 0, foldedPaddings: 0, skippedDropouts: 0, plainLayers: 0 };
  // The single consumer of each tensor read once (to look one layer ahead).
  const consumer = new Map<number, tf.SymbolicTensor>();
  for (const t of order) if (t.id !== input.id) for (const parent of t.inputs) if ((reads.get(parent.id) ?? 0) === 1) consumer.set(parent.id, t);

  for (const t of order) {
    if (t.id === input.id || absorbed.has(t.id)) continue;
    const layer = t.sourceLayer;
    if (!isFoldableConv(layer) || t.inputs.length !== 1) continue;
    const config = layer.getConfig();
    let source = t.inputs[0] as tf.SymbolicTensor;
    let pad: ConvStep['pad'] = null;
    const padding = config['padding'] === 'same' ? 'same' : 'valid';
    if (padding === 'valid' && source.id !== input.id && source.sourceLayer.getClassName() === 'ZeroPadding2D' && onlyReader(source) && source.inputs.length === 1) {
      const p = source.sourceLayer.getConfig()['padding'];
      const rows = Array.isArray(p) && Array.isArray(p[0]) ? (p[0] as number[]) : null;
      const cols = Array.isArray(p) && Array.isArray(p[1]) ? (p[1] as number[]) : null;
      const format = source.sourceLayer.getConfig()['dataFormat'] ?? 'channelsLast';
      if (rows !== null && cols !== null && format === 'channelsLast') {
        pad = [[rows[0] as number, rows[1] as number], [cols[0] as number, cols[1] as number]];
        absorbed.add(source.id);
        summary.foldedPaddings += 1;
        source = source.inputs[0] as tf.SymbolicTensor;
      }
    }
    let last = t;
    let bn: tf.layers.Layer | null = null;
    let relu = false;
    const next = onlyReader(t) ? consumer.get(t.id) : undefined;
    if (next !== undefined && next.inputs.length === 1 && isChannelBatchNorm(next.sourceLayer)) {
      bn = next.sourceLayer;
      absorbed.add(t.id);
      last = next;
      summary.foldedBatchNorms += 1;
    }
    const after = onlyReader(last) ? consumer.get(last.id) : undefined;
    if (after !== undefined && after.inputs.length === 1 && isReluLayer(after.sourceLayer)) {
      relu = true;
      absorbed.add(last.id);
      last = after;
      summary.fusedRelus += 1;
    }
    convOf.set(last.id, {
      kind: 'conv',
      conv: layer,
      bn,
      relu,
      pad,
      strides: pair(config['strides'], 'strides', layer.name),
      dilations: pair(config['dilationRate'], 'dilationRate', layer.name),
      padding,
      input: source.id,
      output: last.id,
      sources: [],
      folded: null,
    });
    // The intermediate tensors of the unit are never materialised.
    absorbed.delete(last.id);
  }

  // Dropout is the identity in inference: its output is another name of its input.
  const alias = new Map<number, number>();
  const resolve = (id: number): number => alias.get(id) ?? id;
  const steps: Step[] = [];
  for (const t of order) {
    if (t.id === input.id || absorbed.has(t.id)) continue;
    const conv = convOf.get(t.id);
    if (conv !== undefined) {
      steps.push({ ...conv, input: resolve(conv.input) });
      continue;
    }
    const layer = t.sourceLayer;
    if ((layer.getClassName() === 'Dropout' || layer.getClassName() === Dropout.className) && t.inputs.length === 1) {
      alias.set(t.id, resolve((t.inputs[0] as tf.SymbolicTensor).id));
      summary.skippedDropouts += 1;
      continue;
    }
    steps.push({ kind: 'layer', layer, inputs: t.inputs.map((p) => resolve(p.id)), output: t.id, outputIndex: t.outputTensorIndex, callArgs: { ...t.callArgs } });
    summary.plainLayers += 1;
  }
  return { steps, summary, output: resolve(output.id) };
}

const shared = new WeakMap<tf.LayersModel, FoldedInference>();
const hooked = new WeakSet<tf.LayersModel>();

/**
 * The `FoldedInference` kept for `model` between calls of
 * `inferProbabilities` / `segment` on a bare model (folding costs more than
 * a small image's pass, and new filters make XNNPACK pack them again): made
 * on first use, folded again when a weight changes, and freed with the
 * model — `model.dispose()` frees it too — or by `releaseFoldedInference`
 * (one disposed directly is replaced by a new one on the next call).
 * Until then it holds the folded weights and a reference to each source
 * weight.
 */
export function sharedFoldedInference(model: tf.LayersModel): FoldedInference {
  const existing = shared.get(model);
  // One disposed directly (not through releaseFoldedInference) is replaced.
  if (existing !== undefined && !existing.isDisposed) return existing;
  const folded = foldInference(model);
  shared.set(model, folded);
  if (!hooked.has(model)) {
    hooked.add(model);
    // An own property shadowing LayersModel.prototype.dispose: the model's own disposal still runs.
    const dispose = model.dispose;
    model.dispose = function (this: tf.LayersModel) {
      releaseFoldedInference(model);
      return dispose.call(this);
    };
  }
  return folded;
}

/** Frees the `FoldedInference` kept for `model` (see `sharedFoldedInference`); no-op when there is none. */
export function releaseFoldedInference(model: tf.LayersModel): void {
  shared.get(model)?.dispose();
  shared.delete(model);
}

/**
 * Prepares `model` for fast inference: conv → BN (→ ReLU) units become one
 * fused convolution each (W' = s·W, b' = β + s·(b − m), s = γ/√(v + ε)),
 * with the same main output as `model.execute` / `model.apply(x, {training:
 * false})` up to float32 rounding. The caller disposes the result.
 */
export function foldInference(model: tf.LayersModel, options: FoldOptions = {}): FoldedInference {
  if (!(model instanceof tf.LayersModel)) throw new Error(`${FN}: 'model' must be a tf.LayersModel, received ${typeof model}`);
  return new FoldedInference(model, options);
}
