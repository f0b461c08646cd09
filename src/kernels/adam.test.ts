import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { availableBackends, flushesDenormals, setBackend, setFlushDenormals } from '../backend.js';
import { BN_MOVING_AVERAGE_KERNEL } from '../backends/native/batchNormTraining.js';
import { ScheduledAdam } from '../train/optimizer.js';
import { FLOAT32_MIN_NORMAL } from './denormals.js';

/**
 * 4 Adam steps of a conv filter and a bias trained through a conv (the wasm
 * backend caches the XNNPACK conv operator with its packed filter per data
 * id: a fused update must not leave it stale). Returns the losses, the
 * weights and the moments, and the kernels the last update ran.
 */
async function run(fused: boolean, tag: string): Promise<{ losses: number[]; arrays: number[][]; updateKernels: number }> {
  const filter = tf.tidy(() => tf.variable(tf.randomNormal([3, 3, 4, 5], 0, 0.5, 'float32', 3), true, `wasm-adam-${tag}-w`));
  const bias = tf.tidy(() => tf.variable(tf.randomNormal([5], 0, 0.5, 'float32', 4), true, `wasm-adam-${tag}-b`));
  const x = tf.randomNormal([2, 6, 6, 4], 0, 1, 'float32', 5);
  const target = tf.randomNormal([2, 6, 6, 5], 0, 1, 'float32', 6);
  const optimizer = new ScheduledAdam(0.05, 0.9, 0.999, 1e-7);
  optimizer.fused = fused;
  const losses: number[] = [];
  let updateKernels = 0;
  for (let step = 0; step < 4; step++) {
    if (step === 2) optimizer.setLearningRate(0.02);
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.square(tf.sub(tf.add(tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same'), bias), target))) as tf.Scalar,
      [filter, bias],
    );
    losses.push(value.dataSync()[0] as number);
    const named = Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    const info = await tf.profile(() => optimizer.applyGradients(named));
    updateKernels = info.kernels.length;
    tf.dispose([value, ...Object.values(grads)]);
  }
  const state = await optimizer.getWeights();
  const arrays = [filter, bias, ...state.slice(1).map((w) => w.tensor)].map((t) => Array.from(t.dataSync()));
  state[0]?.tensor.dispose();
  optimizer.dispose();
  tf.dispose([filter, bias, x, target]);
  return { losses, arrays, updateKernels };
}

describe('fused Adam on wasm (src/kernels/adam.ts)', () => {
  it("equals tfjs's Adam bit for bit through a conv, in a few kernels, without leaks", async () => {
    await setBackend('wasm');
    const before = tf.memory().numTensors;
    {
      const stock = await run(false, 'stock');
      const fused = await run(true, 'fused');
      // Losses after updates: a stale packed conv filter would change them.
      assert.deepEqual(fused.losses, stock.losses);
      assert.equal(fused.arrays.length, 6);
      fused.arrays.forEach((values, i) => assert.deepEqual(values, stock.arrays[i], `array ${i}`));
      assert.ok(fused.updateKernels < stock.updateKernels / 3, `update kernels: fused ${fused.updateKernels}, stock ${stock.updateKernels}`);
    }
    assert.equal(tf.memory().numTensors, before, 'Adam runs leaked tensors');
  });
});

describe('setFlushDenormals: a weight or moving statistic decayed into the subnormal range is stored as 0 (Adam step, batch-norm moving averages)', () => {
  /** One fused Adam step of [3e-39 (subnormal, no gradient), 1 (gradient 0.5)]; returns the new weights and first moments. */
  function step(): { w: number[]; m: number[]; moving: number[] } {
    const w = tf.tidy(() => tf.variable(tf.tensor1d([3e-39, 1, -3e-39, 0.5]), true, `flush-${Math.random()}`));
    const optimizer = new ScheduledAdam(1e-3, 0.9, 0.999, 1e-7);
    const gradient = tf.tensor1d([0, 0.5, 0, 1e-38 / 0.1 / 1.5]);
    optimizer.applyGradients([{ name: w.name, tensor: gradient }]);
    const w1 = Array.from(w.dataSync());
    const m1 = (optimizer as unknown as { accumulatedFirstMoment: { variable: tf.Variable }[] }).accumulatedFirstMoment.map((s) => Array.from(s.variable.dataSync()))[0] ?? [];
    optimizer.dispose();
    tf.dispose([w, gradient]);
    // A moving mean of 2e-38 with batch mean 0 at decay 0.5 becomes 1e-38 (subnormal); the variances 2 → 1.5.
    const stats = [tf.tensor1d([2e-38, 1]), tf.tensor1d([2, 2]), tf.tensor1d([0, 1]), tf.tensor1d([1, 1])] as const;
    const [movingMean, movingVariance, mean, variance] = stats;
    const next = tf.engine().runKernel(BN_MOVING_AVERAGE_KERNEL, { movingMean, movingVariance, mean, variance }, { decay: 0.5 }) as tf.Tensor[];
    const moving = next.flatMap((t) => Array.from(t.dataSync()));
    tf.dispose([...stats, ...next]);
    return { w: w1, m: m1, moving };
  }
  for (const backend of ['wasm', 'native']) {
    it(`on ${backend}`, async (t) => {
      if (!(await availableBackends()).includes(backend)) {
        t.diagnostic(`${backend} is not available here: nothing to check`);
        return;
      }
      await setBackend(backend);
      const before = tf.memory().numTensors;
      const initially = flushesDenormals();
      try {
        setFlushDenormals(true);
        assert.equal(flushesDenormals(), process.arch === 'x64' || backend === 'wasm');
        const flushed = step();
        if (flushesDenormals()) {
          // ±0 (native's FTZ keeps the sign, wasm's flush stores +0).
          assert.ok(flushed.w[0] === 0 && flushed.w[2] === 0, `subnormal weights flushed: ${flushed.w.join(', ')}`);
          // m = 0.1·g: 6.7e-39, subnormal, stored as 0; the ordinary entries are updated as usual.
          assert.equal(flushed.m[3], 0);
          // No subnormal either way: wasm stores the result 1e-38 as +0; native's FTZ flushes the product
          // (current − batch)·decay = 1e-38 inside the update, which leaves the normal 2e-38.
          const first = Math.abs(flushed.moving[0] as number);
          assert.ok(first === 0 || first >= FLOAT32_MIN_NORMAL, `moving mean not subnormal: ${first}`);
          assert.deepEqual(flushed.moving.slice(1), [1, 1.5, 1.5]);
        }
        assert.ok(Math.abs((flushed.w[1] as number) - (1 - 1e-3)) < 1e-6, `ordinary weight: ${flushed.w[1]}`);
        setFlushDenormals(false);
        assert.equal(flushesDenormals(), false);
        const kept = step();
        assert.ok((kept.w[0] as number) > 0 && (kept.w[0] as number) < FLOAT32_MIN_NORMAL, `IEEE subnormal kept: ${kept.w[0]}`);
        assert.ok((kept.m[3] as number) > 0 && (kept.m[3] as number) < FLOAT32_MIN_NORMAL, `subnormal moment kept: ${kept.m[3]}`);
        assert.ok((kept.moving[0] as number) > 0 && (kept.moving[0] as number) < FLOAT32_MIN_NORMAL, `subnormal moving mean kept: ${kept.moving[0]}`);
        assert.deepEqual(kept.moving.slice(1), [1, 1.5, 1.5]);
      } finally {
        setFlushDenormals(initially);
      }
      assert.equal(tf.memory().numTensors, before);
    });
  }
});
