/**
 * Node only: sweeps across machines on BullMQ + Redis. `enqueueSweep` puts
 * the unfinished runs of a sweep folder on a queue and waits for them;
 * `runWorker` pulls runs and executes them with `runOne`. A worker that dies
 * has its job re-queued by BullMQ's stalled-job check (lockDuration,
 * stalledInterval); the next worker resumes the run from its checkpoint.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { checkSweepDirVisible, DONE_FILE, loadSweepDir, readJson, runOne, type RunOutcome, type RunSummary } from './runner.js';
import type { SweepRun } from './spec.js';

export const DEFAULT_QUEUE_NAME = 'hemnet-sweep';

export interface SweepJobData {
  sweepDir: string;
  markerId: string;
  run: string;
}

/** ioredis options from a redis:// URL; an invalid URL is an error naming it. */
export function redisOptions(url: string, who: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${who}: '--queue' must be a URL like redis://HOST:PORT, received '${url}'`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error(`${who}: '--queue' must be a redis:// or rediss:// URL, received '${url}'`);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port !== '' ? Number(parsed.port) : 6379,
    db: Number.isInteger(db) ? db : 0,
    ...(parsed.username !== '' ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password !== '' ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** Fails clearly (naming the URL) when Redis cannot be reached within `timeoutMs`. */
export async function checkRedis(url: string, who: string, timeoutMs = 3000): Promise<void> {
  const client = new Redis({ ...redisOptions(url, who), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, enableOfflineQueue: false });
  client.on('error', () => undefined);
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  } catch (error) {
    throw new Error(`${who}: cannot reach Redis at '${url}': ${(error as Error).message || String(error)}`);
  } finally {
    client.disconnect();
  }
}

/** BullMQ job ids may not contain ':'; run names never do. */
export function jobId(markerId: string, run: string): string {
  return `${markerId}|${run}`;
}

export interface EnqueueOptions {
  url: string;
  queueName: string;
  sweepDir: string;
  markerId: string;
  runs: readonly SweepRun[];
  maxAttempts: number;
  signal?: AbortSignal;
  pollMs?: number;
  onOutcome?: (outcome: RunOutcome) => void;
  onPoll?: (counts: { waiting: number; active: number; done: number; failed: number }) => void;
}

/**
 * Enqueues the runs (runs already queued keep their job; failed jobs of an
 * earlier attempt are replaced) and waits until each is done on disk or has
 * failed in the queue. Resolves to the outcomes (not-yet-finished runs are
 * 'interrupted' when `signal` aborts).
 */
export async function enqueueSweep(options: EnqueueOptions): Promise<RunOutcome[]> {
  const who = 'hemnet sweep run';
  await checkRedis(options.url, who);
  const queue = new Queue<SweepJobData>(options.queueName, { connection: redisOptions(options.url, who) });
  queue.on('error', () => undefined);
  const sweepDir = resolve(options.sweepDir);
  const started = performance.now();
  try {
    for (const run of options.runs) {
      const id = jobId(options.markerId, run.name);
      const existing = await queue.getJob(id);
      if (existing !== undefined && (await existing.isFailed())) await existing.remove();
      await queue.add(run.name, { sweepDir, markerId: options.markerId, run: run.name }, {
        jobId: id,
        attempts: options.maxAttempts,
        backoff: { type: 'fixed', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: false,
      });
    }
    const pending = new Map(options.runs.map((r) => [r.name, r]));
    const outcomes: RunOutcome[] = [];
    while (pending.size > 0) {
      if (options.signal?.aborted === true) {
        for (const name of pending.keys()) outcomes.push({ name, status: 'interrupted', attempts: 0, seconds: 0 });
        break;
      }
      let waiting = 0;
      let active = 0;
      for (const [name] of pending) {
        const donePath = join(sweepDir, name, DONE_FILE);
        if (existsSync(donePath)) {
          const summary = await readJson<RunSummary>(donePath);
          const outcome: RunOutcome = { name, status: 'done', attempts: summary.attempts, summary, seconds: (performance.now() - started) / 1000 };
          outcomes.push(outcome);
          options.onOutcome?.(outcome);
          pending.delete(name);
          continue;
        }
        const job = await queue.getJob(jobId(options.markerId, name));
        const state = job !== undefined ? await job.getState() : 'missing';
        if (state === 'failed') {
          const outcome: RunOutcome = { name, status: 'failed', attempts: job?.attemptsMade ?? 0, error: job?.failedReason ?? 'failed', seconds: (performance.now() - started) / 1000 };
          outcomes.push(outcome);
          options.onOutcome?.(outcome);
          pending.delete(name);
        } else if (state === 'active') active += 1;
        else waiting += 1;
      }
      options.onPoll?.({ waiting, active, done: outcomes.filter((o) => o.status === 'done').length, failed: outcomes.filter((o) => o.status === 'failed').length });
      if (pending.size > 0) await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
    }
    return outcomes;
  } finally {
    await queue.close();
  }
}

export interface WorkerOptions {
  url: string;
  queueName: string;
  concurrency: number;
  /** BullMQ lockDuration (ms): a dead worker's job is re-queued after this. */
  lockDuration: number;
  /** BullMQ stalledInterval (ms): how often workers look for stalled jobs. */
  stalledInterval: number;
  /** Times a job may stall (its worker died) before it fails. */
  maxStalledCount: number;
  log: (line: string) => void;
}

/**
 * Pulls sweep runs until SIGTERM/SIGINT: then the running trainings get
 * SIGINT (they checkpoint), their jobs go back to the queue, and it resolves.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const who = `hemnet worker (${hostname()} pid ${process.pid})`;
  await checkRedis(options.url, who);
  const stop = new AbortController();
  const processor = async (job: Job<SweepJobData>, token?: string): Promise<string> => {
    const { sweepDir, markerId, run: runName } = job.data;
    await checkSweepDirVisible(sweepDir, markerId, who);
    const { spec, runs } = await loadSweepDir(sweepDir);
    const run = runs.find((r) => r.name === runName);
    if (run === undefined) throw new Error(`${who}: the sweep in '${sweepDir}' has no run '${runName}'`);
    options.log(`start ${runName} (attempt ${job.attemptsMade + 1}${job.stalledCounter > 0 ? `, re-queued ${job.stalledCounter}× after a lost worker` : ''})`);
    const outcome = await runOne({ sweepDir, spec, run, maxAttempts: 1, signal: stop.signal, log: options.log });
    if (outcome.status === 'busy') {
      options.log(`busy ${runName}: ${outcome.error ?? ''}; retrying in 2 s`);
      await job.moveToDelayed(Date.now() + 2000, token);
      throw new DelayedError();
    }
    if (outcome.status === 'interrupted') {
      options.log(`released ${runName} (checkpointed; another worker resumes it)`);
      await job.moveToDelayed(Date.now() + 100, token);
      throw new DelayedError();
    }
    if (outcome.status === 'failed') throw new Error(outcome.error ?? 'failed');
    const s = outcome.summary;
    options.log(`${outcome.status} ${runName}${s !== undefined ? `  mIoU ${(100 * s.meanIoU).toFixed(2)}` : ''}  (${outcome.seconds.toFixed(1)} s)`);
    return outcome.status;
  };
  const worker = new Worker<SweepJobData>(options.queueName, processor, {
    connection: redisOptions(options.url, who),
    concurrency: options.concurrency,
    lockDuration: options.lockDuration,
    stalledInterval: options.stalledInterval,
    maxStalledCount: options.maxStalledCount,
  });
  worker.on('error', (error) => options.log(`queue error: ${error.message}`));
  worker.on('failed', (job, error) => {
    if (job !== undefined) options.log(`failed ${job.data.run} (attempt ${job.attemptsMade}): ${error.message}`);
  });
  await worker.waitUntilReady();
  options.log(`waiting for sweep runs on queue '${options.queueName}' at ${options.url} (concurrency ${options.concurrency})`);
  await new Promise<void>((resolvePromise) => {
    const onSignal = (sig: NodeJS.Signals) => {
      options.log(`${sig}: stopping (running trainings checkpoint, their jobs are released)`);
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
      stop.abort(sig);
      resolvePromise();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await worker.close();
}
