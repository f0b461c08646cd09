/**
 * Command-line flags of `hemnet train|eval|predict|info`: each maps to a path
 * in the run config, with the paper symbol in its help text. They come from
 * the schemas (a field's `flag`), so a new config key with a flag needs no
 * edit here.
 */
import { enumValues, flagsOf, type FieldSpec } from '../schema.js';
import { RUN_SCHEMA, type PartialRunConfig } from '../train/runConfig.js';

type FlagType = 'number' | 'integer' | 'string' | 'boolean' | 'numbers' | 'strings';

export interface FlagSpec {
  flag: string;
  /** Dotted path in the run config. */
  path: string;
  type: FlagType;
  help: string;
}

function flagType(field: FieldSpec): FlagType {
  switch (field.kind) {
    case 'number':
    case 'integer':
    case 'boolean':
    case 'numbers':
    case 'strings':
      return field.kind;
    default:
      return 'string';
  }
}

/**
 * The config flags, derived from the run-config schemas (every field with a
 * `flag`); help text is the field's doc, and for names checked against a
 * registry the names registered now.
 */
export function configFlags(): FlagSpec[] {
  return flagsOf(RUN_SCHEMA).map(({ flag, path, field }) => {
    const doc = field.doc ?? '';
    const help = field.kind === 'enum' && typeof field.values === 'function' ? `${doc} [now: ${enumValues(field).join(' | ')}]` : doc;
    return { flag, path, type: flagType(field), help };
  });
}

/** @deprecated the flags as they are at import time; call `configFlags()` to see registrations made later. */
export const CONFIG_FLAGS: readonly FlagSpec[] = configFlags();

/** parseArgs option definitions for the config flags. */
export function configFlagOptions(): Record<string, { type: 'string' | 'boolean' }> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const spec of configFlags()) {
    options[spec.flag] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
    if (spec.type === 'boolean') options[`no-${spec.flag}`] = { type: 'boolean' };
  }
  return options;
}

function parseValue(spec: FlagSpec, raw: string | boolean): unknown {
  if (spec.type === 'boolean') return raw;
  const text = String(raw);
  if (spec.type === 'string') return text;
  if (spec.type === 'strings') return text.split(',').map((part) => part.trim());
  if (spec.type === 'numbers') {
    return text.split(',').map((part) => {
      const value = Number(part);
      if (part.trim() === '' || !Number.isFinite(value)) throw new Error(`hemnet: '--${spec.flag}' must be comma-separated numbers, received '${text}'`);
      return value;
    });
  }
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || (spec.type === 'integer' && !Number.isInteger(value))) {
    throw new Error(`hemnet: '--${spec.flag}' must be ${spec.type === 'integer' ? 'an integer' : 'a number'}, received '${text}'`);
  }
  return value;
}

/** Turns parsed flag values into a partial run config (validated later by mergeRunConfig). */
export function flagsToConfig(values: Record<string, string | boolean | undefined>): PartialRunConfig {
  const config: Record<string, unknown> = {};
  for (const spec of configFlags()) {
    let raw = values[spec.flag];
    if (spec.type === 'boolean' && values[`no-${spec.flag}`] === true) raw = false;
    if (raw === undefined) continue;
    const parts = spec.path.split('.');
    let node = config;
    for (const part of parts.slice(0, -1)) {
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = parseValue(spec, raw);
  }
  return config as PartialRunConfig;
}

/** Help lines for the config flags. */
export function configFlagHelp(): string {
  const flags = configFlags();
  const width = Math.max(...flags.map((s) => s.flag.length + (s.type === 'boolean' ? 0 : 4)));
  return flags.map((s) => {
    const name = s.type === 'boolean' ? `--${s.flag}` : `--${s.flag} ${s.type === 'numbers' || s.type === 'strings' ? 'L' : s.type === 'string' ? 'S' : 'N'}`;
    return `  ${name.padEnd(width + 3)} ${s.help}  [${s.path}]`;
  }).join('\n');
}
