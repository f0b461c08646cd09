/**
 * What a running sweep is doing between the lines that end its runs (Node
 * only): each running run's step, read from the `train-log.jsonl` its child
 * `hemnet train` appends to, and an estimate of the time left for the whole
 * sweep. A run of the attention-bench preset trains for ≈ 15–30 minutes, so
 * without this a sweep says nothing for that long.
 *
 * The estimate: steps left (the running runs' remaining steps, plus the
 * queued runs' at the largest step count seen so far) divided by the pool's
 * rate: the mean rate of the running runs (each measured between two polls)
 * times the runs at a time (`parallel`, fewer once fewer runs are left). It
 * assumes the pool stays full and ignores the evaluations after training.
 *
 * `sweepStatus` is the same reading from outside: what every run of a sweep
 * folder is doing, for `hemnet sweep status` (any process, e.g. while
 * queue workers on other machines train it).
 */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DONE_FILE, LOCK_FILE, liveLockHolder, loadSweepDir, readJson, type RunSummary } from './runner.js';

/** The latest training position of one run, from its train-log.jsonl. */
export interface RunPosition {
  step: number;
  totalSteps: number;
}

/** How much of a log's end is read: several step lines, and one monitor line (≈ 3 KB at K = 32). */
const TAIL_BYTES = 16384;

/**
 * The last step (and its total) of the train-log.jsonl in `runDir`: the last
 * complete line of type 'step', or 'start' (step 0 of a fresh run, or the
 * step it resumed from) when no step line follows it. Null when the file is
 * missing or holds neither yet. A partly written last line is skipped.
 */
export async function readRunPosition(runDir: string): Promise<RunPosition | null> {
  let text: string;
  try {
    const file = await open(join(runDir, 'train-log.jsonl'), 'r');
    try {
      const { size } = await file.stat();
      const length = Math.min(size, TAIL_BYTES);
      const buffer = Buffer.alloc(length);
      await file.read(buffer, 0, length, size - length);
      text = buffer.toString('utf8');
    } finally {
      await file.close();
    }
  } catch {
    return null;
  }
  const lines = text.split('\n');
  // The last element is '' after a complete line, or a partly written line: either way not parsed.
  for (let i = lines.length - 2; i >= 0; i--) {
    const line = lines[i] as string;
    if (!line.startsWith('{"type":"step"') && !line.startsWith('{"type":"start"')) continue;
    try {
      const event = JSON.parse(line) as { step?: unknown; totalSteps?: unknown };
      if (typeof event.step === 'number' && typeof event.totalSteps === 'number') return { step: event.step, totalSteps: event.totalSteps };
    } catch {
      // The first line of the tail may be cut: keep looking further up.
    }
  }
  return null;
}

interface Running {
  dir: string;
  position: RunPosition | null;
  /** The step and the time (ms) of the poll before, for the rate. */
  previous: { step: number; at: number } | null;
  /** Steps per second between the last two polls. */
  rate: number | null;
}

/** "1 h 05 min", "12 min", "40 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** Tracks the runs of one `sweep run` call and writes its progress lines. */
export class SweepProgress {
  private readonly running = new Map<string, Running>();
  /** Runs done (or found done) in this call. */
  private finished = 0;
  /** Runs that ended in this call in any way (done, failed, interrupted, …): no longer to run. */
  private over = 0;
  private largestTotal = 0;

  /**
   * @param sweepDir the sweep folder (runs are `sweepDir/<name>`)
   * @param runs the runs this call will run
   * @param finishedBefore runs already finished when the call began
   * @param parallel runs at a time (the local pool's workers)
   */
  constructor(
    private readonly sweepDir: string,
    private readonly runs: number,
    private readonly finishedBefore: number,
    private readonly parallel = 1,
  ) {}

  /** A run's child started. */
  started(name: string): void {
    this.running.set(name, { dir: join(this.sweepDir, name), position: null, previous: null, rate: null });
  }

  /** A run ended; `finished`: it is done (trained and evaluated, now or before), not failed or interrupted. */
  ended(name: string, finished = true): void {
    const run = this.running.get(name);
    if (run?.position) this.largestTotal = Math.max(this.largestTotal, run.position.totalSteps);
    this.running.delete(name);
    this.over++;
    if (finished) this.finished++;
  }

  /** Reads every running run's log; `now` in ms (performance.now() by default). */
  async poll(now = performance.now()): Promise<void> {
    await Promise.all(
      [...this.running.values()].map(async (run) => {
        const position = await readRunPosition(run.dir);
        if (position === null) return;
        if (run.previous !== null && now > run.previous.at && position.step >= run.previous.step) {
          run.rate = ((position.step - run.previous.step) * 1000) / (now - run.previous.at);
        }
        run.previous = { step: position.step, at: now };
        run.position = position;
        this.largestTotal = Math.max(this.largestTotal, position.totalSteps);
      }),
    );
  }

  /** Seconds left for the whole call, or null before a rate is known. */
  secondsLeft(): number | null {
    const active = [...this.running.values()];
    const rates = active.map((r) => r.rate).filter((r): r is number => r !== null);
    if (!(rates.some((r) => r > 0) && this.largestTotal > 0)) return null;
    const queued = Math.max(0, this.runs - this.over - active.length);
    const atOnce = Math.max(1, Math.min(this.parallel, active.length + queued));
    const total = (rates.reduce((a, b) => a + b, 0) / rates.length) * atOnce;
    const stepsLeft = active.reduce((sum, r) => sum + (r.position === null ? this.largestTotal : Math.max(0, r.position.totalSteps - r.position.step)), 0) + queued * this.largestTotal;
    return stepsLeft / total;
  }

  /** One line: runs finished, each running run's step, the estimate. */
  line(): string {
    const done = this.finishedBefore + this.finished;
    const all = this.finishedBefore + this.runs;
    const parts = [...this.running.entries()].map(([name, r]) => {
      if (r.position === null) return `${name} starting`;
      const { step, totalSteps } = r.position;
      if (step >= totalSteps) return `${name} evaluating`;
      return `${name} ${step}/${totalSteps}${r.rate !== null ? ` (${r.rate.toFixed(2)} steps/s)` : ''}`;
    });
    const left = this.secondsLeft();
    return `progress ${done}/${all} runs finished${parts.length > 0 ? ` · ${parts.join(' · ')}` : ''}${left !== null ? ` · ≈ ${formatDuration(left)} left` : ''}`;
  }
}

/** One run of a sweep folder, as `hemnet sweep status` shows it. */
export interface RunStatus {
  name: string;
  /**
   * done: sweep-done.json is there; failed: its last attempt failed
   * (sweep-error.json) and nothing holds it; running: a live process holds
   * its lock (heartbeat younger than the stale age, and not a process of
   * this machine that has exited, as `sweep run` judges it); stopped: it trained
   * part way and nothing holds it (the next `sweep run` resumes it);
   * pending: nothing written yet.
   */
  state: 'done' | 'failed' | 'running' | 'stopped' | 'pending';
  position: RunPosition | null;
  /** done: validation mIoU in [0, 1]. */
  meanIoU?: number;
  /** failed: the error; running: the lock's holder. */
  detail?: string;
}

/** The state of every run of the sweep folder `dir` (its sweep.json lists them), in the sweep's order. */
export async function sweepStatus(dir: string, now = Date.now()): Promise<{ name: string; runs: RunStatus[] }> {
  const { spec, runs } = await loadSweepDir(dir);
  const rows = await Promise.all(
    runs.map(async (run): Promise<RunStatus> => {
      const runDir = join(dir, run.name);
      const position = await readRunPosition(runDir);
      if (existsSync(join(runDir, DONE_FILE))) {
        const summary = await readJson<RunSummary>(join(runDir, DONE_FILE));
        return { name: run.name, state: 'done', position, meanIoU: summary.meanIoU };
      }
      const live = await liveLockHolder(join(runDir, LOCK_FILE), now);
      if (live !== null) return { name: run.name, state: 'running', position, detail: live.owner };
      const errorPath = join(runDir, 'sweep-error.json');
      if (existsSync(errorPath)) {
        const error = await readJson<{ error?: string }>(errorPath).catch(() => ({ error: undefined }));
        return { name: run.name, state: 'failed', position, detail: error.error ?? 'sweep-error.json is unreadable' };
      }
      return { name: run.name, state: position === null ? 'pending' : 'stopped', position };
    }),
  );
  return { name: spec.name, runs: rows };
}

/** The lines `hemnet sweep status` prints: a summary, then one line per run. */
export function formatSweepStatus(status: { name: string; runs: RunStatus[] }, dir: string): string[] {
  const count = (state: RunStatus['state']) => status.runs.filter((r) => r.state === state).length;
  const width = Math.max(...status.runs.map((r) => r.name.length), 4);
  const lines = [`sweep ${status.name}: ${status.runs.length} runs · ${count('done')} done · ${count('running')} running · ${count('stopped')} stopped · ${count('failed')} failed · ${count('pending')} pending (${dir})`];
  for (const r of status.runs) {
    const at = r.position === null ? '' : r.position.step >= r.position.totalSteps ? 'trained' : `step ${r.position.step}/${r.position.totalSteps} (${Math.floor((100 * r.position.step) / r.position.totalSteps)} %)`;
    const what =
      r.state === 'done' ? `mIoU ${(100 * (r.meanIoU ?? Number.NaN)).toFixed(2)}`
      : r.state === 'running' ? `${at === 'trained' ? 'evaluating' : at}${r.detail !== undefined ? `  ${r.detail}` : ''}`
      : r.state === 'stopped' ? `${at}  (the next 'sweep run' resumes it)`
      : r.state === 'failed' ? `${at !== '' ? `${at}  ` : ''}${r.detail ?? ''}`
      : '';
    lines.push(`${r.state.padEnd(8)} ${r.name.padEnd(width)}  ${what}`.trimEnd());
  }
  return lines;
}
