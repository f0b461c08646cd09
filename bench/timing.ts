/** Small timing helpers shared by the benchmarks (never part of the tests). */
import * as tf from '@tensorflow/tfjs';

/** Median wall time in ms of `run` after `warmup` runs; `run` must read its result back. */
export async function medianMs(run: () => Promise<void> | void, repeats: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/** GFLOP/s of a plain rank-2 matMul [m, k]·[k, n] (no transpose flags) on the active backend. */
export async function matMulRate(m: number, k: number, n: number, repeats = 5): Promise<number> {
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  const ms = await medianMs(() => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  }, repeats, 2);
  tf.dispose([a, b]);
  return (2 * m * k * n) / (ms * 1e6);
}

export function format(value: number, digits = 2): string {
  return value.toFixed(digits);
}
