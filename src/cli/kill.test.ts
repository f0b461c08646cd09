/**
 * Kills, signals and locks against the built CLI (`node dist/cli/main.js
 * train ...`, so `npm run build` first): SIGKILL at random points of a run,
 * including each stage of a checkpoint write (HEMNET_TEST_KILL hook), ≥ 20
 * times; the run then finishes with the weights of an uninterrupted run and a
 * log of one record per step. SIGTERM stops cleanly (exit 143), a second
 * signal exits at once, two trainers on one folder, a stale lock.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRng } from '../data/random.js';
import { readStepRecords } from '../train/trainLog.js';
import { readLatestCheckpoint } from '../train/checkpointFiles.js';

const BIN = resolve('dist/cli/main.js');
const STEPS = 30;
const TINY = [
  '--batch-size', '2', '--train-size', '16', '--val-size', '4', '--canvas-size', '32', '--width', '4', '--channels', '8',
  '--num-bases', '2', '--backend', 'wasm', '--checkpoint-every', '3', '--eval-limit', '2', '--seed', '3', '--model-seed', '5',
];

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

function run(args: string[], env: Record<string, string> = {}, killAfterMs?: number): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = killAfterMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), killAfterMs) : null;
    child.on('close', (code, signal) => {
      if (timer !== null) clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

function stepsOfLog(runDir: string): number[] {
  return readStepRecords(join(runDir, 'train-log.jsonl')).map((r) => r.step);
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const STAGES = ['data-partial', 'data-written', 'manifest-written', 'before-pointer', 'pointer-written'] as const;

describe('kills, signals and locks (built CLI)', () => {
  it('survives ≥ 20 SIGKILLs at random points (steps, every stage of a checkpoint write, timers) and ends equal to an uninterrupted run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-kill-'));
    try {
      const reference = join(dir, 'reference');
      const ref = await run(['train', '--out', reference, '--steps', String(STEPS), ...TINY]);
      assert.equal(ref.code, 0, ref.stderr);
      const killed = join(dir, 'killed');
      const rng = createRng(Number(process.env.HEMNET_TEST_SEED ?? 1) + 17);
      const kinds: Record<string, number> = {};
      let kills = 0;
      let stageTurn = 0;
      let finished: Outcome | null = null;
      /** The first checkpoint stage no kill has hit yet, if any. */
      const missingStage = (): string | undefined => STAGES.find((stage) => (kinds[`checkpoint ${stage}`] ?? 0) === 0);
      for (let attempt = 0; attempt < 60 && finished === null; attempt++) {
        const checkpointStep = (() => {
          const pointer = join(killed, 'checkpoints', 'latest.json');
          return existsSync(pointer) ? (JSON.parse(readFileSync(pointer, 'utf8')) as { step: number }).step : 0;
        })();
        let env: Record<string, string> = {};
        let timer: number | undefined;
        let kind = 'none';
        if (kills < 20 || missingStage() !== undefined) {
          // With enough kills, only a checkpoint stage not yet hit is left to aim at.
          const pick = kills >= 20 ? 4 : rng.int(0, 9);
          if (pick < 4) {
            // After a random step beyond the checkpoint.
            const step = rng.int(checkpointStep + 1, Math.min(STEPS, checkpointStep + 5));
            env = { HEMNET_TEST_KILL: `step:${step}` };
            kind = 'after a step';
          } else if (pick < 8) {
            // At a random stage of a random checkpoint write ahead.
            const next = Math.min(STEPS, 3 * (Math.floor(checkpointStep / 3) + 1) + 3 * rng.int(0, 1));
            // Every stage in turn (the turn moves on after a kill there); with enough kills, the first one missing.
            const stage = (kills >= 20 ? missingStage() : undefined) ?? (STAGES[stageTurn % STAGES.length] as string);
            env = { HEMNET_TEST_KILL: `${stage}:${next}` };
            kind = `checkpoint ${stage}`;
          } else {
            timer = rng.int(200, 3000);
            kind = 'timer';
          }
        }
        const outcome = await run(['train', '--out', killed, '--resume', '--steps', String(STEPS), ...TINY], env, timer);
        if (outcome.signal === 'SIGKILL') {
          kills++;
          if (kind.startsWith('checkpoint ')) stageTurn++;
          kinds[kind] = (kinds[kind] ?? 0) + 1;
          assert.doesNotMatch(outcome.stderr, /\n\s+at /, 'no stack trace');
        } else {
          assert.equal(outcome.code, 0, outcome.stderr);
          if (kills >= 20 && missingStage() === undefined) finished = outcome;
          else {
            // Finished before enough kills, or before a kill at every checkpoint stage (e.g. a kill after the
            // last checkpoint leaves no checkpoint write ahead): start again from a fresh folder.
            await rm(killed, { recursive: true, force: true });
          }
        }
      }
      assert.ok(finished !== null, 'the killed run finished');
      assert.ok(kills >= 20, `only ${kills} kills`);
      for (const stage of STAGES) assert.ok((kinds[`checkpoint ${stage}`] ?? 0) >= 1, `no kill at checkpoint stage ${stage}: ${JSON.stringify(kinds)}`);
      process.stdout.write(`# kills survived: ${kills} ${JSON.stringify(kinds)}\n`);
      // Same weights as the run never interrupted.
      const a = await readFile(join(reference, 'model', 'weights.bin'));
      const b = await readFile(join(killed, 'model', 'weights.bin'));
      assert.equal(a.byteLength, b.byteLength);
      assert.ok(a.equals(b), 'weights differ from the uninterrupted run');
      // One record per step, in order.
      assert.deepEqual(stepsOfLog(killed), Array.from({ length: STEPS }, (_, i) => i + 1));
      const losses = readStepRecords(join(killed, 'train-log.jsonl')).map((r) => r.loss);
      assert.deepEqual(losses, readStepRecords(join(reference, 'train-log.jsonl')).map((r) => r.loss));
      assert.ok(!existsSync(join(killed, 'train.lock')), 'the lock is released at the end');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('SIGTERM stops with a checkpoint and exit code 143, the run resumes; a second signal exits at once and leaves an intact checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-term-'));
    try {
      const runDir = join(dir, 'run');
      const child = spawn(process.execPath, [BIN, 'train', '--out', runDir, '--steps', '400', ...TINY], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise<{ code: number | null }>((r) => child.on('close', (code) => r({ code })));
      await waitFor(() => existsSync(join(runDir, 'train-log.jsonl')) && stepsOfLog(runDir).length >= 4, 60_000);
      child.kill('SIGTERM');
      const { code } = await closed;
      assert.equal(code, 143, stderr);
      assert.match(stderr, /SIGTERM: stopping after this step and writing a checkpoint/);
      const steps = stepsOfLog(runDir);
      const checkpoint = await readLatestCheckpoint(join(runDir, 'checkpoints'));
      assert.equal(checkpoint?.manifest.step, steps.length, 'checkpoint at the step the run stopped');
      assert.deepEqual(steps, Array.from({ length: steps.length }, (_, i) => i + 1));
      assert.ok(!existsSync(join(runDir, 'train.lock')));

      // Two signals at once: the second exits immediately (same code), nothing is corrupted.
      const again = spawn(process.execPath, [BIN, 'train', '--out', runDir, '--resume', '--steps', '400', ...TINY], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr2 = '';
      again.stderr.on('data', (d: Buffer) => (stderr2 += d.toString()));
      const closed2 = new Promise<{ code: number | null }>((r) => again.on('close', (c) => r({ code: c })));
      await waitFor(() => stepsOfLog(runDir).length >= steps.length + 3, 60_000);
      again.kill('SIGTERM');
      again.kill('SIGINT');
      const second = await closed2;
      // The two may be handled in either order; the exit code is the first one's.
      const first = /\n(SIGTERM|SIGINT): stopping after this step/.exec(stderr2)?.[1];
      assert.ok(first !== undefined, stderr2);
      const expectedCode = first === 'SIGTERM' ? 143 : 130;
      assert.equal(second.code, expectedCode, stderr2);
      assert.match(stderr2, new RegExp(`(SIGINT|SIGTERM) again: exiting now \\(exit code ${expectedCode}\\); the last complete checkpoint is intact`));
      const intact = await readLatestCheckpoint(join(runDir, 'checkpoints'));
      assert.ok(intact !== null && intact.manifest.step >= steps.length);
      const resumed = await run(['train', '--out', runDir, '--resume', '--steps', String(steps.length + 6), ...TINY]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(stepsOfLog(runDir), Array.from({ length: steps.length + 6 }, (_, i) => i + 1));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('two trainers on one folder: the second gets an error naming the holder; a stale lock is taken over', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-lock-'));
    try {
      const runDir = join(dir, 'run');
      const first = spawn(process.execPath, [BIN, 'train', '--out', runDir, '--steps', '400', ...TINY], { stdio: ['ignore', 'ignore', 'pipe'] });
      const closed = new Promise<{ code: number | null }>((r) => first.on('close', (code) => r({ code })));
      await waitFor(() => existsSync(join(runDir, 'train.lock')), 60_000);
      const second = await run(['train', '--out', runDir, '--resume', '--steps', '400', ...TINY]);
      assert.equal(second.code, 1);
      assert.match(second.stderr, new RegExp(`hemnet train: '.*run' is locked by process ${first.pid} \\(running since .*\\); wait for it, stop it, or train into another folder`));
      assert.doesNotMatch(second.stderr, /\n\s+at /);
      const overwrite = await run(['train', '--out', runDir, '--overwrite', '--steps', '4', ...TINY]);
      assert.equal(overwrite.code, 1, 'no --overwrite under a live lock');
      assert.match(overwrite.stderr, /is locked by process/);
      first.kill('SIGTERM');
      assert.equal((await closed).code, 143);

      // A stale lock: the pid of a process that has exited.
      const gone = spawnSync(process.execPath, ['-e', '0']);
      const stalePid = gone.pid as number;
      await writeFile(join(runDir, 'train.lock'), JSON.stringify({ pid: stalePid, host: (await import('node:os')).hostname(), started: '2026-01-01T00:00:00Z' }));
      const taken = await run(['train', '--out', runDir, '--resume', '--steps', String(stepsOfLog(runDir).length + 2), ...TINY]);
      assert.equal(taken.code, 0, taken.stderr);
      assert.match(taken.stderr, new RegExp(`taking over the lock of '.*run' from process ${stalePid}, which is no longer running`));
      assert.ok(!existsSync(join(runDir, 'train.lock')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
