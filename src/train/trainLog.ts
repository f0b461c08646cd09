/**
 * `train-log.jsonl`: one JSON event per line, exactly one `step` record per
 * trained step however often the run was killed and resumed (Node only).
 *
 * - Opening it for a run that starts at step s (0, or a checkpoint's step)
 *   keeps the records up to s and drops everything after (steps trained
 *   after the checkpoint are trained again, and logged again); the kept part
 *   is written to a temporary file, fsync'ed and renamed over the log.
 * - Records are appended synchronously (a write per event, no queue that a
 *   kill could lose), and `flush` fsyncs the log; the trainer flushes before
 *   each checkpoint, so a checkpoint at step s never exists without the
 *   records of steps 1..s.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { TrainEvent } from './loop.js';

type Record = { type: string; step: number } & { [key: string]: unknown };

function parseLines(text: string): { records: Record[]; torn: number } {
  const records: Record[] = [];
  let torn = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (value !== null && typeof value === 'object' && typeof (value as Record).type === 'string' && typeof (value as Record).step === 'number') records.push(value as Record);
      else torn++;
    } catch {
      torn++; // a line cut by a kill mid-write
    }
  }
  return { records, torn };
}

export class TrainLog {
  private fd: number | null;
  private readonly losses = new Map<number, number>();

  private constructor(
    readonly path: string,
    fd: number,
    kept: readonly Record[],
  ) {
    this.fd = fd;
    for (const r of kept) if (r.type === 'step' && typeof r['loss'] === 'number') this.losses.set(r.step, r['loss']);
  }

  /**
   * Opens (or creates) the log of a run that continues at `startStep`,
   * truncating it to the records of steps ≤ startStep. `onNote` hears about
   * dropped records and about steps ≤ startStep that the log lacks.
   */
  static open(path: string, startStep: number, onNote?: (message: string) => void): TrainLog {
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`TrainLog: cannot read '${path}': ${(error as Error).message}`);
    }
    const { records, torn } = parseLines(text);
    const kept: Record[] = [];
    const steps = new Set<number>();
    let dropped = 0;
    for (const r of records) {
      if (r.step > startStep || (r.type === 'step' && steps.has(r.step))) {
        dropped++;
        continue;
      }
      if (r.type === 'step') steps.add(r.step);
      kept.push(r);
    }
    if (dropped + torn > 0) onNote?.(`train-log.jsonl: kept the records up to step ${startStep}; dropped ${dropped} record(s) after it${torn > 0 ? ` and ${torn} torn line(s)` : ''} (those steps are trained again)`);
    const missing = startStep - [...steps].filter((s) => s >= 1 && s <= startStep).length;
    if (missing > 0) onNote?.(`train-log.jsonl lacks ${missing} of the ${startStep} step records before this resume (written by an older hemnet?)`);
    const temporary = `${path}.tmp-${process.pid}`;
    const fd = openSync(temporary, 'w');
    try {
      const body = kept.map((r) => `${JSON.stringify(r)}\n`).join('');
      if (body !== '') writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
    return new TrainLog(path, openSync(path, 'a'), kept);
  }

  /** Appends one event (synchronously). */
  append(event: TrainEvent): void {
    if (this.fd === null) throw new Error(`TrainLog: '${this.path}' is closed`);
    writeSync(this.fd, `${JSON.stringify(event)}\n`);
    if (event.type === 'step') this.losses.set(event.step, event.loss);
  }

  /** fsyncs the log (call before a checkpoint). */
  flush(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }

  /** Loss of steps 1..steps (NaN for a step the log lacks) and the steps missing. */
  stepLosses(steps: number): { losses: number[]; missing: number[] } {
    const losses: number[] = [];
    const missing: number[] = [];
    for (let s = 1; s <= steps; s++) {
      const loss = this.losses.get(s);
      if (loss === undefined) missing.push(s);
      losses.push(loss ?? NaN);
    }
    return { losses, missing };
  }
}

/** The `step` records of a log file, in file order (for tests and reports). */
export function readStepRecords(path: string): { step: number; loss: number }[] {
  return parseLines(readFileSync(path, 'utf8'))
    .records.filter((r) => r.type === 'step')
    .map((r) => ({ step: r.step, loss: Number(r['loss']) }));
}
