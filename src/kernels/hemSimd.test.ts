import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simdHemRows, type SimdHemRows } from './hemSimd.js';
import { assertClose } from '../../test/helpers.js';

const N = 5;
const K = 8;
const SIZE = N * K;
const f32 = Math.fround;

/** A fresh memory with the passes bound to it, and a float view; buffers are laid out at float offsets of 64. */
function setup(): { rows: SimdHemRows; f: Float32Array; at: (slot: number) => number } {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const rows = simdHemRows(memory);
  assert.notEqual(rows, null, 'the SIMD row passes did not instantiate');
  const f = new Float32Array(memory.buffer);
  for (let i = 0; i < 16 * 64; i++) f[i] = f32(Math.sin(1.7 * i + 0.3) * 2);
  return { rows: rows!, f, at: (slot) => 64 * slot };
}

const slice = (f: Float32Array, start: number, length: number): number[] => Array.from(f.subarray(start, start + length));

describe('the SIMD row passes of the fused HEM unroll (hemSimd.ts)', () => {
  it('divide, scaleInto and mix equal float32 arithmetic element by element', () => {
    const { rows, f, at } = setup();
    const x = slice(f, at(0), SIZE);
    const y = slice(f, at(1), SIZE);
    rows.divide(4 * at(0), 4 * (at(0) + SIZE), 3.3);
    assert.deepEqual(slice(f, at(0), SIZE), x.map((v) => f32(v / f32(3.3))));
    rows.scaleInto(4 * at(1), 4 * at(2), 4 * (at(1) + SIZE), 0.25);
    assert.deepEqual(slice(f, at(2), SIZE), y.map((v) => f32(v * 0.25)));
    const a = slice(f, at(0), SIZE);
    rows.mix(4 * at(0), 4 * at(1), 4 * at(3), 4 * (at(0) + SIZE), 0.7, 0.3);
    assert.deepEqual(slice(f, at(3), SIZE), a.map((v, i) => f32(f32(v * f32(0.7)) + f32((y[i] as number) * f32(0.3)))));
  });

  it('columnSums, columnDots and divideColumns work per column over the rows', () => {
    const { rows, f, at } = setup();
    const x = slice(f, at(0), SIZE);
    const y = slice(f, at(1), SIZE);
    rows.columnSums(4 * at(0), 4 * (at(0) + SIZE), 4 * K, 4 * at(4));
    const sums = Array.from({ length: K }, (_, k) => x.filter((_, i) => i % K === k).reduce((s, v) => s + v, 0));
    assertClose(slice(f, at(4), K), sums, 1e-5, 0, 'column sums');
    rows.columnDots(4 * at(0), 4 * at(1), 4 * (at(0) + SIZE), 4 * K, 4 * at(5));
    const dots = Array.from({ length: K }, (_, k) => x.reduce((s, v, i) => (i % K === k ? s + v * (y[i] as number) : s), 0));
    assertClose(slice(f, at(5), K), dots, 1e-5, 0, 'column dots');
    const d = slice(f, at(5), K);
    rows.divideColumns(4 * at(0), 4 * at(6), 4 * (at(0) + SIZE), 4 * K, 4 * at(5));
    assert.deepEqual(slice(f, at(6), SIZE), x.map((v, i) => f32(v / (d[i % K] as number))));
  });

  it('responsibilityRows is the gradient through γ̄ = γ/D and the softmax, row by row', () => {
    const { rows, f, at } = setup();
    const [dGamma, dGbar, gamma, sums, denominators] = [0, 1, 2, 3, 4].map((slot) => slice(f, at(slot), slot < 3 ? SIZE : K)) as number[][];
    const temperature = 1.9;
    rows.responsibilityRows(4 * at(0), 4 * at(1), 4 * at(2), 4 * (at(0) + SIZE), 4 * K, 4 * at(3), 4 * at(4), temperature);
    const expected: number[] = [];
    for (let n = 0; n < N; n++) {
      const d = Array.from({ length: K }, (_, k) => (dGamma![n * K + k] as number) + ((dGbar![n * K + k] as number) - (sums![k] as number)) / (denominators![k] as number));
      const weighted = d.reduce((s, v, k) => s + v * (gamma![n * K + k] as number), 0);
      for (let k = 0; k < K; k++) expected.push(((gamma![n * K + k] as number) * ((d[k] as number) - weighted)) / temperature);
    }
    assertClose(slice(f, at(0), SIZE), expected, 1e-4, 1e-5, 'dA');
    assert.ok(slice(f, at(0), SIZE).some((v, i) => v !== dGamma![i]), 'the pass wrote its result in place');
  });
});
