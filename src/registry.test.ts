import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from './registry.js';

interface Spec {
  name: string;
  summary: string;
  value: number;
}

describe('Registry', () => {
  it('registers, lists in order, finds and unregisters', () => {
    const r = new Registry<Spec>('widget', [{ name: 'a', summary: 'first', value: 1 }]);
    r.register({ name: 'b-2', summary: 'second', value: 2 });
    assert.deepEqual(r.names(), ['a', 'b-2']);
    assert.equal(r.get('b-2').value, 2);
    assert.ok(r.has('a') && !r.has('c') && !r.has(3));
    assert.equal(r.unregister('a'), true);
    assert.deepEqual(r.list().map((s) => s.name), ['b-2']);
  });

  it('names the registered entries in its errors', () => {
    const r = new Registry<Spec>('widget', [{ name: 'a', summary: '', value: 1 }, { name: 'b', summary: '', value: 2 }]);
    assert.throws(() => r.get('c', 'build'), /^Error: build: unknown widget 'c' \(registered: a, b\)$/);
    assert.throws(() => r.get(undefined), /^Error: Registry\(widget\): unknown widget undefined \(registered: a, b\)$/);
    assert.throws(() => r.register({ name: 'a', summary: '', value: 3 }), /Registry\(widget\)\.register: 'a' is already registered \(pass \{ replace: true \} to replace it\)/);
    assert.throws(() => r.register({ name: 'Bad Name', summary: '', value: 3 }), /'name' must be lower-case letters, digits and '-', starting with a letter, received "Bad Name"/);
    r.register({ name: 'a', summary: '', value: 9 }, { replace: true });
    assert.equal(r.get('a').value, 9);
  });
});
