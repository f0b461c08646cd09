import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { CommandSpec } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { ProgressBar } from '../progress.js';
import { runLocalPool } from '../../sweep/pool.js';
import { DEFAULT_QUEUE_NAME, enqueueSweep, redisOptions } from '../../sweep/queue.js';
import { writeSweepReport } from '../../sweep/report.js';
import { DONE_FILE, loadSweepFile, prepareSweepDir, type RunOutcome } from '../../sweep/runner.js';
import { compareSweeps, compareSweepsMarkdown } from '../../sweep/compareSweeps.js';
import { SweepProgress, formatSweepStatus, sweepStatus } from '../../sweep/progress.js';
import { threadsPerRun, type SweepComparison } from '../../sweep/spec.js';
import { existsSync } from 'node:fs';

function integerOption(flag: string, value: string | boolean | undefined, fallback: number, min: number): number {
  const n = numberOption(flag, value, fallback);
  if (!Number.isInteger(n) || n < min) throw new Error(`hemnet sweep: '--${flag}' must be an integer ≥ ${min}, received '${String(value)}'`);
  return n;
}

/** `--compare AXIS=A:B` → a comparison of cells differing only in AXIS. */
function parseCompare(text: string | undefined): SweepComparison[] {
  if (text === undefined) return [];
  const match = /^([^=]+)=([^:]+):(.+)$/.exec(text);
  if (match === null) throw new Error(`hemnet sweep report: '--compare' must be AXIS=A:B (e.g. model.head=hem:ema), received '${text}'`);
  const asValue = (v: string): unknown => (v !== '' && Number.isFinite(Number(v)) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v);
  return [{ axis: match[1] as string, a: asValue(match[2] as string), b: asValue(match[3] as string) }];
}

function outcomeLine(o: RunOutcome): string {
  const s = o.summary;
  if (o.status === 'failed') return `failed  ${o.name} after ${o.attempts} attempt(s): ${o.error ?? ''}`;
  if (o.status === 'busy') return `busy    ${o.name}: ${o.error ?? ''} (another sweep or worker runs it)`;
  if (s === undefined) return `${o.status} ${o.name}`;
  return `${o.status === 'skipped' ? 'skipped' : 'done   '} ${o.name}  mIoU ${(100 * s.meanIoU).toFixed(2)}  pixel acc. ${(100 * s.pixelAccuracy).toFixed(2)}  ${s.imagesPerSecond.toFixed(1)} img/s  (${s.host}${o.attempts > 1 ? `, ${o.attempts} attempts` : ''})`;
}

export const sweepSpec: CommandSpec = {
  name: 'sweep',
  summary: 'Run an ablation grid (sweep file: base config × axes × seeds) on a local worker pool or a BullMQ/Redis queue; report it',
  synopsis: 'run SWEEP.json [--out DIR] [--workers N | --queue redis://HOST:PORT] | status SWEEP_DIR | report SWEEP_DIR [--compare AXIS=A:B] [--out DIR] | compare A_DIR B_DIR',
  description:
    "'sweep run' is idempotent: finished runs are skipped, interrupted runs resume from their checkpoints, failed runs are retried (--retries) and then reported. " +
    "Each run is a child 'hemnet train' (then 'hemnet eval' per evaluation) writing an ordinary run folder <sweep folder>/<axis=value,...>/seed-<s>. " +
    "With --queue the runs go on a BullMQ queue for 'hemnet worker --queue URL' processes on any machine that sees the sweep folder at the same path. " +
    "'sweep status' prints what every run of a sweep folder is doing (done with its mIoU, running at step s of n, stopped, failed, pending), from any process. " +
    "'sweep compare' sets two sweep folders of the same grid side by side (e.g. a re-run after a fix): per cell, mIoU over the seeds finished in both and B − A paired by seed with its 95% CI, after the keys where their base configs differ. See docs/sweeps.md.",
  configFlags: false,
  maxPositionals: 3,
  options: {
    out: { type: 'string', value: 'DIR', help: 'run: the sweep folder (default runs/sweeps/<name>); report: the report folder (default SWEEP_DIR/report)' },
    workers: { type: 'string', value: 'N', help: 'run: runs at a time in the local pool (default: cores / train.workers of the base config)' },
    queue: { type: 'string', value: 'URL', help: "run: enqueue on BullMQ at this Redis (redis://HOST:PORT) for 'hemnet worker' processes instead of the local pool" },
    'queue-name': { type: 'string', value: 'NAME', help: `run: BullMQ queue name (default ${DEFAULT_QUEUE_NAME})` },
    retries: { type: 'string', value: 'N', help: 'run: retries of a failed run before it is reported (default 2)' },
    'progress-every': { type: 'string', value: 'S', help: "run: a line every S seconds with each running run's step and the time left (default 60; 0: none; local pool only)" },
    compare: { type: 'string', value: 'AXIS=A:B', help: "report: also compare cells differing only in AXIS, value A vs B (paired by seed), e.g. model.head=hem:ema" },
  },
  run: async ({ values, positionals, io }) => {
    const [action, target, second] = positionals;
    if (action === 'compare') {
      if (target === undefined || second === undefined) throw new Error("hemnet sweep compare: two sweep folders are required ('hemnet sweep compare A_DIR B_DIR')");
      io.out(compareSweepsMarkdown(await compareSweeps(target, second)));
      return 0;
    }
    if (second !== undefined) throw new Error(`hemnet sweep ${action ?? ''}: unexpected argument '${second}'`);
    if (action === 'report') {
      if (target === undefined) throw new Error("hemnet sweep report: a sweep folder is required ('hemnet sweep report SWEEP_DIR')");
      const out = stringOption(values.out) ?? join(target, 'report');
      const { report, files } = await writeSweepReport(target, out, parseCompare(stringOption(values.compare)));
      io.out(`${report.finished} of ${report.runs} runs finished · wrote ${files.join(', ')}\n`);
      return 0;
    }
    if (action === 'status') {
      if (target === undefined) throw new Error("hemnet sweep status: a sweep folder is required ('hemnet sweep status SWEEP_DIR')");
      io.out(`${formatSweepStatus(await sweepStatus(target), target).join('\n')}\n`);
      return 0;
    }
    if (action !== 'run') throw new Error(`hemnet sweep: expected 'run SWEEP.json', 'status SWEEP_DIR' or 'report SWEEP_DIR', received '${action ?? ''}' (or 'compare A_DIR B_DIR')`);
    if (target === undefined) throw new Error("hemnet sweep run: a sweep file is required ('hemnet sweep run SWEEP.json')");
    const { spec, runs } = await loadSweepFile(target);
    const retries = integerOption('retries', values.retries, 2, 0);
    const progressEvery = numberOption('progress-every', values['progress-every'], 60);
    if (!(progressEvery >= 0) || !Number.isFinite(progressEvery)) throw new Error(`hemnet sweep: '--progress-every' must be a number of seconds ≥ 0, received '${String(values['progress-every'])}'`);
    const queueUrl = stringOption(values.queue);
    if (queueUrl !== undefined) redisOptions(queueUrl, 'hemnet sweep run');
    const workers = integerOption('workers', values.workers, Math.max(1, Math.floor(availableParallelism() / threadsPerRun(spec))), 1);
    const sweepDir = resolve(stringOption(values.out) ?? join('runs', 'sweeps', spec.name));
    const { markerId, change } = await prepareSweepDir(sweepDir, spec);
    if (change.kind === 'grown') {
      const parts = [
        ...(change.addedSeeds.length > 0 ? [`seeds ${change.addedSeeds.join(', ')} added`] : []),
        ...(change.addedKeys.length > 0 ? [`config keys new since the folder was made: ${change.addedKeys.join(', ')}`] : []),
        ...(change.addedValues !== undefined ? [`axis values added: ${change.addedValues.join(', ')}`] : []),
        ...(change.addedComparisons !== undefined ? [`${change.addedComparisons} comparison(s) added`] : []),
        ...(change.description ? ['description changed'] : []),
      ];
      io.out(`sweep ${spec.name}: updated ${join(sweepDir, 'sweep.json')} (${parts.join('; ')}); finished runs are kept\n`);
    }
    const todo = runs.filter((r) => !existsSync(join(sweepDir, r.name, DONE_FILE)));
    io.out(`sweep ${spec.name}: ${runs.length} runs (${runs.length - todo.length} finished, ${todo.length} to run) in ${sweepDir}` +
      (queueUrl !== undefined ? ` · queue ${queueUrl}\n` : ` · ${workers} local worker(s)\n`));
    // Between the lines that end runs: each running run's step and the time left (local pool).
    const progress = new SweepProgress(sweepDir, todo.length, runs.length - todo.length, workers);
    // The bar's estimate is the progress reader's (by steps) where it has one: a count of runs misleads when runs resume part way.
    const bar = new ProgressBar({
      label: 'sweep', total: Math.max(1, todo.length), plainEvery: 1, enabled: io.quiet !== true,
      ...(queueUrl === undefined ? { secondsLeft: () => progress.secondsLeft() } : {}),
      ...(io.progressStream ? { stream: io.progressStream } : {}),
    });
    let finished = 0;
    const showProgress = queueUrl === undefined && io.quiet !== true && progressEvery > 0 && todo.length > 0;
    let polling = false;
    const timer = showProgress
      ? setInterval(() => {
          if (polling) return;
          polling = true;
          void progress.poll().then(() => io.err(`${progress.line()}\n`)).finally(() => (polling = false));
        }, progressEvery * 1000)
      : undefined;
    timer?.unref();
    const onOutcome = (o: RunOutcome) => {
      progress.ended(o.name, o.status === 'done' || o.status === 'skipped');
      io.out(`${outcomeLine(o)}\n`);
      if (o.status !== 'interrupted') bar.update(++finished, { failed: String(failedCount += o.status === 'failed' || o.status === 'busy' ? 1 : 0) });
    };
    let failedCount = 0;
    const controller = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => {
      io.err(`${sig}: stopping the sweep (running trainings checkpoint; 'hemnet sweep run' again continues)\n`);
      controller.abort(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let outcomes: RunOutcome[];
    try {
      outcomes =
        queueUrl !== undefined
          ? await enqueueSweep({ url: queueUrl, queueName: stringOption(values['queue-name']) ?? DEFAULT_QUEUE_NAME, sweepDir, markerId, runs: todo, maxAttempts: retries + 1, signal: controller.signal, onOutcome })
          : await runLocalPool({
              sweepDir, spec, runs: todo, workers, maxAttempts: retries + 1, signal: controller.signal, onOutcome,
              onStart: (r) => {
                progress.started(r.name);
                io.out(`start   ${r.name}\n`);
              },
              log: (line) => io.err(`${line}\n`),
            });
    } finally {
      clearInterval(timer);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    if (todo.length === 0) bar.update(1);
    const failed = outcomes.filter((o) => o.status === 'failed' || o.status === 'busy');
    if (controller.signal.aborted) {
      io.err(`interrupted: ${outcomes.filter((o) => o.status === 'done').length} runs finished in this call; run 'hemnet sweep run ${target}${stringOption(values.out) !== undefined ? ` --out ${String(values.out)}` : ''}' again to continue\n`);
      return 130;
    }
    const { files } = await writeSweepReport(sweepDir, join(sweepDir, 'report'));
    io.out(`report: ${files[0] ?? ''}\n`);
    if (failed.length > 0) {
      io.err(`${failed.length} run(s) failed:\n${failed.map((f) => `  ${f.name}: ${f.error ?? ''}`).join('\n')}\n`);
      return 1;
    }
    return 0;
  },
};
