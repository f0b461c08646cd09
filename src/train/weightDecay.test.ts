import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { batchLoss, decayedVariables, decayWeights, lossAndGradients } from './loop.js';
import { addDecayLoss, addWeightDecay, weightDecayLoss } from './weightDecay.js';
import { TEST_BACKENDS, useBackend } from '../../test/helpers.js';

/** Kernels of 135 and 99 values (not multiples of 4: the SIMD pass's tail runs in JS) and a bias that is not decayed. */
function smallModel(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3] });
  const x = tf.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 11 }), name: 'stem' }).apply(input) as tf.SymbolicTensor;
  const y = tf.layers.conv2d({ filters: 11, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 12 }), name: 'mid' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 13 }), name: 'classifier' }).apply(y) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

function batch(): { images: tf.Tensor4D; labels: tf.Tensor3D } {
  const images = tf.tensor4d(Array.from({ length: 2 * 6 * 6 * 3 }, (_, i) => Math.sin(i * 0.37)), [2, 6, 6, 3]);
  const labels = tf.tensor3d(Array.from({ length: 2 * 6 * 6 }, (_, i) => (i % 7 === 0 ? 255 : i % 3)), [2, 6, 6], 'int32');
  return { images, labels };
}

for (const backend of TEST_BACKENDS) {
  describe(`weight decay outside the tape on ${backend}`, () => {
    it("gives the tape's gradients and loss to the bit (decayed kernels, undecayed biases), without leaks", async () => {
      await useBackend(backend);
      const model = smallModel();
      const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const decayed = decayedVariables(model).map((w) => w.read());
      assert.equal(decayed.length, 3);
      const { images, labels } = batch();
      const weightDecay = 3e-2; // large enough that the decay term moves every value
      const tape = tf.variableGrads(() => batchLoss(model, images, labels, 255, weightDecay, decayed), trainable);
      const before = tf.memory().numTensors;
      const ours = lossAndGradients(model, images, labels, 255, weightDecay, trainable, decayWeights(trainable, decayed));
      assert.equal(ours.loss(), tape.value.dataSync()[0]);
      assert.equal(ours.gradients.length, trainable.length);
      ours.gradients.forEach(({ name, tensor }) => {
        assert.deepEqual(Array.from(tensor.dataSync()), Array.from((tape.grads[name] as tf.Tensor).dataSync()), name);
      });
      // The decay did change the kernels' gradients (the comparison above is not between two data gradients).
      const plain = tf.variableGrads(() => batchLoss(model, images, labels, 255, 0, []), trainable);
      const stem = trainable[0]!.name;
      assert.notDeepEqual(Array.from((plain.grads[stem] as tf.Tensor).dataSync()), Array.from((tape.grads[stem] as tf.Tensor).dataSync()));
      tf.dispose([plain.value, ...Object.values(plain.grads)]);
      tf.dispose([ours.value, ...ours.gradients.map((g) => g.tensor)]);
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([images, labels, tape.value, ...Object.values(tape.grads)]);
      model.dispose();
    });

    it('updates a gradient in place only where no other tensor shares its data', async () => {
      await useBackend(backend);
      const w = tf.tensor(Array.from({ length: 10 }, (_, i) => i - 4.5), [2, 5]);
      const g = tf.tensor(Array.from({ length: 10 }, (_, i) => 0.1 * i), [2, 5]);
      const shared = tf.tensor(Array.from({ length: 10 }, (_, i) => -0.2 * i), [2, 5]);
      const alias = tf.reshape(shared, [10]); // shares `shared`'s data
      const untouched = tf.tensor([1, 2, 3]);
      const expected = (grad: number[]) => grad.map((v, i) => Math.fround(Math.fround(v) + Math.fround(Math.fround(i - 4.5) * Math.fround(0.5))));
      const gValues = Array.from(g.dataSync());
      const sharedValues = Array.from(shared.dataSync());
      const before = tf.memory().numTensors;
      const [a, b, c] = addWeightDecay([g, shared, untouched], [w, w, null], 0.5) as [tf.Tensor, tf.Tensor, tf.Tensor];
      assert.equal(c, untouched);
      assert.deepEqual(Array.from(a.dataSync()), expected(gValues));
      assert.deepEqual(Array.from(b.dataSync()), expected(sharedValues));
      // The alias still reads the old values: the shared gradient got a new tensor and lost one reference.
      assert.deepEqual(Array.from(alias.dataSync()), sharedValues);
      assert.notEqual(b.dataId, alias.dataId);
      if (backend === 'wasm') assert.equal(a, g); // sole owner: in place
      assert.equal(tf.memory().numTensors, before); // each replaced gradient was disposed
      tf.dispose([a, b, c, w, alias]);
    });

    it('is the identity at λ = 0 and rejects mismatched lists and shapes', async () => {
      await useBackend(backend);
      const g = tf.tensor([1, 2, 3, 4, 5]);
      const w = tf.tensor([1, 1, 1, 1, 1]);
      assert.deepEqual(addWeightDecay([g], [w], 0), [g]);
      assert.equal(weightDecayLoss([w], 0), 0);
      assert.equal(weightDecayLoss([w], 0.5), Math.fround(5 * 0.25));
      assert.equal(addDecayLoss(1.5, 0), 1.5);
      assert.throws(() => addWeightDecay([g], [], 0.1), /addWeightDecay: 1 gradients need as many weights \(or nulls\), received 0/);
      const short = tf.tensor([1, 2]);
      assert.throws(() => addWeightDecay([g], [short], 0.1), /gradient 0 has shape \[5\], its weight \[2\]/);
      tf.dispose([g, w, short]);
    });
  });
}
