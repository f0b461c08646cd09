import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkComplete, checkKnownKeys, checkOneOf, defaultsOf, describeSchema, flagsOf, keysOf, validateAgainstSchema, type Schema } from './schema.js';

const SCHEMA = {
  rate: { kind: 'number', min: 0, max: 1, exclusiveMax: true, default: 0.5, flag: 'rate', doc: 'a rate' },
  count: { kind: 'integer', min: 1, nullable: true, default: null, doc: 'a count' },
  mode: { kind: 'enum', values: () => ['x', 'y'], default: 'x', flag: 'mode' },
  pair: { kind: 'numbers', integer: true, length: 2, min: 0, default: [1, 2] },
  inner: { kind: 'object', fields: { on: { kind: 'boolean', default: true, flag: 'inner-on' } } },
} as const satisfies Schema;

describe('schema', () => {
  it('validates types, ranges, enums and nested keys with the dotted path', () => {
    validateAgainstSchema('t', SCHEMA, { rate: 0, count: null, mode: 'y', pair: [0, 3], inner: { on: false } });
    assert.throws(() => validateAgainstSchema('t', SCHEMA, { rate: 1 }), /^Error: t: 'rate' must be a number ≥ 0 and < 1, received 1$/);
    assert.throws(() => validateAgainstSchema('t', SCHEMA, { count: 1.5 }), /^Error: t: 'count' must be an integer ≥ 1, received 1\.5$/);
    assert.throws(() => validateAgainstSchema('t', SCHEMA, { mode: 'z' }), /^Error: t: 'mode' must be one of 'x', 'y', received 'z'$/);
    assert.throws(() => validateAgainstSchema('t', SCHEMA, { pair: [1, 2.5] }), /^Error: t: 'pair\[1\]' must be an integer ≥ 0, received 2\.5$/);
    assert.throws(() => validateAgainstSchema('t', SCHEMA, { pair: [1] }), /^Error: t: 'pair' must be a list of 2 integers, received \[1\]$/);
    assert.throws(() => validateAgainstSchema('t', SCHEMA, { inner: { of: true } }), /^Error: t: unknown key 'inner\.of' \(valid: on\)$/);
    assert.throws(() => validateAgainstSchema('t', SCHEMA, []), /^Error: t: 'config' must be an object, received \[\]$/);
    assert.throws(() => checkComplete('t', SCHEMA, { rate: 0.1 }), /^Error: t: config is missing 'count'$/);
    assert.throws(() => checkKnownKeys('f', 'option', { a: 1, z: 2 }, ['a', 'b']), /^Error: f: unknown option 'z' \(valid: a, b\)$/);
    assert.throws(() => checkOneOf('f', 'n', 3, [1, 2]), /^Error: f: 'n' must be one of 1, 2, received 3$/);
    assert.throws(() => checkOneOf('f', 'source', 'scenes', []), /^Error: f: 'source' must be a registered name \(none are registered\), received 'scenes'$/);
  });

  it('derives defaults (fresh copies), keys, flags and a docs table', () => {
    const a = defaultsOf<{ pair: number[]; inner: { on: boolean } }>(SCHEMA);
    assert.deepEqual(a, { rate: 0.5, count: null, mode: 'x', pair: [1, 2], inner: { on: true } });
    a.pair.push(3);
    assert.deepEqual(defaultsOf<{ pair: number[] }>(SCHEMA).pair, [1, 2]);
    assert.deepEqual(keysOf(SCHEMA), ['rate', 'count', 'mode', 'pair', 'inner']);
    assert.deepEqual(flagsOf(SCHEMA).map((f) => [f.flag, f.path]), [['rate', 'rate'], ['mode', 'mode'], ['inner-on', 'inner.on']]);
    assert.match(describeSchema(SCHEMA).join('\n'), /\| `inner\.on` \| boolean \| `true` \| --inner-on \|/);
  });
});
