/**
 * One schema per configurable thing (HemHead options, model, data, train,
 * eval, GradNets controllers, sweeps): each field's type, range, default,
 * doc string and CLI flag live in one entry, and validation, defaults,
 * option-key lists, `getConfig` and `hemnet --help` are derived from it.
 * Adding a config key is one entry in the right schema (docs/design.md).
 *
 * Unknown keys are errors; every message names the function or file, the
 * dotted path, the expectation and what was received.
 */

interface FieldCommon {
  /** One line for help and docs; cite the paper symbol (e.g. 'η of the N-step (Eq. 13)'). */
  doc?: string;
  /** Default value (omit when the default depends on other fields, e.g. a preset). */
  default?: unknown;
  /** CLI flag (without '--') that sets this field; omit for config-file-only keys. */
  flag?: string;
  /**
   * A custom value check that replaces the kind's own (e.g. the EM core's
   * `checkStepSize`, so the message is the same wherever η is set).
   */
  check?: (where: string, value: unknown) => void;
}

export type FieldSpec = FieldCommon &
  (
    | { kind: 'number'; min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean; nullable?: boolean }
    | { kind: 'integer'; min?: number; max?: number; nullable?: boolean }
    | { kind: 'boolean'; nullable?: boolean }
    | { kind: 'string'; nullable?: boolean }
    | { kind: 'strings'; nullable?: boolean }
    /** `values` may be a function, so a registry's names are read when validating. */
    | { kind: 'enum'; values: readonly string[] | (() => readonly string[]); nullable?: boolean }
    | { kind: 'numbers'; min?: number; length?: number; exclusiveMin?: boolean; integer?: boolean; nullable?: boolean }
    | { kind: 'object'; fields: Schema; nullable?: boolean }
    | { kind: 'any-object'; nullable?: boolean }
  );

export type Schema = Readonly<Record<string, FieldSpec>>;

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(describeValue).join(', ')}]`;
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function quoteList(values: readonly (string | number)[]): string {
  return values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ');
}

/** The one unknown-key check: `where: unknown <what> '<key>' (valid: a, b, c)`. */
export function checkKnownKeys(where: string, what: string, value: object, valid: readonly string[] | Schema, prefix = ''): void {
  const names: readonly string[] = Array.isArray(valid) ? valid : Object.keys(valid);
  for (const key of Object.keys(value)) {
    if (!names.includes(key)) throw new Error(`${where}: unknown ${what} '${prefix ? `${prefix}.${key}` : key}' (valid: ${names.join(', ')})`);
  }
}

/** The one membership check: `where: 'name' must be one of 'a', 'b', received 'c'`. */
export function checkOneOf<T extends string | number>(where: string, name: string, value: unknown, valid: readonly T[]): T {
  if (!(valid as readonly unknown[]).includes(value)) {
    const expected = valid.length === 0 ? 'a registered name (none are registered)' : `one of ${quoteList(valid)}`;
    throw new Error(`${where}: '${name}' must be ${expected}, received ${describeValue(value)}`);
  }
  return value as T;
}

/** The one integer check: `where: 'name' must be an integer ≥ min, received v`. */
export function checkInteger(where: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new Error(`${where}: '${name}' must be an integer ≥ ${min}, received ${describeValue(value)}`);
  }
  return value;
}

/** Throws unless `value` is a plain object (not null, not an array). */
export function checkObject(where: string, name: string, value: unknown): asserts value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where}: '${name}' must be an object, received ${describeValue(value)}`);
  }
}

function checkNumber(
  where: string,
  path: string,
  value: unknown,
  spec: { min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean },
  integer: boolean,
): void {
  const isNumber = typeof value === 'number' && Number.isFinite(value) && (!integer || Number.isInteger(value));
  const low = spec.min;
  const high = spec.max;
  const tooLow = low !== undefined && typeof value === 'number' && (spec.exclusiveMin === true ? value <= low : value < low);
  const tooHigh = high !== undefined && typeof value === 'number' && (spec.exclusiveMax === true ? value >= high : value > high);
  if (!isNumber || tooLow || tooHigh) {
    const bounds = [
      low !== undefined ? `${spec.exclusiveMin === true ? '>' : '≥'} ${low}` : '',
      high !== undefined ? `${spec.exclusiveMax === true ? '<' : '≤'} ${high}` : '',
    ].filter(Boolean).join(' and ');
    throw new Error(`${where}: '${path}' must be ${integer ? 'an integer' : 'a number'}${bounds ? ` ${bounds}` : ''}, received ${describeValue(value)}`);
  }
}

export function enumValues(spec: { values: readonly string[] | (() => readonly string[]) }): readonly string[] {
  return typeof spec.values === 'function' ? spec.values() : spec.values;
}

/** Validates one field's value (`path` is its dotted name in messages). */
export function validateField(where: string, path: string, spec: FieldSpec, field: unknown): void {
  if (field === null && spec.nullable === true) return;
  if (spec.check !== undefined) {
    spec.check(where, field);
    return;
  }
  switch (spec.kind) {
    case 'number':
      checkNumber(where, path, field, spec, false);
      break;
    case 'integer':
      checkNumber(where, path, field, spec, true);
      break;
    case 'boolean':
      if (typeof field !== 'boolean') throw new Error(`${where}: '${path}' must be true or false, received ${describeValue(field)}`);
      break;
    case 'string':
      if (typeof field !== 'string') throw new Error(`${where}: '${path}' must be a string, received ${describeValue(field)}`);
      break;
    case 'strings':
      if (!Array.isArray(field) || field.length === 0 || field.some((item) => typeof item !== 'string' || item === '')) {
        throw new Error(`${where}: '${path}' must be a list of one or more non-empty strings, received ${describeValue(field)}`);
      }
      break;
    case 'enum':
      checkOneOf(where, path, field, enumValues(spec));
      break;
    case 'numbers': {
      const ok = Array.isArray(field) && (spec.length === undefined || field.length === spec.length) && field.length > 0;
      if (!ok) throw new Error(`${where}: '${path}' must be a list of ${spec.length ?? 'one or more'} ${spec.integer === true ? 'integers' : 'numbers'}, received ${describeValue(field)}`);
      (field as unknown[]).forEach((item, i) => checkNumber(where, `${path}[${i}]`, item, spec, spec.integer === true));
      break;
    }
    case 'object':
      validateAgainstSchema(where, spec.fields, field, path);
      break;
    case 'any-object':
      checkObject(where, path, field);
      break;
  }
}

/**
 * Validates `value` against `schema` (recursively): unknown keys are errors,
 * missing keys are allowed (a partial config). `where` prefixes every message.
 */
export function validateAgainstSchema(where: string, schema: Schema, value: unknown, prefix = ''): void {
  checkObject(where, prefix || 'config', value);
  checkKnownKeys(where, 'key', value, schema, prefix);
  for (const [key, field] of Object.entries(value)) {
    validateField(where, prefix ? `${prefix}.${key}` : key, schema[key] as FieldSpec, field);
  }
}

/**
 * Validates a complete record (e.g. checkpoint state): unknown keys are
 * errors and every schema field is checked, a missing one as `undefined`
 * (so the message names the field and what it must be).
 */
export function validateComplete(where: string, schema: Schema, value: unknown, what = 'key'): Record<string, unknown> {
  checkObject(where, 'state', value);
  checkKnownKeys(where, what, value, schema);
  for (const [key, spec] of Object.entries(schema)) validateField(where, key, spec, value[key]);
  return value;
}

/** Throws unless every key of `schema` is present in `value` (a complete config). */
export function checkComplete(where: string, schema: Schema, value: object, what = 'config'): void {
  for (const key of Object.keys(schema)) {
    if (!(key in value)) throw new Error(`${where}: ${what} is missing '${key}'`);
  }
}

/** The fields' defaults as an object (recursing into objects); fields without a default are left out. */
export function defaultsOf<T>(schema: Schema): T {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.default !== undefined) out[key] = structuredClone(spec.default);
    else if (spec.kind === 'object') out[key] = defaultsOf(spec.fields);
  }
  return out as T;
}

/** Keys of a schema, in order (for `getConfig` and option lists). */
export function keysOf<K extends string = string>(schema: Schema): K[] {
  return Object.keys(schema) as K[];
}

/** Picks the schema's keys from `source` (e.g. a layer's resolved options for `getConfig`). */
export function pickKeys(schema: Schema, source: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema)) out[key] = (source as Record<string, unknown>)[key];
  return out;
}

/** A schema without some keys (e.g. the HemHead options a segmentation head passes through). */
export function omitKeys(schema: Schema, keys: readonly string[]): Schema {
  return Object.fromEntries(Object.entries(schema).filter(([key]) => !keys.includes(key)));
}

/** A field that has a CLI flag, with its dotted config path. */
export interface SchemaFlag {
  flag: string;
  path: string;
  field: FieldSpec;
}

/** Every field with a `flag`, depth first, in schema order. */
export function flagsOf(schema: Schema, prefix = ''): SchemaFlag[] {
  const flags: SchemaFlag[] = [];
  for (const [key, field] of Object.entries(schema)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (field.flag !== undefined) flags.push({ flag: field.flag, path, field });
    if (field.kind === 'object') flags.push(...flagsOf(field.fields, path));
  }
  return flags;
}

/**
 * Markdown table rows of a schema (key, type, default, flag, doc), for
 * docs/config.md: the docs cannot drift from the code. An object field's
 * own default (e.g. `model.hem`: `{ numBases: 16 }`) overrides its fields'.
 */
export function describeSchema(schema: Schema, prefix = '', defaults: Record<string, unknown> = {}): string[] {
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  const rows: string[] = [];
  for (const [key, field] of Object.entries(schema)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const value = key in defaults ? defaults[key] : field.default;
    if (field.kind === 'object') {
      const inner = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
      rows.push(...describeSchema(field.fields, path, inner));
      continue;
    }
    const type = field.kind === 'enum' ? enumValues(field).join(' | ') : field.kind;
    const flag = field.flag !== undefined ? `--${field.flag}` : '';
    rows.push(`| \`${path}\` | ${cell(type)} | ${value === undefined ? '' : `\`${JSON.stringify(value)}\``} | ${flag} | ${cell(field.doc ?? '')} |`);
  }
  return rows;
}
