import { test } from 'node:test';
import assert from 'node:assert/strict';
import { avgPoolGradInto, maxPoolGradInto, poolGeometry } from './pooling.js';

test('max-pool gradient: to the first maximum of each window; NaN never wins; a window of −∞ gets nothing', () => {
  // x [1, 2, 4, 1], 2×2 windows, stride 2: window 0 = (NaN, 1, 2, 2), window 1 = −∞ everywhere.
  const g = poolGeometry([1, 2, 4, 1], { filterSize: 2, strides: 2, pad: 'valid' });
  assert.ok(g !== null);
  const x = Float32Array.from([NaN, 1, -Infinity, -Infinity, 2, 2, -Infinity, -Infinity]);
  const dx = new Float32Array(8).fill(7);
  maxPoolGradInto(x, Float32Array.from([3, 5]), dx, g);
  assert.deepEqual(Array.from(dx), [0, 0, 0, 0, 3, 0, 0, 0]);
});

test("average-pool gradient: dy / (filter area) to the window's positions inside the image, as tfjs", () => {
  // x [1, 2, 2, 1], 3×3 window, stride 1, 'same': every window covers all 4 pixels.
  const g = poolGeometry([1, 2, 2, 1], { filterSize: 3, strides: 1, pad: 'same' });
  assert.ok(g !== null);
  const dx = new Float32Array(4);
  avgPoolGradInto(Float32Array.from([9, 18, 27, 36]), dx, g);
  for (const v of dx) assert.ok(Math.abs(v - 90 / 9) < 1e-5, String(v));
});

test('poolGeometry refuses non-4-D inputs; the gradients refuse buffers of the wrong size', () => {
  assert.equal(poolGeometry([2, 4, 4], { filterSize: 2, strides: 2, pad: 'valid' }), null);
  const g = poolGeometry([1, 4, 4, 1], { filterSize: 2, strides: 2, pad: 'valid' });
  assert.ok(g !== null);
  assert.throws(() => maxPoolGradInto(new Float32Array(16), new Float32Array(3), new Float32Array(16), g), /maxPoolGrad: buffers/);
  assert.throws(() => avgPoolGradInto(new Float32Array(4), new Float32Array(15), g), /avgPoolGrad: buffers/);
});
