import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SweepProgress, formatDuration, formatSweepStatus, readRunPosition, sweepStatus } from './progress.js';
import { LOCK_STALE_MS, loadSweepDir, prepareSweepDir } from './runner.js';
import { parseSweep } from './spec.js';

const step = (s: number, total: number): string => `${JSON.stringify({ type: 'step', step: s, totalSteps: total, loss: 1 })}\n`;
const start = (s: number, total: number): string => `${JSON.stringify({ type: 'start', step: s, totalSteps: total })}\n`;
const monitor = (s: number): string => `${JSON.stringify({ type: 'monitor', step: s, bases: [{ usage: new Array(2000).fill(0.5) }] })}\n`;

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hemnet-progress-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('sweep progress', () => {
  it('readRunPosition: the last complete step line; start alone; nothing yet; a half-written last line', async () => {
    await withDir(async (dir) => {
      assert.equal(await readRunPosition(dir), null, 'no log yet');
      const log = join(dir, 'train-log.jsonl');
      await writeFile(log, '');
      assert.equal(await readRunPosition(dir), null, 'empty log');
      await writeFile(log, start(0, 300));
      assert.deepEqual(await readRunPosition(dir), { step: 0, totalSteps: 300 });
      await appendFile(log, step(1, 300) + step(2, 300) + monitor(2));
      assert.deepEqual(await readRunPosition(dir), { step: 2, totalSteps: 300 }, 'a monitor line after the step');
      await appendFile(log, '{"type":"step","step":3,"tot');
      assert.deepEqual(await readRunPosition(dir), { step: 2, totalSteps: 300 }, 'the half-written line is not read');
      // Resumed: a new start line (from step 2), then its steps.
      await appendFile(log, `\n${start(2, 300)}${step(3, 300)}`);
      assert.deepEqual(await readRunPosition(dir), { step: 3, totalSteps: 300 });
    });
  });

  it('readRunPosition reads only the end of a long log, whose first line there is cut', async () => {
    await withDir(async (dir) => {
      let text = start(0, 5000);
      for (let s = 1; s <= 400; s++) text += step(s, 5000) + (s % 100 === 0 ? monitor(s) : '');
      await writeFile(join(dir, 'train-log.jsonl'), text);
      assert.ok(text.length > 16384 * 2, 'the log is longer than the part read');
      assert.deepEqual(await readRunPosition(dir), { step: 400, totalSteps: 5000 });
    });
  });

  it('SweepProgress: per-run steps and rates between polls, and the time left for the whole call', async () => {
    await withDir(async (dir) => {
      // 6 runs in this call (2 finished before it), 2 at a time.
      const progress = new SweepProgress(dir, 6, 2, 2);
      for (const name of ['a/seed-0', 'a/seed-1']) {
        await mkdir(join(dir, name), { recursive: true });
        progress.started(name);
      }
      await writeFile(join(dir, 'a/seed-0', 'train-log.jsonl'), start(0, 1000) + step(100, 1000));
      await progress.poll(0);
      assert.equal(progress.line(), 'progress 2/8 runs finished · a/seed-0 100/1000 · a/seed-1 starting');
      assert.equal(progress.secondsLeft(), null, 'no rate after one poll');
      await appendFile(join(dir, 'a/seed-0', 'train-log.jsonl'), step(300, 1000));
      await writeFile(join(dir, 'a/seed-1', 'train-log.jsonl'), start(0, 1000) + step(50, 1000));
      await progress.poll(100_000);
      await appendFile(join(dir, 'a/seed-1', 'train-log.jsonl'), step(150, 1000));
      await progress.poll(200_000);
      // Rates are from the last two polls: seed-0 read 100, 300, 300, 500 → 2 steps/s;
      // seed-1 read 50, 150, 150 → 0 steps/s.
      await appendFile(join(dir, 'a/seed-0', 'train-log.jsonl'), step(500, 1000));
      await progress.poll(300_000);
      assert.match(progress.line(), /^progress 2\/8 runs finished · a\/seed-0 500\/1000 \(2\.00 steps\/s\) · a\/seed-1 150\/1000 \(0\.00 steps\/s\) · ≈ /);
      // Left: 500 + 850 steps of the running runs + 4 queued × 1000 = 5350 steps, at a mean of 1 step/s per run × 2 at a time.
      assert.equal(progress.secondsLeft(), 2675);
      progress.ended('a/seed-0');
      assert.match(progress.line(), /^progress 3\/8 runs finished · a\/seed-1 150\/1000/);
      // Between a run's end and the next one's start the pool still counts as 2 at a time: 850 + 4 × 1000 steps at 0 steps/s.
      assert.equal(progress.secondsLeft(), null, 'no run with a positive rate');
      // A failed run is no longer to run, but not finished.
      progress.started('a/seed-2');
      progress.ended('a/seed-2', false);
      assert.match(progress.line(), /^progress 3\/8 runs finished · a\/seed-1 150\/1000/);
      await appendFile(join(dir, 'a/seed-1', 'train-log.jsonl'), step(1000, 1000));
      await progress.poll(400_000);
      assert.match(progress.line(), /a\/seed-1 evaluating · ≈ /);
    });
  });

  it('sweepStatus: done, running, stopped, failed and pending runs of a sweep folder', async () => {
    await withDir(async (dir) => {
      const spec = parseSweep({ name: 'grid', base: { train: { steps: 40 } }, axes: { 'model.head': ['hem', 'ema'] }, seeds: [0, 1, 2] }, 'grid.json');
      await prepareSweepDir(dir, spec);
      const { runs } = await loadSweepDir(dir);
      const names = runs.map((r) => r.name);
      assert.equal(names.length, 6);
      const [done, running, staleLock, failed, stopped] = names as [string, string, string, string, string, string];
      for (const name of names.slice(0, 5)) await mkdir(join(dir, name), { recursive: true });
      await writeFile(join(dir, done, 'sweep-done.json'), JSON.stringify({ name: done, meanIoU: 0.6056 }));
      await writeFile(join(dir, done, 'train-log.jsonl'), start(0, 40) + step(40, 40));
      await writeFile(join(dir, running, 'sweep-lock.json'), JSON.stringify({ owner: 'another-machine pid 42 abcd', at: new Date().toISOString() }));
      await writeFile(join(dir, running, 'train-log.jsonl'), start(0, 40) + step(10, 40));
      // A lock whose heartbeat (the file's mtime) is older than the stale age: its process is gone, the run is stopped.
      await writeFile(join(dir, staleLock, 'sweep-lock.json'), JSON.stringify({ owner: 'another-machine pid 43 ef01', at: '2026-01-01T00:00:00Z' }));
      const old = new Date(Date.now() - 10 * LOCK_STALE_MS);
      await utimes(join(dir, staleLock, 'sweep-lock.json'), old, old);
      await writeFile(join(dir, staleLock, 'train-log.jsonl'), start(0, 40) + step(20, 40));
      await writeFile(join(dir, failed, 'sweep-error.json'), JSON.stringify({ error: 'hemnet train failed (exit code 1: boom)' }));
      await writeFile(join(dir, stopped, 'train-log.jsonl'), start(0, 40) + step(30, 40));
      // A fresh lock of a process of this machine that has exited (a SIGKILLed sweep): not running either.
      const exited = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      await writeFile(join(dir, stopped, 'sweep-lock.json'), JSON.stringify({ owner: `${hostname()} pid ${exited.stdout} 2345`, at: new Date().toISOString() }));
      // Judged a little later than the files were written, but well within the stale age for the fresh lock.
      const status = await sweepStatus(dir, Date.now() + 1000);
      assert.equal(status.name, 'grid');
      assert.deepEqual(status.runs.map((r) => r.state), ['done', 'running', 'stopped', 'failed', 'stopped', 'pending']);
      assert.deepEqual(status.runs[1]?.position, { step: 10, totalSteps: 40 });
      assert.equal(status.runs[1]?.detail, 'another-machine pid 42 abcd');
      const later = await sweepStatus(dir, Date.now() + LOCK_STALE_MS + 1000);
      assert.equal(later.runs[1]?.state, 'stopped', 'a heartbeat older than the stale age is not a running run');
      const lines = formatSweepStatus(status, dir);
      assert.equal(lines[0], `sweep grid: 6 runs · 1 done · 1 running · 2 stopped · 1 failed · 1 pending (${dir})`);
      assert.match(lines[1] as string, /^done +\S+ +mIoU 60\.56$/);
      assert.match(lines[2] as string, /^running +\S+ +step 10\/40 \(25 %\) +another-machine pid 42 abcd$/);
      assert.match(lines[4] as string, /^failed +\S+ +hemnet train failed \(exit code 1: boom\)$/);
      assert.match(lines[5] as string, /^stopped +\S+ +step 30\/40 \(75 %\) +\(the next 'sweep run' resumes it\)$/);
      assert.match(lines[6] as string, /^pending +\S+$/);
      await assert.rejects(sweepStatus(join(dir, 'nope')), /is not a sweep folder/);
    });
  });

  it('formatDuration', () => {
    assert.equal(formatDuration(42.4), '42 s');
    assert.equal(formatDuration(12 * 60 + 10), '12 min');
    assert.equal(formatDuration(3600 + 5 * 60), '1 h 05 min');
    assert.equal(formatDuration(Number.NaN), '?');
  });
});
