/**
 * `hemnet sweep` end to end with real parts: the built CLI as child
 * processes, a real redis-server on 127.0.0.1 (scripts/ensure-redis.sh
 * installs it), BullMQ workers killed with SIGKILL and stopped with SIGTERM.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../cli/main.js';
import type { Output } from '../cli/command.js';
import type { RunSummary } from './runner.js';

const BIN = resolve('dist/cli/main.js');
const REDIS = process.env.HEMNET_REDIS_SERVER ?? '/usr/bin/redis-server';
const TINY_BASE = {
  backend: 'wasm',
  model: { width: 8, channels: 16, hem: { numBases: 4 } },
  data: { trainSize: 8, valSize: 4, canvasSize: 32 },
  train: { steps: 3, batchSize: 2, checkpointEvery: 1 },
};
// 2 × 2 cells × 2 seeds.
const GRID = { name: 'grid', base: TINY_BASE, axes: { 'model.hem.stepSize': [0.5, 1], 'model.hem.trainIterations': [1, 2] }, seeds: [0, 1] };
const WORKER_FLAGS = ['--concurrency', '1', '--lock-duration', '8000', '--stalled-interval', '2000'];

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startCli(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, output: () => text, exited };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function exitWithin(proc: Proc, timeoutMs: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([proc.exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))]);
  clearTimeout(timer);
  if (code === 'timeout') {
    proc.child.kill('SIGKILL');
    throw new Error(`${what} did not exit within ${timeoutMs} ms:\n${proc.output()}`);
  }
  return code;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function capture(): Output & { text: () => string } {
  const out: string[] = [];
  const devNull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  return { out: (t) => out.push(t), err: (t) => out.push(t), progressStream: devNull, text: () => out.join('') };
}

async function summaries(sweepDir: string, names: string[]): Promise<Map<string, RunSummary>> {
  const map = new Map<string, RunSummary>();
  for (const name of names) map.set(name, JSON.parse(await readFile(join(sweepDir, name, 'sweep-done.json'), 'utf8')) as RunSummary);
  return map;
}

async function loggedSteps(runDir: string): Promise<number[]> {
  const text = existsSync(join(runDir, 'train-log.jsonl')) ? await readFile(join(runDir, 'train-log.jsonl'), 'utf8') : '';
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; step: number }).filter((e) => e.type === 'step').map((e) => e.step);
}

const RUNS = ['stepSize=0.5,trainIterations=1', 'stepSize=0.5,trainIterations=2', 'stepSize=1,trainIterations=1', 'stepSize=1,trainIterations=2'].flatMap((c) => [`${c}/seed-0`, `${c}/seed-1`]);

describe('hemnet sweep', () => {
  let dir = '';
  let redis: ChildProcess | undefined;
  let redisUrl = '';
  const procs: Proc[] = [];
  const start = (args: string[]) => {
    const p = startCli(args);
    procs.push(p);
    return p;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hemnet-sweep-'));
    await writeFile(join(dir, 'grid.json'), JSON.stringify(GRID));
    const port = await freePort();
    redisUrl = `redis://127.0.0.1:${port}`;
    const redisDir = join(dir, 'redis');
    await rm(redisDir, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(redisDir));
    redis = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    redis.stdout?.on('data', (c: Buffer) => (log += c.toString()));
    await waitFor('redis-server to accept connections', () => log.includes('Ready to accept connections'), 15000);
  });

  after(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    redis?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    await rm(dir, { recursive: true, force: true });
  });

  let local = new Map<string, RunSummary>();

  it('local pool: a killed `sweep run` restarts without re-running what finished', { timeout: 400_000 }, async () => {
    const out = join(dir, 'local');
    const first = start(['sweep', 'run', join(dir, 'grid.json'), '--out', out, '--workers', '1']);
    await waitFor('the first run to finish', () => existsSync(join(out, RUNS[0] as string, 'sweep-done.json')), 200_000);
    first.child.kill('SIGKILL');
    await exitWithin(first, 10_000, 'sweep run after SIGKILL');
    await new Promise((r) => setTimeout(r, 1000)); // its children die with it (orphan guard)
    const finished: string[] = [];
    for (const name of RUNS) if (existsSync(join(out, name, 'sweep-done.json'))) finished.push(name);
    const before = new Map<string, string>();
    for (const name of finished) before.set(name, (await readFile(join(out, name, 'sweep-done.json'), 'utf8')) + (await readFile(join(out, name, 'train-log.jsonl'), 'utf8')));

    const second = start(['sweep', 'run', join(dir, 'grid.json'), '--out', out, '--workers', '2', '--progress-every', '0.5']);
    assert.equal(await exitWithin(second, 300_000, 'sweep run (restart)'), 0, second.output());
    assert.match(second.output(), new RegExp(`8 runs \\(${finished.length} finished, ${8 - finished.length} to run\\)`));
    // Progress lines between the runs' ends: runs finished so far, and what each running run does.
    assert.match(second.output(), /^progress [0-8]\/8 runs finished · \S+ (starting|\d\/3|evaluating)/m);
    for (const name of finished) {
      assert.ok(!second.output().includes(`start   ${name}`), `${name} was run again`);
      assert.equal((await readFile(join(out, name, 'sweep-done.json'), 'utf8')) + (await readFile(join(out, name, 'train-log.jsonl'), 'utf8')), before.get(name));
    }
    local = await summaries(out, RUNS);
    for (const name of RUNS) assert.deepEqual([...new Set(await loggedSteps(join(out, name)))], [1, 2, 3], name);
    const report = JSON.parse(await readFile(join(out, 'report', 'report.json'), 'utf8')) as { finished: number; cells: Array<{ cell: string; seeds: number[] }> };
    assert.equal(report.finished, 8);
    assert.deepEqual(report.cells.map((c) => c.seeds), [[0, 1], [0, 1], [0, 1], [0, 1]]);
    const status = spawnSync(process.execPath, [BIN, 'sweep', 'status', out], { encoding: 'utf8' });
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /^sweep grid: 8 runs · 8 done · 0 running · 0 stopped · 0 failed · 0 pending/);
    assert.equal(status.stdout.split('\n').filter((l) => /^done +\S+ +mIoU \d+\.\d\d$/.test(l)).length, 8, status.stdout);
    const compared = spawnSync(process.execPath, [BIN, 'sweep', 'compare', out, out], { encoding: 'utf8' });
    assert.equal(compared.status, 0, compared.stderr);
    assert.match(compared.stdout, /The base configs are the same/);
    assert.equal(compared.stdout.split('\n').filter((l) => /^\| \S+ \| 0, 1 \| .* \| \+0\.00 \| \[\+0\.00, \+0\.00\] \|$/.test(l)).length, 4, compared.stdout);
    // Every run folder is an ordinary one: `hemnet info` opens it.
    const info = spawnSync(process.execPath, [BIN, 'info', '--run', join(out, RUNS[0] as string)], { encoding: 'utf8' });
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /parameters: [\d,]+/);
  });

  it('two workers through Redis: every run once, metrics identical to the local pool', { timeout: 400_000 }, async () => {
    const out = join(dir, 'queued');
    const w1 = start(['worker', '--queue', redisUrl, ...WORKER_FLAGS]);
    const w2 = start(['worker', '--queue', redisUrl, ...WORKER_FLAGS]);
    try {
      const sweep = start(['sweep', 'run', join(dir, 'grid.json'), '--out', out, '--queue', redisUrl]);
      assert.equal(await exitWithin(sweep, 300_000, 'sweep run --queue'), 0, sweep.output());
      const queued = await summaries(out, RUNS);
      for (const name of RUNS) {
        const a = local.get(name) as RunSummary;
        const b = queued.get(name) as RunSummary;
        assert.deepEqual([b.meanIoU, b.pixelAccuracy, b.perClassIoU], [a.meanIoU, a.pixelAccuracy, a.perClassIoU], name);
        // Trained exactly once: one training attempt, each step logged once.
        assert.deepEqual(await loggedSteps(join(out, name)), [1, 2, 3], name);
        const trainings = (w1.output() + w2.output()).split('\n').filter((l) => l.includes(`${name}: training`)).length;
        assert.equal(trainings, 1, `${name} trained ${trainings} times`);
      }
      assert.ok(w1.output().includes('training') && w2.output().includes('training'), 'both workers ran jobs');
    } finally {
      w1.child.kill('SIGTERM');
      w2.child.kill('SIGTERM');
      assert.equal(await exitWithin(w1, 30_000, 'worker 1'), 0);
      assert.equal(await exitWithin(w2, 30_000, 'worker 2'), 0);
    }
  });

  it('a SIGKILLed worker’s job is re-queued and resumed; SIGTERM checkpoints and releases it', { timeout: 400_000 }, async () => {
    const file = join(dir, 'long.json');
    await writeFile(file, JSON.stringify({ name: 'long', base: { ...TINY_BASE, train: { ...TINY_BASE.train, steps: 9 } }, seeds: [3] }));
    const out = join(dir, 'long');
    const runDir = join(out, 'base', 'seed-3');
    const a = start(['worker', '--queue', redisUrl, ...WORKER_FLAGS]);
    const sweep = start(['sweep', 'run', file, '--out', out, '--queue', redisUrl]);
    await waitFor('worker A to checkpoint step 2', async () => (await loggedSteps(runDir)).length >= 3 && existsSync(join(runDir, 'checkpoints', 'latest.json')), 200_000);
    a.child.kill('SIGKILL');
    await exitWithin(a, 10_000, 'worker A after SIGKILL');
    const b = start(['worker', '--queue', redisUrl, ...WORKER_FLAGS]);
    await waitFor('worker B to take the re-queued job', () => b.output().includes('base/seed-3: training (resuming'), 90_000);
    assert.match(b.output(), /re-queued 1× after a lost worker/);
    const stepsSeen = (await loggedSteps(runDir)).length;
    await waitFor('worker B to train a step', async () => (await loggedSteps(runDir)).length > stepsSeen, 120_000);
    b.child.kill('SIGTERM');
    assert.equal(await exitWithin(b, 60_000, 'worker B after SIGTERM'), 0, b.output());
    assert.match(b.output(), /released base\/seed-3 \(checkpointed/);
    assert.ok(!existsSync(join(runDir, 'sweep-done.json')));
    const c = start(['worker', '--queue', redisUrl, ...WORKER_FLAGS]);
    assert.equal(await exitWithin(sweep, 200_000, 'sweep run --queue'), 0, sweep.output());
    assert.match(c.output(), /start base\/seed-3/);
    const log = await readFile(join(runDir, 'sweep-log.txt'), 'utf8');
    assert.equal(log.match(/resuming at step \d+/g)?.length, 2, log);
    assert.deepEqual([...new Set(await loggedSteps(runDir))].sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const done = JSON.parse(await readFile(join(runDir, 'sweep-done.json'), 'utf8')) as RunSummary;
    assert.equal(done.attempts, 3);
    assert.equal(done.losses.length, 9);
    const report = JSON.parse(await readFile(join(out, 'report', 'report.json'), 'utf8')) as { finished: number; cells: unknown[] };
    assert.equal(report.finished, 1);
    assert.equal(report.cells.length, 1);
    c.child.kill('SIGTERM');
    assert.equal(await exitWithin(c, 20_000, 'worker C'), 0);
  });

  it('a failing run is retried, then reported with its error; the sweep exits 1', { timeout: 200_000 }, async () => {
    const file = join(dir, 'failing.json');
    await writeFile(file, JSON.stringify({ name: 'failing', base: { ...TINY_BASE, data: { ...TINY_BASE.data, source: 'voc', vocRoot: join(dir, 'no-such-voc') } } }));
    const out = join(dir, 'failing');
    const run = spawnSync(process.execPath, [BIN, 'sweep', 'run', file, '--out', out, '--retries', '1'], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /failed  base\/seed-0 after 2 attempt\(s\): hemnet train failed \(exit code 1: .*no-such-voc/);
    assert.match(run.stderr, /1 run\(s\) failed:\n  base\/seed-0: hemnet train failed/);
    const error = JSON.parse(await readFile(join(out, 'base', 'seed-0', 'sweep-error.json'), 'utf8')) as { attempts: number; error: string };
    assert.equal(error.attempts, 2);
    assert.ok(!existsSync(join(out, 'base', 'seed-0', 'sweep-done.json')));
  });

  it('a sweep folder grows: more seeds run only the new runs; keys the config gained since are accepted', { timeout: 300_000 }, async () => {
    const file = join(dir, 'grow.json');
    const out = join(dir, 'grow');
    await writeFile(file, JSON.stringify({ name: 'grow', description: 'one seed', base: TINY_BASE, seeds: [0] }));
    const first = capture();
    assert.equal(await main(['sweep', 'run', file, '--out', out, '--workers', '1'], first), 0, first.text());
    const seed0 = join(out, 'base', 'seed-0');
    const kept = (await readFile(join(seed0, 'sweep-done.json'), 'utf8')) + (await readFile(join(seed0, 'train-log.jsonl'), 'utf8'));
    // As if the folder had been made before the run config gained 'train.batchSize': drop it from the stored sweep.json.
    const stored = JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8')) as { base: { train: Record<string, unknown> } };
    assert.equal(stored.base.train['batchSize'], 2);
    delete stored.base.train['batchSize'];
    await writeFile(join(out, 'sweep.json'), `${JSON.stringify(stored, null, 2)}\n`);
    await writeFile(file, JSON.stringify({ name: 'grow', description: 'two seeds', base: TINY_BASE, seeds: [0, 1] }));
    const second = capture();
    assert.equal(await main(['sweep', 'run', file, '--out', out, '--workers', '1'], second), 0, second.text());
    assert.match(second.text(), /updated .*sweep\.json \(seeds 1 added; config keys new since the folder was made: base\.train\.batchSize; description changed\); finished runs are kept/);
    assert.match(second.text(), /2 runs \(1 finished, 1 to run\)/);
    assert.ok(!second.text().includes('start   base/seed-0'), 'seed 0 ran again');
    assert.equal((await readFile(join(seed0, 'sweep-done.json'), 'utf8')) + (await readFile(join(seed0, 'train-log.jsonl'), 'utf8')), kept);
    const grown = JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8')) as { seeds: number[]; description: string; base: { train: Record<string, unknown> } };
    assert.deepEqual([grown.seeds, grown.description, grown.base.train['batchSize']], [[0, 1], 'two seeds', 2]);
    const report = JSON.parse(await readFile(join(out, 'report', 'report.json'), 'utf8')) as { finished: number; cells: Array<{ seeds: number[] }> };
    assert.equal(report.finished, 2);
    assert.deepEqual(report.cells.map((c) => c.seeds), [[0, 1]]);
    // Run again unchanged: nothing to do, sweep.json not rewritten.
    const third = capture();
    assert.equal(await main(['sweep', 'run', file, '--out', out, '--workers', '1'], third), 0, third.text());
    assert.match(third.text(), /2 runs \(2 finished, 0 to run\)/);
    assert.ok(!third.text().includes('updated'), third.text());
  });

  it('bad sweep files, unreachable Redis, unwritable folders: clear errors, nothing deleted', { timeout: 120_000 }, async () => {
    const bad = join(dir, 'bad.json');
    const localOut = join(dir, 'local');
    const entries = (await readdir(localOut)).sort();
    const cases: Array<[unknown, RegExp]> = [
      [{ ...GRID, axis: {} }, /bad\.json: unknown key 'axis'/],
      [{ ...GRID, axes: { 'model.hem.stepSize': [] } }, /bad\.json: axis 'axes\.model\.hem\.stepSize' must be a non-empty list/],
      [{ ...GRID, axes: { 'model.head': ['hem', 'hemm'] } }, /bad\.json: run 'head=hemm\/seed-0'.*'head' must be one of 'hem', 'ema', 'fcn', received 'hemm'/],
      [{ ...GRID, axes: { 'model.hem.stepSize': [0.5, 0.5] } }, /bad\.json: axis 'axes\.model\.hem\.stepSize' lists the value 0\.5 twice \(duplicate cells\)/],
    ];
    for (const [raw, pattern] of cases) {
      await writeFile(bad, JSON.stringify(raw));
      await assert.rejects(main(['sweep', 'run', bad, '--out', localOut], capture()), pattern);
    }
    // A different sweep into an existing sweep folder (more seeds would be allowed: 'a sweep folder grows').
    await writeFile(bad, JSON.stringify({ ...GRID, base: { ...TINY_BASE, train: { ...TINY_BASE.train, steps: 4 } } }));
    await assert.rejects(main(['sweep', 'run', bad, '--out', localOut], capture()), /'.*local' already holds a different sweep \(.*sweep\.json: 'base\.train\.steps' changed from 3 to 4\)/);
    await writeFile(bad, JSON.stringify({ ...GRID, seeds: [1] }));
    await assert.rejects(main(['sweep', 'run', bad, '--out', localOut], capture()), /already holds a different sweep \(.*seeds \[0\] are gone \(seeds may only be added\)\)/);
    assert.deepEqual((await readdir(localOut)).sort(), entries, 'nothing deleted');
    // Unreachable Redis (a closed port), for sweep run and worker; exit non-zero from the bin.
    const closed = `redis://127.0.0.1:${await freePort()}`;
    await assert.rejects(main(['sweep', 'run', join(dir, 'grid.json'), '--out', join(dir, 'nowhere'), '--queue', closed], capture()), new RegExp(`hemnet sweep run: cannot reach Redis at '${closed}'`));
    const worker = spawnSync(process.execPath, [BIN, 'worker', '--queue', closed], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(worker.status, 1);
    assert.match(worker.stderr, new RegExp(`hemnet worker \\(.*\\): cannot reach Redis at '${closed}'`));
    await assert.rejects(main(['sweep', 'run', join(dir, 'grid.json'), '--queue', 'http://x:1'], capture()), /'--queue' must be a redis:\/\/ or rediss:\/\/ URL, received 'http:\/\/x:1'/);
    // A sweep folder under a regular file cannot be created (even as root).
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'keep me');
    const run = spawnSync(process.execPath, [BIN, 'sweep', 'run', join(dir, 'grid.json'), '--out', join(blocker, 'sweep')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /hemnet sweep run: cannot write the sweep folder '.*a-file\/sweep': ENOTDIR/);
    assert.equal(await readFile(blocker, 'utf8'), 'keep me');
    await assert.rejects(main(['sweep', 'report', join(dir, 'nothing')], capture()), /'.*nothing' is not a sweep folder \(no sweep\.json/);
  });
});
