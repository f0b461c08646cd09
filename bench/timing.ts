/** Small helpers shared by the benchmarks (never part of the tests). */

export function format(value: number, digits = 2): string {
  return value.toFixed(digits);
}

export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
}

/** Wall time of one synchronous call in ms (wasm and cpu run kernels synchronously). */
export function timeOnce(run: () => void): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}
