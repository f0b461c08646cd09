/** Shared test utilities (not part of the library). */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';

/** Backends every numerical test runs on. */
export const TEST_BACKENDS = ['cpu', 'wasm'] as const;

export async function useBackend(name: (typeof TEST_BACKENDS)[number]): Promise<void> {
  await setBackend(name);
}

/** Asserts max |a − b| ≤ atol + rtol·max|b|, with a readable message. */
export function assertClose(actual: tf.Tensor | number[], expected: tf.Tensor | number[], atol = 1e-5, rtol = 0, label = ''): void {
  const a = Array.isArray(actual) ? actual : Array.from(actual.dataSync());
  const b = Array.isArray(expected) ? expected : Array.from(expected.dataSync());
  assert.equal(a.length, b.length, `${label} length ${a.length} vs ${b.length}`);
  let worst = 0;
  let scale = 0;
  let worstIndex = -1;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs((a[i] as number) - (b[i] as number));
    if (!(diff <= worst)) {
      worst = diff;
      worstIndex = i;
    }
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  const tolerance = atol + rtol * scale;
  assert.ok(
    worst <= tolerance,
    `${label} max |diff| ${worst} > ${tolerance} at index ${worstIndex} (${a[worstIndex]} vs ${b[worstIndex]})`,
  );
}

/** Runs `fn`, disposes what it returns, and asserts no tensor was leaked. */
export function assertNoLeak(fn: () => tf.TensorContainer, label = ''): void {
  fn(); // warm-up: first calls may allocate backend-owned state
  const before = tf.memory().numTensors;
  const out = fn();
  tf.dispose(out);
  const after = tf.memory().numTensors;
  assert.equal(after, before, `${label} leaked ${after - before} tensors`);
}

/** Deterministic normal tensor. */
export function randn(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed), scale));
}
