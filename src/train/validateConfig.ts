/**
 * A small schema validator for typed JSON configs: unknown keys are errors,
 * every message names the dotted path, the expectation and what was received.
 */

export type FieldSpec =
  | { kind: 'number'; min?: number; max?: number; exclusiveMin?: boolean; nullable?: boolean }
  | { kind: 'integer'; min?: number; max?: number; nullable?: boolean }
  | { kind: 'boolean' }
  | { kind: 'string'; nullable?: boolean }
  | { kind: 'strings'; nullable?: boolean }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'numbers'; min?: number; length?: number; exclusiveMin?: boolean; nullable?: boolean }
  | { kind: 'object'; fields: Schema }
  | { kind: 'any-object' };

export type Schema = Record<string, FieldSpec>;

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function checkNumber(where: string, path: string, value: unknown, spec: { min?: number; max?: number; exclusiveMin?: boolean }, integer: boolean): void {
  const isNumber = typeof value === 'number' && Number.isFinite(value) && (!integer || Number.isInteger(value));
  const low = spec.min;
  const tooLow = low !== undefined && typeof value === 'number' && (spec.exclusiveMin === true ? value <= low : value < low);
  const tooHigh = spec.max !== undefined && typeof value === 'number' && value > spec.max;
  if (!isNumber || tooLow || tooHigh) {
    const bounds = [
      low !== undefined ? `${spec.exclusiveMin === true ? '>' : '≥'} ${low}` : '',
      spec.max !== undefined ? `≤ ${spec.max}` : '',
    ].filter(Boolean).join(' and ');
    throw new Error(`${where}: '${path}' must be ${integer ? 'an integer' : 'a number'}${bounds ? ` ${bounds}` : ''}, received ${describe(value)}`);
  }
}

/** Validates `value` against `schema` (recursively); `where` prefixes every message. */
export function validateAgainstSchema(where: string, schema: Schema, value: unknown, prefix = ''): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where}: '${prefix || 'config'}' must be an object, received ${describe(value)}`);
  }
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const spec = schema[key];
    if (spec === undefined) {
      throw new Error(`${where}: unknown key '${path}' (valid: ${Object.keys(schema).join(', ')})`);
    }
    if (field === null && 'nullable' in spec && spec.nullable === true) continue;
    switch (spec.kind) {
      case 'number':
        checkNumber(where, path, field, spec, false);
        break;
      case 'integer':
        checkNumber(where, path, field, spec, true);
        break;
      case 'boolean':
        if (typeof field !== 'boolean') throw new Error(`${where}: '${path}' must be true or false, received ${describe(field)}`);
        break;
      case 'string':
        if (typeof field !== 'string') throw new Error(`${where}: '${path}' must be a string, received ${describe(field)}`);
        break;
      case 'strings':
        if (!Array.isArray(field) || field.length === 0 || field.some((item) => typeof item !== 'string' || item === '')) {
          throw new Error(`${where}: '${path}' must be a list of one or more non-empty strings, received ${describe(field)}`);
        }
        break;
      case 'enum':
        if (typeof field !== 'string' || !spec.values.includes(field)) {
          throw new Error(`${where}: '${path}' must be one of ${spec.values.map((v) => `'${v}'`).join(', ')}, received ${describe(field)}`);
        }
        break;
      case 'numbers': {
        const ok = Array.isArray(field) && (spec.length === undefined || field.length === spec.length) && field.length > 0;
        if (!ok) {
          throw new Error(`${where}: '${path}' must be a list of ${spec.length ?? 'one or more'} numbers, received ${describe(field)}`);
        }
        (field as unknown[]).forEach((item, i) => checkNumber(where, `${path}[${i}]`, item, spec, false));
        break;
      }
      case 'object':
        validateAgainstSchema(where, spec.fields, field, path);
        break;
      case 'any-object':
        if (typeof field !== 'object' || field === null || Array.isArray(field)) {
          throw new Error(`${where}: '${path}' must be an object, received ${describe(field)}`);
        }
        break;
    }
  }
}
