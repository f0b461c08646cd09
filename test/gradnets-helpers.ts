/** Test utilities for the GradNets layers (not part of the library). */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { GradNetLayer } from '../src/gradnets/base.js';

/** Elementwise ===, so −0 equals +0 but nothing else is tolerated. */
export function assertExact(actual: tf.Tensor, expected: tf.Tensor, label = ''): void {
  assert.deepEqual(actual.shape, expected.shape, `${label} shape`);
  const a = actual.dataSync();
  const b = expected.dataSync();
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) assert.fail(`${label} differs at ${i}: ${a[i]} vs ${b[i]}`);
  }
}

export { saveAndLoad } from './layers.js';

/** A functional model input → layer → output. */
export function wrapInModel(layer: tf.layers.Layer, inputShape: number[]): tf.LayersModel {
  const input = tf.input({ shape: inputShape });
  const output = layer.apply(input) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

/** The loaded twin of a GradNet layer, found by name. */
export function loadedLayer(model: tf.LayersModel, name: string): GradNetLayer {
  return model.getLayer(name) as GradNetLayer;
}
