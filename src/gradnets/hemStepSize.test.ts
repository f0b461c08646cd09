import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { HemHead, hemHead } from '../layers/hemHead.js';
import { HemStepSizeController, findHemHeadLayers, interpolateStepSize } from './hemStepSize.js';
import { GradSchedule } from './schedule.js';
import { GradualReLU } from './activations.js';
import { assertClose, randn, useBackend } from '../../test/helpers.js';

function headModel(stepSize = 0.5): { model: tf.LayersModel; head: HemHead } {
  const input = tf.input({ shape: [4, 4, 6] });
  const head = hemHead({ numBases: 3, seed: 2, stepSize });
  const output = head.apply(input) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: output }), head };
}

describe('interpolateStepSize', () => {
  it('is exact at both ends and linear between', () => {
    assert.equal(interpolateStepSize(0.8, 0.2, 0), 0.8);
    assert.equal(interpolateStepSize(0.8, 0.2, 1), 0.2);
    assertClose([interpolateStepSize(0.8, 0.2, 0.25)], [0.65], 1e-12);
    assertClose([interpolateStepSize(0.2, 0.8, 0.5)], [0.5], 1e-12);
  });
});

describe('HemStepSizeController', () => {
  it('gives η_start before/at start, η_end at and after start + τ, and a linear ramp between', async () => {
    await useBackend('wasm');
    const { model } = headModel();
    const c = new HemStepSizeController(model, { stepSizeStart: 0.8, stepSizeEnd: 0.2, schedule: { tau: 10, start: 5, unit: 'step' } });
    const at = (step: number): number => {
      c.hook(step);
      return c.stepSize;
    };
    assert.equal(at(0), 0.8);
    assert.equal(at(5), 0.8);
    assertClose([at(10)], [0.5], 1e-12);
    assert.equal(at(15), 0.2);
    assert.equal(at(400), 0.2);
    model.dispose();
  });

  it('hook applies η to every HemHead, and predict changes with it', async () => {
    await useBackend('wasm');
    const { model, head } = headModel(0.5);
    const c = new HemStepSizeController(model, { stepSizeStart: 0.2, stepSizeEnd: 0.8, schedule: { tau: 4, unit: 'step' } });
    assert.deepEqual(c.heads, [head]);
    const x = randn([1, 4, 4, 6], 3);
    c.hook(0);
    assert.equal(head.stepSize, 0.2);
    const early = model.predict(x) as tf.Tensor;
    c.hook(2);
    assertClose([head.stepSize], [0.5], 1e-12);
    c.hook(4, 1);
    assert.equal(head.stepSize, 0.8);
    const late = model.predict(x) as tf.Tensor;
    assert.ok((tf.max(tf.abs(tf.sub(early, late))).dataSync()[0] as number) > 1e-6, 'η changes the output');
    c.release();
    assert.equal(head.stepSize, 0.5, 'release hands back the configured η');
    tf.dispose([x, early, late]);
    model.dispose();
  });

  it('with unit epoch, uses the epoch argument of the hook', () => {
    const { model, head } = headModel();
    const c = new HemStepSizeController(model, { stepSizeStart: 1, stepSizeEnd: 0.5, schedule: new GradSchedule({ tau: 2 }) });
    c.hook(7, 1);
    assertClose([head.stepSize], [0.75], 1e-12);
    c.setTime(2);
    assert.equal(head.stepSize, 0.5);
    model.dispose();
  });

  it('drives η per batch in model.fit (unit step) and counts steps across epochs', async () => {
    await useBackend('wasm');
    const input = tf.input({ shape: [4, 4, 6] });
    const head = hemHead({ numBases: 3, seed: 2 });
    const pooled = tf.layers.globalAveragePooling2d({}).apply(head.apply(input)) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 1 }).apply(pooled) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    model.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
    const c = new HemStepSizeController(model, { stepSizeStart: 0.9, stepSizeEnd: 0.3, schedule: { tau: 3, unit: 'step' } });
    const seen: number[] = [];
    const recorder = new tf.CustomCallback({ onBatchEnd: () => void seen.push(head.stepSize) });
    const x = randn([4, 4, 4, 6], 5);
    const y = randn([4, 1], 6);
    await model.fit(x, y, { epochs: 2, batchSize: 2, verbose: 0, callbacks: [c.callback(), recorder] });
    assertClose(seen, [0.9, 0.7, 0.5, 0.3], 1e-6, 0, 'η per step');
    assert.equal(c.step, 4);
    assert.equal(c.epoch, 1);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('state() round-trips through JSON and restore re-applies η', () => {
    const a = headModel();
    const b = headModel();
    const c1 = new HemStepSizeController(a.model, { stepSizeStart: 0.8, stepSizeEnd: 0.2, schedule: { tau: 100, unit: 'step' } });
    c1.hook(30, 2);
    const saved = JSON.parse(JSON.stringify(c1.state())) as unknown;
    assert.deepEqual(saved, {
      stepSizeStart: 0.8,
      stepSizeEnd: 0.2,
      schedule: { kind: 'linear', tau: 100, start: 0, unit: 'step' },
      step: 30,
      epoch: 2,
    });
    const c2 = new HemStepSizeController(b.model, { stepSizeStart: 0.5, stepSizeEnd: 0.5, schedule: { tau: 1 } });
    c2.restore(saved);
    assert.deepEqual(c2.state(), c1.state());
    assertClose([b.head.stepSize], [a.head.stepSize], 1e-12);
    assertClose([b.head.stepSize], [0.62], 1e-12);
    a.model.dispose();
    b.model.dispose();
  });

  it('finds heads in nested models, and ignores models without one', () => {
    const { model, head } = headModel();
    const input = tf.input({ shape: [4, 4, 6] });
    const outer = tf.model({ inputs: input, outputs: model.apply(input) as tf.SymbolicTensor });
    assert.deepEqual(findHemHeadLayers(outer), [head]);
    assert.deepEqual(findHemHeadLayers([new GradualReLU()]), []);
    outer.dispose();
  });

  it('rejects bad arguments with messages that name the function, argument and value', () => {
    const { model } = headModel();
    const schedule = { tau: 5 };
    assert.throws(
      () => new HemStepSizeController(model, { stepSizeStart: 0, stepSizeEnd: 0.5, schedule }),
      /HemStepSizeController: 'stepSizeStart' \(η\) must be a number in \(0, 1\], received 0/,
    );
    assert.throws(
      () => new HemStepSizeController(model, { stepSizeStart: 0.5, stepSizeEnd: 1.5, schedule }),
      /HemStepSizeController: 'stepSizeEnd' \(η\) must be a number in \(0, 1\], received 1.5/,
    );
    assert.throws(
      () => new HemStepSizeController(model, { stepSizeStart: 0.5, stepSizeEnd: NaN, schedule }),
      /'stepSizeEnd' \(η\) must be a number in \(0, 1\], received NaN/,
    );
    assert.throws(
      () => new HemStepSizeController(model, { stepSizeStart: 0.5, stepSizeEnd: 0.5, schedule: { tau: 0 } }),
      /GradSchedule: 'tau' \(τ\) must be a finite number > 0, received 0/,
    );
    assert.throws(
      () => new HemStepSizeController(model, { stepSizeStart: 0.5, stepSizeEnd: 0.5, schedule, extra: 1 } as never),
      /HemStepSizeController: unknown option 'extra' \(valid: /,
    );
    const input = tf.input({ shape: [3] });
    const plain = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 1 }).apply(input) as tf.SymbolicTensor });
    assert.throws(
      () => new HemStepSizeController(plain, { stepSizeStart: 0.5, stepSizeEnd: 0.5, schedule }),
      /HemStepSizeController: found no HemHead layers in 'target'/,
    );
    assert.throws(() => findHemHeadLayers([42 as never]), /findHemHeadLayers: 'target' must be a tf.LayersModel/);
    const c = new HemStepSizeController(model, { stepSizeStart: 0.5, stepSizeEnd: 0.5, schedule });
    assert.throws(() => c.hook(-1), /HemStepSizeController.hook: 'step' must be an integer ≥ 0, received -1/);
    assert.throws(() => c.restore({ stepSizeStart: 0.5 }), /HemStepSizeController.restore: 'stepSizeEnd' \(η\) must be a number in \(0, 1\], received undefined/);
    assert.throws(() => c.restore({ ...c.state(), gate: 1 }), /HemStepSizeController.restore: unknown state key 'gate' \(valid: /);
    assert.throws(() => c.restore(null), /HemStepSizeController.restore: 'state' must be an object/);
    plain.dispose();
    model.dispose();
  });

  it('leaks no tensors when applying η', async () => {
    await useBackend('wasm');
    const { model } = headModel();
    const c = new HemStepSizeController(model, { stepSizeStart: 0.8, stepSizeEnd: 0.2, schedule: { tau: 10, unit: 'step' } });
    const before = tf.memory().numTensors;
    for (let step = 0; step < 12; step++) c.hook(step);
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  });
});
