import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { basesUsage, distinctBases, effectiveNumber } from './bases.js';

describe('basesUsage (effective number of bases)', () => {
  it('is K for uniform use, 1 for collapse, and exp(H) in between (hand-computed)', () => {
    const uniform = tf.fill([2, 6, 4], 0.25) as tf.Tensor3D;
    assert.ok(Math.abs(basesUsage(uniform).effectiveBases - 4) < 1e-5);
    // Every pixel picks basis 2: one basis in use.
    const collapsed = tf.oneHot(tf.fill([2, 6], 2, 'int32') as tf.Tensor2D, 4).toFloat() as tf.Tensor3D;
    const c = basesUsage(collapsed);
    assert.ok(Math.abs(c.effectiveBases - 1) < 1e-6);
    assert.deepEqual(c.share.map((v) => Math.round(v * 1e6) / 1e6), [0, 0, 1, 0]);
    // Hard assignments: 3 pixels to basis 0, 1 pixel to basis 1 → p = (3/4, 1/4, 0),
    // H = −(0.75 ln 0.75 + 0.25 ln 0.25) = 0.562335, exp(H) = 1.754765.
    const hard = tf.tensor2d([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0]]);
    assert.ok(Math.abs(basesUsage(hard).effectiveBases - 1.754765) < 1e-5);
    // Soft rows average the same way: rows (0.5, 0.5) and (1, 0) → p = (0.75, 0.25).
    const soft = tf.tensor2d([[0.5, 0.5], [1, 0]]);
    assert.ok(Math.abs(basesUsage(soft).effectiveBases - 1.754765) < 1e-5);
    tf.dispose([uniform, collapsed, hard, soft]);
  });

  it('per-pixel bases: K for uniform rows, 1 for one-hot rows, exp(mean H) in between (hand-computed)', () => {
    // Uniform rows and one-hot rows spread evenly over K = 4 both give 4 effective bases by mean usage;
    // the per-pixel number separates them.
    const uniform = tf.fill([2, 4, 4], 0.25) as tf.Tensor3D;
    const sharpEven = tf.oneHot(tf.tensor2d([[0, 1, 2, 3], [3, 2, 1, 0]], [2, 4], 'int32'), 4).toFloat() as tf.Tensor3D;
    const u = basesUsage(uniform);
    const e = basesUsage(sharpEven);
    assert.ok(Math.abs(u.effectiveBases - 4) < 1e-5 && Math.abs(e.effectiveBases - 4) < 1e-5);
    assert.ok(Math.abs(u.pixelBases - 4) < 1e-5, `uniform: ${u.pixelBases}`);
    assert.ok(Math.abs(e.pixelBases - 1) < 1e-6, `one-hot: ${e.pixelBases}`);
    // Rows (0.5, 0.5) and (1, 0): H = ln 2 and 0, mean 0.5 ln 2, exp = √2.
    const mixed = tf.tensor2d([[0.5, 0.5], [1, 0]]);
    assert.ok(Math.abs(basesUsage(mixed).pixelBases - Math.SQRT2) < 1e-5);
    tf.dispose([uniform, sharpEven, mixed]);
  });

  it('distinctBases: identical and parallel rows count once, orthogonal rows apart (hand-made μ)', () => {
    const mu = tf.tensor2d([
      [1, 0, 0],
      [2, 0, 0], // parallel to row 0: same direction, cos 1
      [0, 1, 0],
      [0, 1, 0.01], // cos 0.99995 with row 2: merged at 0.999
      [0, 0, 1],
      [0, 0, 0],
      [0, 0, 0], // the two zero rows count once
    ]);
    assert.equal(distinctBases(mu), 4);
    assert.equal(distinctBases(mu, 0.99999), 5, 'a stricter threshold splits rows 2 and 3');
    assert.equal(distinctBases(tf.eye(5) as tf.Tensor2D), 5);
    // 31 copies of one row and one other row: the collapse of the trained attention-bench head.
    const collapsed = tf.concat([tf.tile(tf.tensor2d([[0.3, -0.2, 0.5]]), [31, 1]), tf.tensor2d([[1, 1, 1]])]) as tf.Tensor2D;
    assert.equal(distinctBases(collapsed), 2);
    assert.throws(() => distinctBases(tf.zeros([0, 3]) as tf.Tensor2D), /distinctBases: 'mu' must be a non-empty \[K, C\] matrix/);
    assert.throws(() => distinctBases(tf.tensor2d([[NaN, 1]])), /distinctBases: 'mu' must be finite/);
    assert.throws(() => distinctBases(mu, 2), /'cosine' must be in/);
    tf.dispose([mu, collapsed]);
  });

  it('counts usage over the whole batch, not per item', () => {
    // Item 0 uses only basis 0, item 1 only basis 1: two bases in use overall.
    const gamma = tf.tensor3d([[[1, 0], [1, 0]], [[0, 1], [0, 1]]]);
    assert.ok(Math.abs(basesUsage(gamma).effectiveBases - 2) < 1e-6);
    gamma.dispose();
  });

  it('rejects what is not a responsibility tensor, naming the argument', () => {
    const before = tf.memory().numTensors;
    assert.throws(() => basesUsage(tf.ones([4]) as unknown as tf.Tensor2D), /basesUsage: 'gamma' must be \[N, K\] or \[B, N, K\], received rank 1/);
    assert.throws(() => basesUsage(tf.ones([3, 2]) as tf.Tensor2D), /basesUsage: the rows of 'gamma' must sum to 1 .* sums to 2\.000000/);
    assert.throws(() => basesUsage(tf.tensor2d([[NaN, 1]])), /finite responsibilities/);
    assert.throws(() => basesUsage(tf.zeros([0, 3]) as tf.Tensor2D), /must not be empty/);
    tf.disposeVariables();
    assert.ok(tf.memory().numTensors - before <= 4, 'only the test inputs remain');
  });

  it('effectiveNumber treats 0·ln 0 as 0', () => {
    assert.equal(effectiveNumber([1, 0, 0]), 1);
    assert.ok(Math.abs(effectiveNumber([0.5, 0.5]) - 2) < 1e-12);
  });
});
