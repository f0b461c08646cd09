import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { ScheduledAdam } from '../train/optimizer.js';

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
