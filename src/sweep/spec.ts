/**
 * Sweep files (pure: no I/O): a base run config, axes (config key path →
 * values), named variants (partial configs), seeds and post-training
 * evaluations. `parseSweep` validates the file (unknown keys are errors,
 * every message names the file and key); `expandSweep` turns it into named
 * runs `<axis=value,...>/seed-<s>`, each validated by `mergeRunConfig`
 * (against the datasets registered; the Node entry points import the
 * built-in ones).
 */
import { defaultRunConfig, mergeRunConfig, type PartialRunConfig, type RunConfig } from '../train/runConfig.js';
import { presetRunConfig } from '../train/presets.js';

/** A named partial run config: one value of a variant axis. */
export interface SweepVariant {
  name: string;
  config: PartialRunConfig;
}

/** One evaluation after training (`hemnet eval` with these flags); a list of T_eval expands to one evaluation each. */
export interface SweepEvaluationSpec {
  name?: string;
  evalIterations?: number | number[];
  scales?: number[];
  flip?: boolean;
  limit?: number;
}

/** A resolved evaluation: exactly one T_eval (or the model's own). */
export interface SweepEvaluation {
  name: string;
  evalIterations: number | null;
  scales: number[] | null;
  flip: boolean | null;
  limit: number | null;
}

/** A paired comparison: cells that differ only in `axis` (value a vs b), on their common seeds. */
export interface SweepComparison {
  axis: string;
  a: unknown;
  b: unknown;
}

export interface SweepSpec {
  name: string;
  description: string;
  base: PartialRunConfig;
  /** Config key path (e.g. 'model.hem.stepSize') → values. */
  axes: Record<string, unknown[]>;
  /** Variant axis name → named partial configs. */
  variants: Record<string, SweepVariant[]>;
  seeds: number[];
  /** Config keys each seed sets. Default model.seed and train.seed. */
  seedKeys: string[];
  evaluations: SweepEvaluation[];
  /** The evaluations as the file wrote them (before expansion). */
  evaluationSpecs: SweepEvaluationSpec[];
  compare: SweepComparison[];
}

export interface SweepAssignment {
  /** Axis (config path or variant axis name). */
  axis: string;
  /** Short label used in run names (last path segment when unique). */
  label: string;
  /** The value (a variant's name for variant axes). */
  value: unknown;
  /** How the value is written in run names. */
  text: string;
}

export interface SweepRun {
  /** `<cell>/seed-<s>`, the run folder relative to the sweep folder. */
  name: string;
  /** `axis=value,...` ('base' when the sweep has no axes). */
  cell: string;
  seed: number;
  assignments: SweepAssignment[];
  /** The partial run config `hemnet train --config` receives. */
  config: PartialRunConfig;
}

export const DEFAULT_SEED_KEYS: readonly string[] = ['model.seed', 'train.seed'];
const TOP_KEYS = ['name', 'description', 'preset', 'base', 'axes', 'variants', 'seeds', 'seedKeys', 'evaluations', 'compare'] as const;
const EVAL_KEYS = ['name', 'evalIterations', 'scales', 'flip', 'limit'] as const;
const SAFE_TEXT = /^[A-Za-z0-9._+-]+$/;

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === undefined) return 'nothing';
  return JSON.stringify(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(source: string, where: string, value: Record<string, unknown>, valid: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!valid.includes(key)) throw new Error(`${source}: unknown key '${where}${key}' (valid: ${valid.join(', ')})`);
  }
}

function checkInteger(source: string, key: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new Error(`${source}: '${key}' must be an integer ≥ ${min}, received ${describe(value)}`);
  }
  return value;
}

/** How a value is written in a run name: numbers, booleans, null, safe strings, lists of those joined by '+'. */
export function valueText(source: string, key: string, value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'string' && SAFE_TEXT.test(value)) return value;
  if (Array.isArray(value) && value.length > 0 && value.every((v) => !Array.isArray(v) && !isPlainObject(v))) {
    return value.map((v, i) => valueText(source, `${key}[${i}]`, v)).join('+');
  }
  throw new Error(
    `${source}: '${key}' values must be numbers, booleans, null, strings of letters, digits and . _ + - or lists of those; received ${describe(value)} (use 'variants' for partial configs)`,
  );
}

/** Sets `path` (dotted) in a deep copy of `config`. */
export function setPath(config: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(config);
  const parts = path.split('.');
  let node: Record<string, unknown> = copy;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === undefined) node[part] = {};
    else if (!isPlainObject(next)) throw new Error(`cannot set '${path}': '${part}' is not an object`);
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = structuredClone(value);
  return copy;
}

/** Deep merge of plain objects (b wins; arrays and scalars replace). */
function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(a);
  for (const [key, value] of Object.entries(b)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? deepMerge(prev, value) : structuredClone(value);
  }
  return out;
}

function parseEvaluations(source: string, raw: unknown): SweepEvaluation[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new Error(`${source}: 'evaluations' must be a list of objects, received ${describe(raw)}`);
  const out: SweepEvaluation[] = [];
  raw.forEach((entry, i) => {
    const key = `evaluations[${i}]`;
    if (!isPlainObject(entry)) throw new Error(`${source}: '${key}' must be an object, received ${describe(entry)}`);
    checkKeys(source, `${key}.`, entry, EVAL_KEYS);
    const name = entry.name;
    if (name !== undefined && (typeof name !== 'string' || !SAFE_TEXT.test(name))) {
      throw new Error(`${source}: '${key}.name' must be a string of letters, digits and . _ + -, received ${describe(name)}`);
    }
    const iterations = entry.evalIterations;
    const list = iterations === undefined ? [null] : Array.isArray(iterations) ? iterations : [iterations];
    if (list.length === 0) throw new Error(`${source}: '${key}.evalIterations' must not be an empty list`);
    list.forEach((t, j) => {
      if (t !== null) checkInteger(source, Array.isArray(iterations) ? `${key}.evalIterations[${j}]` : `${key}.evalIterations`, t, 1);
    });
    const scales = entry.scales;
    if (scales !== undefined && (!Array.isArray(scales) || scales.length === 0 || !scales.every((s) => typeof s === 'number' && Number.isFinite(s) && s > 0))) {
      throw new Error(`${source}: '${key}.scales' must be a list of numbers > 0, received ${describe(scales)}`);
    }
    if (entry.flip !== undefined && typeof entry.flip !== 'boolean') throw new Error(`${source}: '${key}.flip' must be true or false, received ${describe(entry.flip)}`);
    if (entry.limit !== undefined) checkInteger(source, `${key}.limit`, entry.limit, 1);
    for (const t of list as Array<number | null>) {
      const parts: string[] = [];
      if (typeof name === 'string') parts.push(name);
      if (t !== null) parts.push(`teval=${t}`);
      if (scales !== undefined) parts.push(`scales=${(scales as number[]).join('+')}`);
      if (entry.flip === true) parts.push('flip');
      if (entry.limit !== undefined) parts.push(`limit=${String(entry.limit)}`);
      out.push({
        name: parts.length > 0 ? parts.join(',') : 'default',
        evalIterations: t,
        scales: (scales as number[] | undefined) ?? null,
        flip: (entry.flip as boolean | undefined) ?? null,
        limit: (entry.limit as number | undefined) ?? null,
      });
    }
  });
  const seen = new Set<string>();
  for (const e of out) {
    if (seen.has(e.name)) throw new Error(`${source}: 'evaluations' lists '${e.name}' twice`);
    seen.add(e.name);
  }
  return out;
}

/**
 * Validates a parsed sweep file. `source` (the file path) prefixes every
 * message; `defaultName` is used when the file has no `name`.
 */
export function parseSweep(raw: unknown, source: string, defaultName = 'sweep'): SweepSpec {
  if (!isPlainObject(raw)) throw new Error(`${source}: a sweep file must be a JSON object, received ${describe(raw)}`);
  checkKeys(source, '', raw, TOP_KEYS);
  const name = raw.name ?? defaultName;
  if (typeof name !== 'string' || !SAFE_TEXT.test(name)) throw new Error(`${source}: 'name' must be a string of letters, digits and . _ + -, received ${describe(name)}`);
  const description = raw.description ?? '';
  if (typeof description !== 'string') throw new Error(`${source}: 'description' must be a string, received ${describe(description)}`);
  const rawBase = raw.base ?? {};
  if (!isPlainObject(rawBase)) throw new Error(`${source}: 'base' must be a run config object, received ${describe(rawBase)}`);
  // A named run preset (RUN_PRESETS, e.g. 'attention-bench') under the base: the base is then the whole merged config.
  const preset = raw.preset;
  if (preset !== undefined && typeof preset !== 'string') throw new Error(`${source}: 'preset' must be a preset name, received ${describe(preset)}`);
  const base = preset !== undefined ? mergeRunConfig(presetRunConfig(preset), rawBase, `${source} (base)`) : rawBase;
  // The base alone must be a valid run config.
  mergeRunConfig(defaultRunConfig(), base, `${source} (base)`);

  const axesRaw = raw.axes ?? {};
  if (!isPlainObject(axesRaw)) throw new Error(`${source}: 'axes' must be an object of config key → list of values, received ${describe(axesRaw)}`);
  const axes: Record<string, unknown[]> = {};
  for (const [key, values] of Object.entries(axesRaw)) {
    if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/.test(key)) throw new Error(`${source}: axis 'axes.${key}' must be a dotted config key such as 'model.hem.stepSize'`);
    if (!Array.isArray(values) || values.length === 0) throw new Error(`${source}: axis 'axes.${key}' must be a non-empty list of values, received ${describe(values)}`);
    const texts = values.map((v, i) => valueText(source, `axes.${key}[${i}]`, v));
    const dup = texts.find((t, i) => texts.indexOf(t) !== i);
    if (dup !== undefined) throw new Error(`${source}: axis 'axes.${key}' lists the value ${dup} twice (duplicate cells)`);
    axes[key] = values;
  }
  const variantsRaw = raw.variants ?? {};
  if (!isPlainObject(variantsRaw)) throw new Error(`${source}: 'variants' must be an object of axis name → list of {name, config}, received ${describe(variantsRaw)}`);
  const variants: Record<string, SweepVariant[]> = {};
  for (const [axis, list] of Object.entries(variantsRaw)) {
    if (!SAFE_TEXT.test(axis) || axis.includes('.')) throw new Error(`${source}: variant axis 'variants.${axis}' must be a name of letters, digits, _ and -`);
    if (axes[axis] !== undefined) throw new Error(`${source}: 'variants.${axis}' has the name of an axis`);
    if (!Array.isArray(list) || list.length === 0) throw new Error(`${source}: variant axis 'variants.${axis}' must be a non-empty list of {name, config}, received ${describe(list)}`);
    variants[axis] = list.map((entry, i) => {
      const key = `variants.${axis}[${i}]`;
      if (!isPlainObject(entry)) throw new Error(`${source}: '${key}' must be an object {name, config}, received ${describe(entry)}`);
      checkKeys(source, `${key}.`, entry, ['name', 'config']);
      if (typeof entry.name !== 'string' || !SAFE_TEXT.test(entry.name)) throw new Error(`${source}: '${key}.name' must be a string of letters, digits and . _ + -, received ${describe(entry.name)}`);
      if (!isPlainObject(entry.config)) throw new Error(`${source}: '${key}.config' must be a run config object, received ${describe(entry.config)}`);
      return { name: entry.name, config: entry.config as PartialRunConfig };
    });
    const names = variants[axis].map((v) => v.name);
    const dup = names.find((t, i) => names.indexOf(t) !== i);
    if (dup !== undefined) throw new Error(`${source}: variant axis 'variants.${axis}' lists '${dup}' twice (duplicate cells)`);
  }

  const seedsRaw = raw.seeds ?? [0];
  if (!Array.isArray(seedsRaw) || seedsRaw.length === 0) throw new Error(`${source}: 'seeds' must be a non-empty list of integers ≥ 0, received ${describe(seedsRaw)}`);
  const seeds = seedsRaw.map((s, i) => checkInteger(source, `seeds[${i}]`, s, 0));
  const dupSeed = seeds.find((s, i) => seeds.indexOf(s) !== i);
  if (dupSeed !== undefined) throw new Error(`${source}: 'seeds' lists ${dupSeed} twice (duplicate cells)`);
  const seedKeysRaw = raw.seedKeys ?? [...DEFAULT_SEED_KEYS];
  if (!Array.isArray(seedKeysRaw) || !seedKeysRaw.every((k) => typeof k === 'string' && k !== '')) {
    throw new Error(`${source}: 'seedKeys' must be a list of config keys, received ${describe(seedKeysRaw)}`);
  }
  const seedKeys = seedKeysRaw as string[];
  for (const key of seedKeys) if (axes[key] !== undefined) throw new Error(`${source}: 'axes.${key}' is also a seed key ('seedKeys')`);

  const evaluations = parseEvaluations(source, raw.evaluations);
  const compareRaw = raw.compare ?? [];
  if (!Array.isArray(compareRaw)) throw new Error(`${source}: 'compare' must be a list of {axis, a, b}, received ${describe(compareRaw)}`);
  const compare = compareRaw.map((entry, i): SweepComparison => {
    const key = `compare[${i}]`;
    if (!isPlainObject(entry)) throw new Error(`${source}: '${key}' must be an object {axis, a, b}, received ${describe(entry)}`);
    checkKeys(source, `${key}.`, entry, ['axis', 'a', 'b']);
    const axis = entry.axis;
    if (typeof axis !== 'string' || (axes[axis] === undefined && variants[axis] === undefined)) {
      throw new Error(`${source}: '${key}.axis' must name an axis or variant axis of this sweep, received ${describe(axis)}`);
    }
    const values = axes[axis] !== undefined ? (axes[axis] as unknown[]).map((v) => valueText(source, axis, v)) : (variants[axis] as SweepVariant[]).map((v) => v.name);
    for (const side of ['a', 'b'] as const) {
      const text = valueText(source, `${key}.${side}`, entry[side]);
      if (!values.includes(text)) throw new Error(`${source}: '${key}.${side}' must be one of the values of '${axis}' (${values.join(', ')}), received ${describe(entry[side])}`);
    }
    return { axis, a: entry.a, b: entry.b };
  });
  return { name, description, base: base as PartialRunConfig, axes, variants, seeds, seedKeys, evaluations, evaluationSpecs: (raw.evaluations ?? []) as SweepEvaluationSpec[], compare };
}

/** Short labels: the last path segment of each axis when that is unique, else the full path. */
export function axisLabels(axes: readonly string[]): Map<string, string> {
  const last = axes.map((a) => a.split('.').pop() as string);
  return new Map(axes.map((a, i) => [a, last.filter((l) => l === last[i]).length === 1 ? (last[i] as string) : a]));
}

/** The cells of a sweep (axis assignments), in order: the first axis varies slowest. */
export function sweepCells(spec: SweepSpec): SweepAssignment[][] {
  const axisNames = [...Object.keys(spec.axes), ...Object.keys(spec.variants)];
  const labels = axisLabels(axisNames);
  let cells: SweepAssignment[][] = [[]];
  for (const axis of axisNames) {
    const label = labels.get(axis) as string;
    const options: SweepAssignment[] =
      spec.axes[axis] !== undefined
        ? (spec.axes[axis] as unknown[]).map((value) => ({ axis, label, value, text: valueText('sweep', axis, value) }))
        : (spec.variants[axis] as SweepVariant[]).map((v) => ({ axis, label, value: v.name, text: v.name }));
    cells = cells.flatMap((cell) => options.map((o) => [...cell, o]));
  }
  return cells;
}

export function cellName(assignments: readonly SweepAssignment[]): string {
  return assignments.length === 0 ? 'base' : assignments.map((a) => `${a.label}=${a.text}`).join(',');
}

/**
 * Expands a sweep into its runs, seed-major (all cells at seeds[0], then all
 * at seeds[1], …: the order the pool starts them). Every run's config is validated with
 * `mergeRunConfig` (an axis value the run config rejects is an error naming
 * the file, the run and the key); two runs with the same name or the same
 * resolved config are an error.
 */
export function expandSweep(spec: SweepSpec, source: string): SweepRun[] {
  const runs: SweepRun[] = [];
  const resolved = new Map<string, string>();
  const cells = sweepCells(spec);
  // Seed-major order: every cell at the first seed, then every cell at the
  // next, so a sweep that stops part-way holds complete seeds and its paired
  // comparisons (`compare`) can be reported from the first seeds on.
  for (const seed of spec.seeds) {
    for (const assignments of cells) {
      const cell = cellName(assignments);
      let config = structuredClone(spec.base) as Record<string, unknown>;
      for (const a of assignments) {
        const variant = spec.variants[a.axis]?.find((v) => v.name === a.value);
        config = variant !== undefined ? deepMerge(config, variant.config as Record<string, unknown>) : setPath(config, a.axis, a.value);
      }
      for (const key of spec.seedKeys) config = setPath(config, key, seed);
      const name = `${cell}/seed-${seed}`;
      let full: RunConfig;
      try {
        full = mergeRunConfig(defaultRunConfig(), config, `${source}: run '${name}'`);
      } catch (error) {
        const message = (error as Error).message;
        throw new Error(message.startsWith(source) ? message : `${source}: run '${name}': ${message}`);
      }
      const key = JSON.stringify(full);
      const twin = resolved.get(key);
      if (twin !== undefined) throw new Error(`${source}: runs '${twin}' and '${name}' have the same run config (duplicate cells)`);
      resolved.set(key, name);
      runs.push({ name, cell, seed, assignments, config: config as PartialRunConfig });
    }
  }
  return runs;
}

/** Per-run threads from the base config (`train.workers`, when the run config has it), for the default pool size. */
export function threadsPerRun(spec: SweepSpec): number {
  const train = (spec.base as { train?: Record<string, unknown> }).train;
  const workers = train?.workers;
  return typeof workers === 'number' && Number.isInteger(workers) && workers > 0 ? workers : 1;
}
