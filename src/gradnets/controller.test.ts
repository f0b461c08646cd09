import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { GradNetController, findGradNetLayers } from './controller.js';
import { GradualReLU } from './activations.js';
import { GradualDropout } from './dropout.js';
import { GradualInterpolation } from './interpolation.js';
import { TEST_BACKENDS, assertClose, randn, useBackend } from '../../test/helpers.js';
import { assertExact, saveAndLoad } from '../../test/gradnets-helpers.js';

function tinyModel(): { model: tf.LayersModel; relu: GradualReLU; dropout: GradualDropout } {
  const input = tf.input({ shape: [4] });
  const relu = new GradualReLU({ name: 'grelu' });
  const dropout = new GradualDropout({ rate: 0.5, seed: 1, name: 'gdrop' });
  const h = tf.layers.dense({ units: 6, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input);
  const out = tf.layers.dense({ units: 1 }).apply(dropout.apply(relu.apply(h))) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
  return { model, relu, dropout };
}

for (const backend of TEST_BACKENDS) {
  describe(`GradNetController on ${backend}`, () => {
    it('advances g per epoch in model.fit: τ = 2 gives 0, 0.5, 1 over three epochs', async () => {
      await useBackend(backend);
      const { model, relu, dropout } = tinyModel();
      const controller = new GradNetController(model, { tau: 2 });
      assert.deepEqual(controller.layers, [relu, dropout]);
      const seen: number[][] = [];
      const recorder = new tf.CustomCallback({ onEpochEnd: () => void seen.push([relu.gate, dropout.gate]) });
      const x = randn([8, 4], 1);
      const y = randn([8, 1], 2);
      const history = await model.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0, callbacks: [controller.callback(), recorder] });
      assert.deepEqual(seen, [[0, 0], [0.5, 0.5], [1, 1]]);
      assert.equal(history.history['loss']?.length, 3);
      assert.equal(controller.epoch, 2);
      assert.equal(controller.step, 6, 'two batches per epoch');
      tf.dispose([x, y]);
      model.dispose();
    });

    it('advances g per batch with unit step, counting steps across epochs', async () => {
      await useBackend(backend);
      const { model, relu } = tinyModel();
      const controller = new GradNetController(model, { tau: 3, unit: 'step' });
      const seen: number[] = [];
      const recorder = new tf.CustomCallback({ onBatchEnd: () => void seen.push(relu.gate) });
      const x = randn([8, 4], 3);
      const y = randn([8, 1], 4);
      await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [controller.callback(), recorder] });
      assertClose(seen, [0, 1 / 3, 2 / 3, 1], 1e-7, 0, 'g per step');
      tf.dispose([x, y]);
      model.dispose();
    });

    it('drives a custom training loop through hook(step, epoch), and predict sees the new g at once', async () => {
      await useBackend(backend);
      const input = tf.input({ shape: [5] });
      const relu = new GradualReLU();
      const model = tf.model({ inputs: input, outputs: relu.apply(input) as tf.SymbolicTensor });
      const controller = new GradNetController(model, { tau: 2, start: 1, unit: 'step' });
      const x = tf.tensor2d([[-2, -1, 0, 1, 2]]);
      const gates: number[] = [];
      for (let step = 0; step < 5; step++) {
        controller.hook(step, 0);
        gates.push(relu.gate);
      }
      assert.deepEqual(gates, [0, 0, 0.5, 1, 1]);
      const late = model.predict(x) as tf.Tensor;
      assertExact(late, tf.relu(x), 'g = 1: ReLU');
      controller.setTime(0, 0);
      const early = model.predict(x) as tf.Tensor;
      assertExact(early, x, 'g = 0: identity');
      assert.throws(() => controller.hook(-1, 0), /GradNetController.hook: 'step' must be an integer ≥ 0, received -1/);
      tf.dispose([x, late, early]);
      model.dispose();
    });

    it('finds GradNet layers in nested models and inside other GradNet layers', async () => {
      await useBackend(backend);
      const innerInput = tf.input({ shape: [3] });
      const innerRelu = new GradualReLU({ name: 'inner_grelu' });
      const inner = tf.model({ inputs: innerInput, outputs: innerRelu.apply(innerInput) as tf.SymbolicTensor, name: 'inner' });
      const branchRelu = new GradualReLU({ slopeStart: -1, name: 'branch_grelu' });
      const mix = new GradualInterpolation({ early: branchRelu, late: tf.layers.dense({ units: 3 }), name: 'mix' });
      const input = tf.input({ shape: [3] });
      const outer = tf.model({ inputs: input, outputs: mix.apply(inner.apply(input)) as tf.SymbolicTensor });
      const found = findGradNetLayers(outer);
      assert.deepEqual(found.map((l) => l.name).sort(), ['branch_grelu', 'inner_grelu', 'mix']);
      const controller = new GradNetController(outer, { tau: 4 });
      controller.setTime(1);
      assert.deepEqual([innerRelu.gate, branchRelu.gate, mix.gate], [0.25, 0.25, 0.25]);
      const onlyRelus = new GradNetController(outer, { tau: 2 }, { filter: (l) => l instanceof GradualReLU });
      onlyRelus.setTime(2);
      assert.deepEqual([innerRelu.gate, branchRelu.gate, mix.gate], [1, 1, 0.25]);
      // Nested gates are weights of the outer model too: a checkpoint restores every one.
      const loaded = await saveAndLoad(outer);
      const loadedGates = findGradNetLayers(loaded).map((l) => [l.name, l.gate] as const).sort();
      assert.deepEqual(loadedGates, [['branch_grelu', 1], ['inner_grelu', 1], ['mix', 0.25]]);
      const x = randn([2, 3], 12);
      const a = outer.predict(x) as tf.Tensor;
      const b = loaded.predict(x) as tf.Tensor;
      assertExact(b, a, 'nested model output after load');
      tf.dispose([x, a, b]);
      loaded.dispose();
      outer.dispose();
    });

    it('checkpoints: state() is plain JSON; a restored controller on a loaded model continues the schedule', async () => {
      await useBackend(backend);
      const { model, relu } = tinyModel();
      const controller = new GradNetController(model, { tau: 4, unit: 'epoch' });
      controller.setTime(1, 7);
      const state = JSON.parse(JSON.stringify(controller.state())) as unknown;
      assert.deepEqual(state, { schedule: { kind: 'linear', tau: 4, start: 0, unit: 'epoch' }, step: 7, epoch: 1 });
      const loaded = await saveAndLoad(model);
      const loadedRelu = loaded.getLayer('grelu') as GradualReLU;
      assert.equal(loadedRelu.gate, relu.gate, 'g comes back with the weights');
      const resumed = new GradNetController(loaded, { tau: 1 });
      resumed.restore(state);
      assert.deepEqual(resumed.state(), state);
      assert.equal(loadedRelu.gate, 0.25);
      const x = randn([4, 4], 8);
      const y = randn([4, 1], 9);
      // Resume at epoch 2 as tfjs does with initialEpoch.
      loaded.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
      await loaded.fit(x, y, { epochs: 3, initialEpoch: 2, batchSize: 4, verbose: 0, callbacks: [resumed.callback()] });
      assert.equal(loadedRelu.gate, 0.5, 'epoch 2 of τ = 4');
      assert.equal(resumed.step, 8);
      assert.throws(() => resumed.restore({ schedule: { tau: 1 }, step: 0, epoch: 0, extra: 1 }), /GradNetController.restore: unknown state key 'extra' \(valid: schedule, step, epoch\)/);
      assert.throws(() => resumed.restore({ schedule: { tau: 0 }, step: 0, epoch: 0 }), /GradSchedule: 'tau' \(τ\) must be a finite number > 0, received 0/);
      assert.throws(() => resumed.restore({ schedule: { tau: 1 }, step: 1.5, epoch: 0 }), /GradNetController.restore: 'step' must be an integer ≥ 0, received 1.5/);
      tf.dispose([x, y]);
      model.dispose();
      loaded.dispose();
    });

    it('leaks no tensors when setting g repeatedly', async () => {
      await useBackend(backend);
      const { model } = tinyModel();
      const controller = new GradNetController(model, { tau: 10, unit: 'step' });
      controller.hook(0, 0);
      const before = tf.memory().numTensors;
      for (let step = 1; step < 15; step++) controller.hook(step, 0);
      assert.equal(tf.memory().numTensors, before);
      model.dispose();
    });

    it('rejects a model without GradNet layers and a bad schedule', async () => {
      await useBackend(backend);
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
      assert.throws(() => new GradNetController(model, { tau: 2 }), /GradNetController: found no GradNet layers to control in 'target' \(0 GradNet layers before 'filter'\)/);
      const { model: withRelu } = tinyModel();
      assert.throws(() => new GradNetController(withRelu, { tau: -2 }), /GradSchedule: 'tau' \(τ\) must be a finite number > 0, received -2/);
      model.dispose();
      withRelu.dispose();
    });
  });
}
