import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { HemHead, hemHead } from './hemHead.js';
import { disposeHemResult, unrollHem } from '../em/unroll.js';
import { assertClose, randn, useBackend } from '../../test/helpers.js';
import { saveAndLoad } from '../../test/layers.js';

function headModel(options: ConstructorParameters<typeof HemHead>[0]): { model: tf.LayersModel; head: HemHead } {
  const input = tf.input({ shape: [6, 5, 8] });
  const head = hemHead({ numBases: 4, seed: 3, ...options });
  const output = head.apply(input) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: output }), head };
}

function basesOf(head: HemHead): Float32Array {
  const weight = head.weights.find((w) => w.name.includes('bases'));
  if (!weight) throw new Error('no bases weight');
  return weight.read().dataSync() as Float32Array;
}

describe('HemHead layer', () => {
  it('round-trips its config with every option', async () => {
    await useBackend('wasm');
    const options = {
      preset: 'ema' as const, numBases: 7, emChannels: 5, stepSize: 0.3, trainIterations: 2, evalIterations: 6,
      temperature: 2.5, kernel: 'rbf' as const, normalizeBases: false, detachEm: false, basesMomentum: 0.8,
      batchNormMomentum: 0.95, seed: 11,
    };
    const head = new HemHead(options);
    const config = head.getConfig();
    for (const [key, value] of Object.entries(options)) assert.deepEqual(config[key], value, key);
    const rebuilt = HemHead.fromConfig(HemHead, config) as HemHead;
    assert.deepEqual(rebuilt.getConfig(), config);
  });

  it('fills defaults from the presets', () => {
    const hem = new HemHead({});
    // The paper's HEMNet setting on VOC: η = 0.5 (Sec. 5), T_train = 3, σ² = √C.
    assert.equal(hem.options.stepSize, 0.5);
    assert.equal(hem.options.trainIterations, 3);
    assert.equal(hem.options.preset, 'hem');
    assert.equal(hem.options.detachEm, false);
    assert.equal(hem.options.temperature, null); // √C at run time
    // EMANet: η = 1 (plain EM), no gradient through EM, normalised bases, no temperature.
    const ema = new HemHead({ preset: 'ema' });
    assert.deepEqual(
      [ema.options.stepSize, ema.options.detachEm, ema.options.normalizeBases, ema.options.temperature],
      [1, true, true, 1],
    );
    assert.equal(new HemHead({ preset: 'ema', stepSize: 0.5 }).options.stepSize, 0.5);
    // hemnet 0.1's preset names still load (saved models hold them) and map to the current ones.
    assert.deepEqual(new HemHead({ preset: 'emanet' }).options, ema.options);
    assert.equal(new HemHead({ preset: 'hemnet' }).getConfig()['preset'], 'hem');
  });

  it("the 'hem' preset's σ² is √C of the EM features (Eq. 8), not a stored constant", async () => {
    await useBackend('wasm');
    const x = randn([1, 6, 5, 8], 21) as tf.Tensor4D;
    const gammaOf = (options: ConstructorParameters<typeof HemHead>[0]): Float32Array => {
      const { model, head } = headModel(options);
      const result = head.attend(x);
      const gamma = result.gamma.dataSync() as Float32Array;
      disposeHemResult(result);
      model.dispose();
      return gamma;
    };
    const byDefault = gammaOf({ emChannels: 8 });
    assertClose(Array.from(byDefault), Array.from(gammaOf({ emChannels: 8, temperature: Math.sqrt(8) })), 1e-6);
    const unit = gammaOf({ emChannels: 8, temperature: 1 });
    assert.ok(byDefault.some((v, i) => Math.abs(v - (unit[i] as number)) > 1e-3), 'σ² = 1 must give other responsibilities');
    x.dispose();
  });

  it('saves and loads with equal outputs and the same μ⁽⁰⁾', async () => {
    await useBackend('wasm');
    const { model, head } = headModel({ evalIterations: 4 });
    // Move μ⁽⁰⁾ and the BN statistics away from their initial values first.
    tf.tidy(() => model.apply(randn([2, 6, 5, 8], 1), { training: true }) as tf.Tensor);
    const loaded = await saveAndLoad(model);
    const x = randn([2, 6, 5, 8], 2);
    assertClose(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor, 1e-6);
    const loadedHead = loaded.layers.find((l) => l instanceof HemHead) as HemHead;
    assert.ok(loadedHead, 'the loaded model has an HemHead');
    assertClose(Array.from(basesOf(loadedHead)), Array.from(basesOf(head)), 0);
    assert.equal(loadedHead.evalIterations, 4);
    tf.dispose(x);
  });

  it('moves μ⁽⁰⁾ while training, never in inference', async () => {
    await useBackend('wasm');
    const { model, head } = headModel({});
    const initial = Array.from(basesOf(head));
    // Initialised N(0, √(2/K)) and L2-normalised over C.
    for (let k = 0; k < 4; k++) {
      const row = initial.slice(k * 8, k * 8 + 8);
      assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-4);
    }
    const x = randn([2, 6, 5, 8], 5);
    tf.dispose(model.predict(x));
    tf.dispose(model.apply(x, { training: false }) as tf.Tensor);
    assertClose(Array.from(basesOf(head)), initial, 0, 0, 'inference changed μ⁽⁰⁾');
    // Training: μ⁽⁰⁾ ← 0.9 μ⁽⁰⁾ + 0.1 mean_b μ⁽ᵀ⁾ with the μ⁽ᵀ⁾ of that same forward pass.
    const expected = tf.tidy(() => {
      const result = head.attend(x as tf.Tensor4D, 3);
      return tf.add(tf.mul(tf.tensor2d(initial, [4, 8]), 0.9), tf.mul(tf.mean(result.mu, 0), 0.1));
    });
    tf.dispose(model.apply(x, { training: true }) as tf.Tensor);
    assertClose(Array.from(basesOf(head)), expected, 1e-5);
    tf.dispose([x, expected]);
  });

  it("'hem' sends gradient to the 1×1 conv in through EM; 'ema' does not", async () => {
    await useBackend('wasm');
    for (const preset of ['hem', 'ema'] as const) {
      const { model, head } = headModel({ preset });
      const x = randn([2, 6, 5, 8], 7);
      const target = randn([2, 6, 5, 8], 8);
      const inKernel = head.trainableWeights.find((w) => w.name.includes('in_kernel'))!;
      const { grads } = tf.variableGrads(
        () => tf.losses.meanSquaredError(target, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        [inKernel.read() as tf.Variable],
      );
      const magnitude = tf.max(tf.abs(Object.values(grads)[0]!)).dataSync()[0]!;
      if (preset === 'hem') assert.ok(magnitude > 1e-6, `hem in-conv gradient ${magnitude}`);
      else assert.equal(magnitude, 0, 'emanet in-conv gradient');
      tf.dispose([x, target, ...Object.values(grads)]);
    }
  });

  it('uses T_eval in inference and T_train in training', async () => {
    await useBackend('wasm');
    const { model, head } = headModel({ trainIterations: 1, evalIterations: 5 });
    const x = randn([1, 6, 5, 8], 9);
    const trace = head.attend(x as tf.Tensor4D);
    assert.equal(trace.trace!.length, 5);
    disposeHemResult(trace);
    const out5 = model.predict(x) as tf.Tensor;
    head.setEvalIterations(1);
    const out1 = model.predict(x) as tf.Tensor;
    assert.ok(tf.max(tf.abs(tf.sub(out5, out1))).dataSync()[0]! > 1e-6, 'T_eval override changed nothing');
    head.setEvalIterations(null);
    assertClose(model.predict(x) as tf.Tensor, out5, 1e-6);
    assert.throws(() => head.setEvalIterations(0), /HemHead.setEvalIterations: 'iterations' must be an integer ≥ 1, received 0/);
    tf.dispose([x, out5, out1]);
  });

  it('emProblem + unrollHem + outputFromReconstruction reproduce the inference output exactly (hem and ema presets)', async () => {
    await useBackend('wasm');
    for (const preset of ['hem', 'ema'] as const) {
      const { model, head } = headModel({ preset, evalIterations: 2 });
      const x = randn([2, 6, 5, 8], 12) as tf.Tensor4D;
      const before = tf.memory().numTensors;
      const problem = head.emProblem(x);
      assert.deepEqual(problem.x.shape, [2, 30, 8]);
      assert.deepEqual(problem.mu0.shape, [4, 8]);
      assert.equal(problem.options.iterations, 2);
      assert.equal(problem.options.detachEm, preset === 'ema');
      assert.equal(problem.options.stepSize, preset === 'ema' ? 1 : 0.5);
      const result = unrollHem(problem.x, problem.mu0, problem.options);
      const attended = head.attend(x);
      assertClose(result.gamma, attended.gamma, 1e-6);
      const rebuilt = head.outputFromReconstruction(result.reconstruction, x);
      const expected = model.predict(x) as tf.Tensor;
      assertClose(rebuilt, expected, 1e-5);
      tf.dispose([problem.x, problem.mu0, rebuilt, expected]);
      disposeHemResult(result);
      disposeHemResult(attended);
      assert.equal(tf.memory().numTensors, before, 'no tensor leak');
      x.dispose();
      model.dispose();
    }
  });

  it('keeps tf.memory().numTensors flat across inference and training steps', async () => {
    await useBackend('wasm');
    const { model } = headModel({});
    const optimizer = tf.train.sgd(0.01);
    const x = randn([2, 6, 5, 8], 10);
    const target = randn([2, 6, 5, 8], 11);
    const step = () => {
      optimizer.minimize(() => tf.losses.meanSquaredError(target, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      tf.dispose(model.predict(x));
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, target]);
  });

  it('rejects bad options with named errors', () => {
    assert.throws(() => new HemHead({ stepSize: 0 }), /HemHead: 'stepSize' must be in \(0, 1\], received 0/);
    assert.throws(() => new HemHead({ numBases: 0 }), /HemHead: 'numBases' must be an integer ≥ 1, received 0/);
    assert.throws(() => new HemHead({ trainIterations: 1.5 }), /HemHead: 'trainIterations' must be an integer ≥ 1, received 1.5/);
    assert.throws(() => new HemHead({ temperature: -2 }), /HemHead: 'temperature' must be a finite number > 0, received -2/);
    assert.throws(() => new HemHead({ basesMomentum: 1 }), /HemHead: 'basesMomentum' must be in \[0, 1\), received 1/);
    assert.throws(() => new HemHead({ preset: 'hemm' as 'hem' }), /HemHead: 'preset' must be one of 'hem', 'ema', received 'hemm'/);
    assert.throws(() => new HemHead({ numbases: 3 } as never), /HemHead: unknown option 'numbases' \(valid: preset, numBases, /);
    assert.throws(() => new HemHead({ kernel: 'cos' as 'dot' }), /HemHead: 'kernel' must be one of 'dot', 'rbf', received 'cos'/);
    const head = new HemHead({});
    assert.throws(() => head.apply(tf.input({ shape: [8] })), /HemHead: input must be rank 4 \[B, H, W, C\] with known C, received \[null, 8\]/);
  });
});

describe('HemHead step-size override', () => {
  it('setStepSize changes η at run time and null restores it', async () => {
    await useBackend('wasm');
    const { model, head } = headModel({ stepSize: 0.5 });
    const x = randn([1, 6, 5, 8], 12);
    const base = model.predict(x) as tf.Tensor;
    head.setStepSize(0.9);
    assert.equal(head.stepSize, 0.9);
    const changed = model.predict(x) as tf.Tensor;
    assert.ok(tf.max(tf.abs(tf.sub(base, changed))).dataSync()[0]! > 1e-6);
    head.setStepSize(null);
    assertClose(model.predict(x) as tf.Tensor, base, 1e-6);
    assert.throws(() => head.setStepSize(1.2), /HemHead.setStepSize: 'stepSize' must be in \(0, 1\], received 1.2/);
    tf.dispose([x, base, changed]);
  });
});
