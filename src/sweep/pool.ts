/**
 * Node only: the embedded default — a local pool running `workers` sweep
 * runs at a time, each as child processes of the built CLI.
 */
import { runOne, type RunOutcome } from './runner.js';
import type { SweepRun, SweepSpec } from './spec.js';

export interface LocalPoolOptions {
  sweepDir: string;
  spec: SweepSpec;
  runs: readonly SweepRun[];
  workers: number;
  maxAttempts: number;
  signal?: AbortSignal;
  onStart?: (run: SweepRun) => void;
  onOutcome?: (outcome: RunOutcome) => void;
  log?: (line: string) => void;
}

export async function runLocalPool(options: LocalPoolOptions): Promise<RunOutcome[]> {
  const queue = [...options.runs];
  const outcomes: RunOutcome[] = [];
  const slot = async (): Promise<void> => {
    for (;;) {
      if (options.signal?.aborted === true) return;
      const run = queue.shift();
      if (run === undefined) return;
      options.onStart?.(run);
      const outcome = await runOne({
        sweepDir: options.sweepDir,
        spec: options.spec,
        run,
        maxAttempts: options.maxAttempts,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.log !== undefined ? { log: options.log } : {}),
      });
      outcomes.push(outcome);
      options.onOutcome?.(outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.workers, options.runs.length)) }, slot));
  return outcomes;
}
