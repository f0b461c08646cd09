/** Input validation shared by the public EM functions (messages name the function and argument). */
import { checkInteger, checkOneOf } from '../schema.js';
import * as tf from '@tensorflow/tfjs';

export type Kernel = 'dot' | 'rbf';
export const KERNELS: readonly Kernel[] = ['dot', 'rbf'];

export function fail(fn: string, message: string): never {
  throw new Error(`${fn}: ${message}`);
}

function describeShape(t: tf.Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

export function checkTensor(fn: string, name: string, value: unknown): asserts value is tf.Tensor {
  if (!(value instanceof tf.Tensor)) fail(fn, `'${name}' must be a tf.Tensor, received ${typeof value}`);
  if (value.isDisposed) fail(fn, `'${name}' has been disposed`);
}

export function checkRank(fn: string, name: string, t: tf.Tensor, ranks: number[], form: string): void {
  if (!ranks.includes(t.rank)) {
    fail(fn, `'${name}' must be rank ${ranks.join(' or ')} ${form}, received shape ${describeShape(t)}`);
  }
}

/** x `[B, N, C]`. */
export function checkFeatures(fn: string, x: unknown): asserts x is tf.Tensor3D {
  checkTensor(fn, 'x', x);
  checkRank(fn, 'x', x, [3], '[B, N, C]');
}

/** mu `[B, K, C]` or `[K, C]`, matching x's C (and B when rank 3). */
export function checkBases(fn: string, name: string, mu: unknown, x: tf.Tensor3D): asserts mu is tf.Tensor2D | tf.Tensor3D {
  checkTensor(fn, name, mu);
  checkRank(fn, name, mu, [2, 3], '[B, K, C] or [K, C]');
  const channels = mu.shape[mu.rank - 1];
  if (channels !== x.shape[2]) {
    fail(fn, `'${name}' must have C = ${x.shape[2]} channels like 'x' ${describeShape(x)}, received shape ${describeShape(mu)}`);
  }
  if (mu.rank === 3 && mu.shape[0] !== x.shape[0]) {
    fail(fn, `'${name}' batch size must match 'x' (B = ${x.shape[0]}), received shape ${describeShape(mu)}`);
  }
}

/** gamma `[B, N, K]` consistent with x and mu. */
export function checkResponsibilities(fn: string, gamma: unknown, x: tf.Tensor3D, numBases: number): asserts gamma is tf.Tensor3D {
  checkTensor(fn, 'gamma', gamma);
  checkRank(fn, 'gamma', gamma, [3], '[B, N, K]');
  const [b, n] = x.shape;
  if (gamma.shape[0] !== b || gamma.shape[1] !== n || gamma.shape[2] !== numBases) {
    fail(fn, `'gamma' must have shape [${b}, ${n}, ${numBases}] to match 'x' and 'mu', received ${describeShape(gamma)}`);
  }
}

export function checkStepSize(fn: string, stepSize: number): void {
  if (typeof stepSize !== 'number' || !(stepSize > 0 && stepSize <= 1)) {
    fail(fn, `'stepSize' must be in (0, 1], received ${String(stepSize)}`);
  }
}

export function checkIterations(fn: string, name: string, iterations: number): void {
  checkInteger(fn, name, iterations, 1);
}

export function checkTemperature(fn: string, temperature: number): void {
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    fail(fn, `'temperature' must be a finite number > 0, received ${String(temperature)}`);
  }
}

export function checkKernel(fn: string, kernel: string): asserts kernel is Kernel {
  checkOneOf(fn, 'kernel', kernel, KERNELS);
}

/** Reads the tensor back (a device sync) and fails on NaN or ±Inf. */
export function checkFinite(fn: string, name: string, t: tf.Tensor): void {
  const values = t.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) fail(fn, `'${name}' must contain only finite values, received ${v} at flat index ${i}`);
  }
}
