/**
 * Loads PyTorch tensors (e.g. from `parseSafetensors`) into a hemnet
 * tfjs-layers model through a name map (`torchMaps.ts`), with the layout
 * changes:
 *
 * - conv weights OIHW → HWIO (`[O, I, kh, kw]` → `[kh, kw, I, O]`); the
 *   HemHead's 1×1 convs `[O, I, 1, 1]` → `[I, O]`; EMA bases `[1, C, K]` → `[K, C]`;
 * - BatchNorm `weight`/`bias`/`running_mean`/`running_var` → `gamma`/`beta`/
 *   `moving_mean`/`moving_variance`, with PyTorch's ε (1e-5) folded into
 *   hemnet's (1e-3): σ'² = σ² + ε_torch − ε_hemnet, which gives the same
 *   inference output and leaves γ and β (what training with batch statistics
 *   uses) as they were; a channel with σ² < ε_hemnet − ε_torch keeps σ² and
 *   gets γ' = γ·√((σ² + ε_hemnet)/(σ² + ε_torch)) instead (counted in the report).
 *
 * The report lists every tensor in both directions: loaded, ignored (with
 * the map's reason), unmatched torch tensors, torch tensors the map expects
 * but the file lacks, map targets the model lacks, shape mismatches, and
 * model weights under the map's prefixes that nothing loaded.
 * Everything is checked before anything is written.
 */
import * as tf from '@tensorflow/tfjs';
import { BN_EPSILON as HEM_HEAD_BN_EPSILON } from '../layers/hemHead.js';
import type { SafetensorsFile, TorchTensor } from './safetensors.js';
import type { TorchMapping } from './torchMaps.js';

/** PyTorch's BatchNorm2d default ε. */
export const TORCH_BN_EPSILON = 1e-5;

export interface ImportTorchOptions {
  /**
   * Throw (writing nothing) when the report has any problem: unmatched or
   * missing tensors, missing targets, shape mismatches, unloaded target
   * weights. false: load what matches and return the report. Default true.
   */
  strict?: boolean;
  /** ε of the torch BatchNorms. Default 1e-5. */
  torchEpsilon?: number;
  /** Removed from the front of every torch name that has it (e.g. 'module.'). Default: 'module.' when every name has it, else none. */
  stripPrefix?: string;
}

export interface LoadedTensor {
  torch: string;
  /** `layer/weight`, e.g. 'backbone/stem/conv/kernel'. */
  target: string;
  /** Shape written (hemnet layout). */
  shape: number[];
}

export interface TensorPair {
  torch: string;
  target: string;
}

export interface ShapeMismatch extends TensorPair {
  /** Shape in the file (torch layout). */
  torchShape: number[];
  /** The shape the target needs, in torch layout. */
  expectedShape: number[];
}

export interface TorchImportReport {
  mapping: string;
  loaded: LoadedTensor[];
  /** Tensors the map ignores, with the reason. */
  ignored: { torch: string; reason: string }[];
  /** Torch tensors no rule uses. */
  unmatchedTorch: string[];
  /** Torch tensors a rule expects that the file lacks. */
  missingTorch: TensorPair[];
  /** Rule targets (layer/weight) the model lacks. */
  missingTarget: TensorPair[];
  shapeMismatches: ShapeMismatch[];
  /** Model weights under the map's prefixes that no rule reaches (not counting those listed in missingTorch / shapeMismatches). */
  unloadedTarget: string[];
  /** BN layers whose ε was folded, and channels that needed the γ rescale. */
  epsilonFold: { layers: number; gammaRescaledChannels: number };
  /** Scalars written. */
  loadedParameters: number;
  /** Number of problems (0 = complete, exact import). */
  problems: number;
}

type Layout = 'vector' | 'convKernel' | 'matrix1x1' | 'basesCK';

interface Slot {
  torch: string;
  layer: string;
  weight: string;
  layout: Layout;
  /** BN group id for the ε fold: the slots of one BN share it. */
  bn?: { group: string; role: 'gamma' | 'beta' | 'mean' | 'variance'; epsilon: 'layer' | 'hemHead' };
}

const FN = 'importTorchWeights';

function expandRules(mapping: TorchMapping): Slot[] {
  const slots: Slot[] = [];
  const bn = (torch: string, layer: string, names: [string, string, string, string], epsilon: 'layer' | 'hemHead'): void => {
    const roles = ['gamma', 'beta', 'mean', 'variance'] as const;
    const torchNames = ['weight', 'bias', 'running_mean', 'running_var'];
    roles.forEach((role, i) => {
      slots.push({ torch: `${torch}.${torchNames[i]}`, layer, weight: names[i] as string, layout: 'vector', bn: { group: `${layer}:${torch}`, role, epsilon } });
    });
  };
  for (const rule of mapping.rules) {
    if (rule.kind === 'conv') {
      slots.push({ torch: `${rule.torch}.weight`, layer: rule.layer, weight: 'kernel', layout: 'convKernel' });
      if (rule.bias) slots.push({ torch: `${rule.torch}.bias`, layer: rule.layer, weight: 'bias', layout: 'vector' });
    } else if (rule.kind === 'bn') {
      bn(rule.torch, rule.layer, ['gamma', 'beta', 'moving_mean', 'moving_variance'], 'layer');
    } else {
      slots.push({ torch: rule.bases, layer: rule.layer, weight: 'bases', layout: 'basesCK' });
      slots.push({ torch: `${rule.inConv}.weight`, layer: rule.layer, weight: 'in_kernel', layout: 'matrix1x1' });
      slots.push({ torch: `${rule.inConv}.bias`, layer: rule.layer, weight: 'in_bias', layout: 'vector' });
      slots.push({ torch: `${rule.outConv}.weight`, layer: rule.layer, weight: 'out_kernel', layout: 'matrix1x1' });
      bn(rule.bn, rule.layer, ['bn_gamma', 'bn_beta', 'moving_mean', 'moving_variance'], 'hemHead');
    }
  }
  return slots;
}

/** The weight's own name inside its layer ('kernel', 'gamma', 'bases', …). */
function weightKey(layerName: string, weight: tf.LayerVariable): string {
  const name = weight.originalName;
  const scoped = `${layerName}/`;
  return name.startsWith(scoped) ? name.slice(scoped.length) : (name.split('/').pop() ?? name);
}

/** The hemnet shape `target` in torch layout (what the file must hold). */
function torchShapeFor(layout: Layout, target: number[]): number[] | null {
  switch (layout) {
    case 'vector':
      return target.length === 1 ? target : null;
    case 'convKernel': {
      const [kh, kw, i, o] = target;
      return target.length === 4 ? [o as number, i as number, kh as number, kw as number] : null;
    }
    case 'matrix1x1': {
      const [i, o] = target;
      return target.length === 2 ? [o as number, i as number, 1, 1] : null;
    }
    case 'basesCK': {
      const [k, c] = target;
      return target.length === 2 ? [1, c as number, k as number] : null;
    }
  }
}

/** Torch data → hemnet layout. */
function relayout(layout: Layout, tensor: TorchTensor): Float32Array {
  const src = tensor.data;
  if (layout === 'vector') return src.slice(); // a copy: the ε fold edits it
  if (layout === 'convKernel') {
    const [o, i, kh, kw] = tensor.shape as [number, number, number, number];
    const out = new Float32Array(src.length);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
      out[((y * kw + x) * i + b) * o + a] = src[((a * i + b) * kh + y) * kw + x] as number;
    }
    return out;
  }
  if (layout === 'matrix1x1') {
    const [o, i] = tensor.shape as [number, number];
    const out = new Float32Array(src.length);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) out[b * o + a] = src[a * i + b] as number;
    return out;
  }
  const [, c, k] = tensor.shape as [number, number, number];
  const out = new Float32Array(src.length);
  for (let ci = 0; ci < c; ci++) for (let ki = 0; ki < k; ki++) out[ki * c + ci] = src[ci * k + ki] as number;
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** A readable multi-line listing of the report's problems (empty when there are none). */
export function formatImportProblems(report: TorchImportReport, limit = 20): string {
  const lines: string[] = [];
  for (const name of report.unmatchedTorch) lines.push(`unmatched torch tensor '${name}' (no rule of '${report.mapping}' uses it)`);
  for (const m of report.missingTorch) lines.push(`missing torch tensor '${m.torch}' (for '${m.target}')`);
  for (const m of report.missingTarget) lines.push(`no target '${m.target}' in the model (for torch tensor '${m.torch}')`);
  for (const m of report.shapeMismatches) {
    lines.push(`shape mismatch: torch '${m.torch}' is ${shapeText(m.torchShape)}, '${m.target}' needs ${shapeText(m.expectedShape)} (torch layout)`);
  }
  for (const name of report.unloadedTarget) lines.push(`model weight '${name}' has no torch counterpart in '${report.mapping}'`);
  const shown = lines.slice(0, limit);
  if (lines.length > limit) shown.push(`… and ${lines.length - limit} more`);
  return shown.join('\n');
}

/** A one-paragraph summary for logs and the CLI. */
export function formatImportReport(report: TorchImportReport): string {
  const head =
    `${report.mapping}: loaded ${report.loaded.length} tensors (${report.loadedParameters} values), ignored ${report.ignored.length}, ` +
    `BN ε folded in ${report.epsilonFold.layers} layers (${report.epsilonFold.gammaRescaledChannels} channels via γ), ${report.problems} problem(s)`;
  return report.problems === 0 ? head : `${head}:\n${formatImportProblems(report)}`;
}

function defaultStrip(names: string[]): string {
  return names.length > 0 && names.every((n) => n.startsWith('module.')) ? 'module.' : '';
}

/**
 * Loads `tensors` into `model` through `mapping`. Returns the report; with
 * `strict` (default) any problem throws before anything is written, the
 * message listing the problems.
 */
export function importTorchWeights(
  model: tf.LayersModel,
  tensors: SafetensorsFile | ReadonlyMap<string, TorchTensor>,
  mapping: TorchMapping,
  options: ImportTorchOptions = {},
): TorchImportReport {
  if (!(model instanceof tf.LayersModel)) throw new Error(`${FN}: 'model' must be a tf.LayersModel, received ${typeof model}`);
  const source: ReadonlyMap<string, TorchTensor> = tensors instanceof Map ? tensors : (tensors as SafetensorsFile).tensors;
  if (!(source instanceof Map)) throw new Error(`${FN}: 'tensors' must be a SafetensorsFile or a Map of TorchTensor, received ${typeof tensors}`);
  const torchEpsilon = options.torchEpsilon ?? TORCH_BN_EPSILON;
  if (!(torchEpsilon > 0)) throw new Error(`${FN}: 'torchEpsilon' must be > 0, received ${String(torchEpsilon)}`);
  const strip = options.stripPrefix ?? defaultStrip([...source.keys()]);
  const byName = new Map<string, TorchTensor>();
  for (const [name, tensor] of source) byName.set(strip !== '' && name.startsWith(strip) ? name.slice(strip.length) : name, tensor);

  const layers = new Map(model.layers.map((layer) => [layer.name, layer]));
  const slots = expandRules(mapping);
  const report: TorchImportReport = {
    mapping: mapping.name,
    loaded: [],
    ignored: [],
    unmatchedTorch: [],
    missingTorch: [],
    missingTarget: [],
    shapeMismatches: [],
    unloadedTarget: [],
    epsilonFold: { layers: 0, gammaRescaledChannels: 0 },
    loadedParameters: 0,
    problems: 0,
  };
  const used = new Set<string>();
  const writes = new Map<tf.LayerVariable, { slot: Slot; values: Float32Array }>();
  const written = new Set<string>();
  const bnGroups = new Map<string, Partial<Record<'gamma' | 'beta' | 'mean' | 'variance', Float32Array>> & { epsilon: number }>();

  for (const slot of slots) {
    const target = `${slot.layer}/${slot.weight}`;
    const tensor = byName.get(slot.torch);
    if (tensor !== undefined) used.add(slot.torch);
    const layer = layers.get(slot.layer);
    const variable = layer?.weights.find((w) => weightKey(slot.layer, w) === slot.weight);
    if (layer === undefined || variable === undefined) {
      report.missingTarget.push({ torch: slot.torch, target });
      continue;
    }
    if (tensor === undefined) {
      report.missingTorch.push({ torch: slot.torch, target });
      continue;
    }
    const expected = torchShapeFor(slot.layout, variable.shape as number[]);
    if (expected === null || !sameShape(expected, tensor.shape)) {
      report.shapeMismatches.push({ torch: slot.torch, target, torchShape: [...tensor.shape], expectedShape: expected ?? (variable.shape as number[]) });
      continue;
    }
    const values = relayout(slot.layout, tensor);
    writes.set(variable, { slot, values });
    written.add(variable.originalName);
    report.loaded.push({ torch: slot.torch, target, shape: variable.shape as number[] });
    if (slot.bn !== undefined) {
      const epsilon = slot.bn.epsilon === 'hemHead' ? HEM_HEAD_BN_EPSILON : Number((layer.getConfig() as { epsilon?: unknown }).epsilon ?? 1e-3);
      const group = bnGroups.get(slot.bn.group) ?? { epsilon };
      group[slot.bn.role] = values;
      bnGroups.set(slot.bn.group, group);
    }
  }
  for (const name of byName.keys()) {
    if (used.has(name)) continue;
    const rule = mapping.ignore.find((r) => r.pattern.test(name));
    if (rule !== undefined) report.ignored.push({ torch: name, reason: rule.reason });
    else report.unmatchedTorch.push(name);
  }
  // Weights no rule reaches (those a rule reaches but could not fill are already listed above).
  const explained = new Set([...report.missingTorch, ...report.shapeMismatches].map((m) => m.target));
  for (const layer of model.layers) {
    if (!mapping.targetPrefixes.some((p) => layer.name === p || layer.name.startsWith(`${p}/`))) continue;
    for (const w of layer.weights) {
      const target = `${layer.name}/${weightKey(layer.name, w)}`;
      if (!written.has(w.originalName) && !explained.has(target)) report.unloadedTarget.push(target);
    }
  }
  report.problems =
    report.unmatchedTorch.length + report.missingTorch.length + report.missingTarget.length + report.shapeMismatches.length + report.unloadedTarget.length;
  if ((options.strict ?? true) && report.problems > 0) {
    throw new Error(`${FN}: ${report.problems} problem(s) loading '${mapping.name}' into model '${model.name}':\n${formatImportProblems(report)}`);
  }

  // ε fold (see the file comment): edits the gamma/variance arrays in place before writing.
  for (const group of bnGroups.values()) {
    const { gamma, variance } = group;
    if (gamma === undefined || variance === undefined) continue;
    const gap = group.epsilon - torchEpsilon;
    for (let c = 0; c < variance.length; c++) {
      const v = variance[c] as number;
      if (v + torchEpsilon - group.epsilon >= 0) {
        variance[c] = v - gap;
      } else {
        gamma[c] = (gamma[c] as number) * Math.sqrt((v + group.epsilon) / (v + torchEpsilon));
        report.epsilonFold.gammaRescaledChannels += 1;
      }
    }
    report.epsilonFold.layers += 1;
  }
  for (const [variable, { values }] of writes) {
    const value = tf.tensor(values, variable.shape as number[], 'float32');
    variable.write(value);
    value.dispose();
    report.loadedParameters += values.length;
  }
  return report;
}
