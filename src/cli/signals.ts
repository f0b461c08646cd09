/**
 * Clean stops for `hemnet train` (Node only). SIGINT and SIGTERM (what
 * `timeout`, schedulers and containers send) both stop the run after the
 * current step and write a checkpoint; the process then exits with
 * 128 + the signal number: 130 for SIGINT, 143 for SIGTERM. A second signal
 * exits at once with the same code: every file hemnet writes is written to
 * a temporary name and renamed, so an exit at any moment leaves the last
 * checkpoint intact (a temporary file may stay; the next checkpoint removes it).
 */
import type { Output } from './command.js';
import type { CheckpointWriteStage } from '../train/checkpointFiles.js';

/** Exit codes of a run stopped by a signal (128 + signal number, as shells report). */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

export interface StopSignals {
  /** Aborted by the first signal. */
  signal: AbortSignal;
  /** The exit code of the signal received, or null. */
  exitCode: () => number | null;
  dispose: () => void;
}

/** Installs SIGINT/SIGTERM handlers that abort `signal` once and exit at once on a second signal. */
export function installStopSignals(io: Output, exit: (code: number) => never = (code) => process.exit(code)): StopSignals {
  const controller = new AbortController();
  let received: StopSignal | null = null;
  const handlers = new Map<StopSignal, () => void>();
  for (const name of Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]) {
    const handler = (): void => {
      if (received !== null) {
        io.err(`\n${name} again: exiting now (exit code ${SIGNAL_EXIT_CODES[received]}); the last complete checkpoint is intact\n`);
        exit(SIGNAL_EXIT_CODES[received]);
      }
      received = name;
      io.err(`\n${name}: stopping after this step and writing a checkpoint (send it again to exit at once)\n`);
      controller.abort(`interrupted (${name})`);
    };
    handlers.set(name, handler);
    process.on(name, handler);
  }
  return {
    signal: controller.signal,
    exitCode: () => (received === null ? null : SIGNAL_EXIT_CODES[received]),
    dispose: () => {
      for (const [name, handler] of handlers) process.removeListener(name, handler);
    },
  };
}

/**
 * Test hooks, from the environment variable HEMNET_TEST_KILL (never set in
 * normal use): `step:N` SIGKILLs the process right after step N is logged;
 * `<stage>:N` SIGKILLs it at that stage of writing the checkpoint of step N
 * (`data-partial`, `data-written`, `manifest-written`, `before-pointer`,
 * `pointer-written`). Used by the kill tests to hit exact moments.
 */
export function testKillHooks(env: NodeJS.ProcessEnv = process.env): { afterStep?: (step: number) => void; onStage?: (stage: CheckpointWriteStage, step: number) => void } {
  const spec = env.HEMNET_TEST_KILL;
  if (spec === undefined || spec === '') return {};
  const match = /^([a-z-]+):(\d+)$/.exec(spec);
  if (match === null) throw new Error(`hemnet: HEMNET_TEST_KILL must be 'step:N' or '<checkpoint stage>:N', received '${spec}'`);
  const [, what, n] = match as unknown as [string, string, string];
  const at = Number(n);
  const kill = (): void => {
    process.kill(process.pid, 'SIGKILL');
  };
  if (what === 'step') return { afterStep: (step) => (step === at ? kill() : undefined) };
  return { onStage: (stage, step) => (stage === what && step === at ? kill() : undefined) };
}
