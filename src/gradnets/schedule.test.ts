import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GradSchedule, toGradSchedule } from './schedule.js';

describe('GradSchedule', () => {
  it('follows g = min(t/τ, 1) of the paper with start 0', () => {
    const s = new GradSchedule({ tau: 5 });
    assert.equal(s.value(0), 0);
    assert.equal(s.value(1), 0.2);
    assert.equal(s.value(2.5), 0.5);
    assert.equal(s.value(5), 1);
    assert.equal(s.value(7), 1);
    assert.equal(s.value(1e9), 1);
  });

  it('clips before start, ramps from start, and is exactly 1 at start + τ', () => {
    const s = new GradSchedule({ tau: 4, start: 2, unit: 'step' });
    assert.equal(s.value(-3), 0, 'before start');
    assert.equal(s.value(0), 0, 'before start');
    assert.equal(s.value(2), 0, 'at start');
    assert.equal(s.value(3), 0.25, 'mid');
    assert.equal(s.value(4), 0.5, 'mid');
    assert.equal(s.value(6), 1, 'at start + τ');
    assert.equal(s.value(6.5), 1, 'after');
    assert.equal(s.unit, 'step');
  });

  it('is monotone and stays in [0, 1]', () => {
    const s = new GradSchedule({ tau: 3, start: 1 });
    let previous = -Infinity;
    for (let t = -2; t <= 8; t += 0.125) {
      const g = s.value(t);
      assert.ok(g >= 0 && g <= 1, `g(${t}) = ${g}`);
      assert.ok(g >= previous, `not monotone at t = ${t}`);
      previous = g;
    }
  });

  it('round-trips through plain JSON', () => {
    const s = new GradSchedule({ tau: 100, start: 3, unit: 'step' });
    const json = JSON.parse(JSON.stringify(s.toJSON())) as unknown;
    assert.deepEqual(json, { kind: 'linear', tau: 100, start: 3, unit: 'step' });
    const restored = GradSchedule.fromJSON(json);
    assert.deepEqual(restored.toJSON(), s.toJSON());
    for (const t of [0, 3, 50, 103, 200]) assert.equal(restored.value(t), s.value(t));
    assert.equal(toGradSchedule(s), s);
    assert.deepEqual(toGradSchedule({ tau: 2 }).toJSON(), { kind: 'linear', tau: 2, start: 0, unit: 'epoch' });
  });

  it('rejects bad τ, start, unit, kind and unknown keys with named errors', () => {
    assert.throws(() => new GradSchedule({ tau: 0 }), /GradSchedule: 'tau' \(τ\) must be a finite number > 0, received 0/);
    assert.throws(() => new GradSchedule({ tau: -1 }), /GradSchedule: 'tau' \(τ\) must be a finite number > 0, received -1/);
    assert.throws(() => new GradSchedule({ tau: Infinity }), /'tau' \(τ\) must be a finite number > 0, received Infinity/);
    assert.throws(() => new GradSchedule({ tau: NaN }), /'tau' \(τ\) must be a finite number > 0, received NaN/);
    assert.throws(() => new GradSchedule({ tau: '5' as unknown as number }), /'tau' \(τ\) must be a finite number > 0, received '5'/);
    assert.throws(() => new GradSchedule({ tau: 1, start: NaN }), /GradSchedule: 'start' must be a finite number, received NaN/);
    assert.throws(
      () => new GradSchedule({ tau: 1, unit: 'batch' as 'step' }),
      /GradSchedule: 'unit' must be one of 'epoch', 'step', received 'batch'/,
    );
    assert.throws(() => new GradSchedule({ tau: 1, kind: 'cosine' as 'linear' }), /GradSchedule: 'kind' must be one of 'linear', received 'cosine'/);
    assert.throws(
      () => GradSchedule.fromJSON({ tau: 1, taux: 2 }),
      /GradSchedule: unknown config key 'taux' \(valid: kind, tau, start, unit\)/,
    );
    assert.throws(() => GradSchedule.fromJSON(null), /GradSchedule.fromJSON: 'json' must be an object like \{tau: 5\}, received null/);
    assert.throws(() => new GradSchedule({ tau: 1 }).value(NaN), /GradSchedule.value: 't' must be a finite number, received NaN/);
  });
});
