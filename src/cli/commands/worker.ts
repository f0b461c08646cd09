import { availableParallelism, hostname } from 'node:os';
import type { CommandSpec } from '../command.js';
import { numberOption, requireOption, stringOption } from '../command.js';
import { DEFAULT_QUEUE_NAME, redisOptions, runWorker } from '../../sweep/queue.js';

function integer(flag: string, value: string | boolean | undefined, fallback: number, min: number): number {
  const n = numberOption(flag, value, fallback);
  if (!Number.isInteger(n) || n < min) throw new Error(`hemnet worker: '--${flag}' must be an integer ≥ ${min}, received '${String(value)}'`);
  return n;
}

export const workerSpec: CommandSpec = {
  name: 'worker',
  summary: "Pull sweep runs from a BullMQ queue on Redis and run them (start one per machine; see 'hemnet sweep run --queue')",
  synopsis: '--queue redis://HOST:PORT [--concurrency N]',
  description:
    'The sweep folder must be visible and writable at the same path on every worker machine (shared storage). ' +
    "A worker that dies mid-run has its job re-queued after --lock-duration; another worker resumes the run from its checkpoint. " +
    'SIGTERM/SIGINT: running trainings checkpoint, their jobs go back to the queue, the worker exits.',
  configFlags: false,
  options: {
    queue: { type: 'string', value: 'URL', help: 'Redis URL, e.g. redis://10.0.0.5:6379' },
    'queue-name': { type: 'string', value: 'NAME', help: `BullMQ queue name (default ${DEFAULT_QUEUE_NAME})` },
    concurrency: { type: 'string', value: 'N', help: 'runs at a time on this machine (default: its cores)' },
    'lock-duration': { type: 'string', value: 'MS', help: "BullMQ lockDuration: a dead worker's job is re-queued after this (default 30000)" },
    'stalled-interval': { type: 'string', value: 'MS', help: 'BullMQ stalledInterval: how often workers look for stalled jobs (default 30000)' },
    'max-stalled': { type: 'string', value: 'N', help: 'times a job may lose its worker before it fails (default 5)' },
  },
  run: async ({ values, io }) => {
    const url = requireOption('worker', '--queue URL', values.queue, 'the Redis that holds the sweep queue, redis://HOST:PORT');
    redisOptions(url, 'hemnet worker');
    const tag = `[worker ${hostname()} ${process.pid}]`;
    await runWorker({
      url,
      queueName: stringOption(values['queue-name']) ?? DEFAULT_QUEUE_NAME,
      concurrency: integer('concurrency', values.concurrency, availableParallelism(), 1),
      lockDuration: integer('lock-duration', values['lock-duration'], 30000, 100),
      stalledInterval: integer('stalled-interval', values['stalled-interval'], 30000, 100),
      maxStalledCount: integer('max-stalled', values['max-stalled'], 5, 0),
      log: (line) => io.out(`${tag} ${line}\n`),
    });
    return 0;
  },
};
