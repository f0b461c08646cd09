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

/** A workload timed by the on/off benches: `run` returns ms per unit. */
export interface TimedWorkload {
  label: string;
  run(): Promise<number>;
  dispose(): void;
}

/**
 * Times every workload with a switch on and off, in alternating order
 * round by round, so that load cannot favour either: one warm-up run per
 * setting, then `rounds` timed runs per setting. Leaves the switch on.
 * Returns the times per workload and the tensors created over the timed
 * rounds (`countTensors()` after − before).
 */
export async function timeOnOff(
  workloads: readonly TimedWorkload[],
  setSwitch: (on: boolean) => void,
  rounds: number,
  countTensors: () => number,
): Promise<{ times: { on: number[]; off: number[] }[]; leaked: number }> {
  const times = workloads.map(() => ({ on: [] as number[], off: [] as number[] }));
  for (const on of [true, false]) {
    setSwitch(on);
    for (const w of workloads) await w.run(); // warm-up: compiles both paths
  }
  const before = countTensors();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [true, false] : [false, true];
    for (const [i, w] of workloads.entries()) {
      for (const on of order) {
        setSwitch(on);
        times[i]![on ? 'on' : 'off'].push(await w.run());
      }
    }
  }
  setSwitch(true);
  return { times, leaked: countTensors() - before };
}

/** Prints the table of a `timeOnOff` run: min and median per setting and off ÷ on (> 1: the "on" setting is faster). */
export function printOnOffTable(workloads: readonly TimedWorkload[], times: readonly { on: number[]; off: number[] }[], onLabel: string, offLabel: string): void {
  console.log(`\n| workload | ${onLabel}, min ms | ${offLabel}, min ms | ${onLabel}, median | ${offLabel}, median | ${offLabel} ÷ ${onLabel} (min) | (median) |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [i, w] of workloads.entries()) {
    const { on, off } = times[i]!;
    const [minOn, minOff, medOn, medOff] = [Math.min(...on), Math.min(...off), median(on), median(off)];
    console.log(`| ${w.label} | ${format(minOn)} | ${format(minOff)} | ${format(medOn)} | ${format(medOff)} | ${format(minOff / minOn)}× | ${format(medOff / medOn)}× |`);
  }
}
