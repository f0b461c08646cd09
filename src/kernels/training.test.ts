import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';

/** A small segmentation-like net: dilated conv, batch norm, strided conv, bilinear upsampling. */
function buildNet(): tf.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }));
  // Linear activation: tfjs-layers keeps this fused while recording gradients.
  model.add(tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', dilationRate: 2, kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }));
  model.add(tf.layers.batchNormalization());
  model.add(tf.layers.activation({ activation: 'relu' }));
  model.add(tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }));
  model.add(tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }));
  model.add(tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }) }));
  return model;
}

describe('tf.layers conv net training on wasm', () => {
  it('decreases the loss over 20 SGD steps without leaking tensors', async () => {
    await setBackend('wasm');
    const model = buildNet();
    const images = tf.randomUniform([4, 8, 8, 3], 0, 1, 'float32', 11);
    // A learnable per-pixel target: the brightest of (r, g, b, 0.5).
    const labels = tf.tidy(() => tf.oneHot(tf.argMax(tf.concat([images, tf.fill([4, 8, 8, 1], 0.5)], 3), 3), 4));
    const optimizer = tf.train.sgd(0.2);
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 20; step++) {
      const loss = optimizer.minimize(() => {
        const logits = model.apply(images, { training: true }) as tf.Tensor;
        return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
      }, true);
      assert.ok(loss !== null, 'minimize returned no loss');
      losses.push(loss.dataSync()[0] as number);
      loss.dispose();
      counts.push(tf.memory().numTensors);
    }
    const first = losses[0] as number;
    const last = losses[losses.length - 1] as number;
    assert.ok(Number.isFinite(last), `loss is not finite: ${losses.join(', ')}`);
    assert.ok(last < 0.9 * first, `loss did not decrease: ${losses.map((v) => v.toFixed(4)).join(', ')}`);
    // Step 1 creates the optimizer state; from then on the count must be flat.
    assert.deepEqual(counts.slice(2), counts.slice(2).map(() => counts[1]), `tensor counts per step: ${counts.join(', ')}`);
    optimizer.dispose();
    model.dispose();
    tf.dispose([images, labels]);
  });

  it('gives a dilated linear conv layer the same gradients as cpu, and keeps its config', async () => {
    const gradientsOn = async (backend: 'wasm' | 'cpu'): Promise<number[][]> => {
      await setBackend(backend);
      const layer = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', dilationRate: 2, kernelInitializer: tf.initializers.glorotNormal({ seed: 5 }), biasInitializer: 'ones' });
      const input = tf.randomNormal([2, 9, 9, 2], 0, 1, 'float32', 6);
      const weights = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 7);
      layer.apply(input); // builds the weights
      const variables = layer.trainableWeights.map((weight) => weight.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, weights)) as tf.Scalar, variables);
      const result = variables.map((variable) => Array.from(grads[variable.name]!.dataSync()));
      assert.deepEqual(layer.getConfig()['dilationRate'], [2, 2]);
      tf.dispose([input, weights, ...Object.values(grads)]);
      layer.dispose();
      return result;
    };
    const wasm = await gradientsOn('wasm');
    const cpu = await gradientsOn('cpu');
    assert.equal(wasm.length, 2);
    wasm.forEach((values, index) => {
      const reference = cpu[index] as number[];
      const scale = Math.max(...reference.map(Math.abs));
      const worst = Math.max(...values.map((value, i) => Math.abs(value - (reference[i] as number))));
      assert.ok(worst <= 1e-4 * scale + 1e-6, `weight ${index}: max |diff| ${worst} (scale ${scale})`);
    });
  });

  it('on wasm, a plain conv layer (no bias, linear) on the input gets its filter gradient without the unused input gradient, equal to cpu; with a bias it keeps the fused op', async () => {
    const run = async (backend: 'wasm' | 'cpu', useBias: boolean): Promise<{ grads: number[][]; kernels: string[] }> => {
      await setBackend(backend);
      const layer = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias, kernelInitializer: tf.initializers.glorotNormal({ seed: 8 }) });
      const input = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 9);
      const weights = tf.randomNormal([2, 8, 8, 8], 0, 1, 'float32', 10);
      layer.apply(input); // builds the weights
      const variables = layer.trainableWeights.map((weight) => weight.read() as tf.Variable);
      const loss = () => tf.sum(tf.mul(layer.apply(input) as tf.Tensor, weights)) as tf.Scalar;
      const profile = await tf.profile(() => tf.dispose(Object.values(tf.variableGrads(loss, variables).grads)));
      const { grads } = tf.variableGrads(loss, variables);
      const result = variables.map((variable) => Array.from(grads[variable.name]!.dataSync()));
      tf.dispose([input, weights, ...Object.values(grads)]);
      layer.dispose();
      return { grads: result, kernels: profile.kernels.map((k) => k.name) };
    };
    const plain = await run('wasm', false);
    assert.ok(!plain.kernels.includes('Conv2DBackpropInput'), `no input gradient: ${plain.kernels.join(' ')}`);
    assert.ok(plain.kernels.includes('Conv2DBackpropFilter'));
    const biased = await run('wasm', true);
    assert.ok(biased.kernels.includes('FusedConv2D'), `with a bias the fused op stays: ${biased.kernels.join(' ')}`);
    for (const [got, useBias] of [[plain, false], [biased, true]] as const) {
      const want = await run('cpu', useBias);
      assert.equal(got.grads.length, useBias ? 2 : 1);
      got.grads.forEach((values, index) => {
        const reference = want.grads[index] as number[];
        const scale = Math.max(...reference.map(Math.abs));
        const worst = Math.max(...values.map((value, i) => Math.abs(value - (reference[i] as number))));
        assert.ok(worst <= 1e-4 * scale + 1e-6, `bias ${useBias}, weight ${index}: max |diff| ${worst} (scale ${scale})`);
      });
    }
  });
});
