/**
 * One trainer per run folder (Node only). `train.lock` holds the pid, host
 * and start time of the process training into the folder. It appears
 * atomically with its content (written to a temporary file, then hard-linked
 * to the lock name, which fails if the lock exists). A second process gets
 * an error naming the holder; a lock whose process is gone (same host, pid
 * not running) is taken over with a message. The lock is removed when the
 * run ends, on an error, and on process exit.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { linkSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Output } from './command.js';

export const LOCK_FILE = 'train.lock';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    if (typeof value.pid === 'number' && Number.isInteger(value.pid) && value.pid > 0 && typeof value.host === 'string') {
      return { pid: value.pid, host: value.host, started: String(value.started ?? '?') };
    }
  } catch {
    // unreadable or not JSON: not a lock hemnet wrote
  }
  return null;
}

export class RunLock {
  private held = true;
  private readonly onExit = (): void => this.releaseSync();

  constructor(
    readonly path: string,
    readonly info: LockInfo,
  ) {
    process.on('exit', this.onExit);
  }

  /** Removes the lock if it is still ours. */
  releaseSync(): void {
    if (!this.held) return;
    this.held = false;
    process.removeListener('exit', this.onExit);
    const current = readLock(this.path);
    if (current !== null && current.pid === this.info.pid && current.started === this.info.started) rmSync(this.path, { force: true });
  }
}

function tryLink(path: string, info: LockInfo): boolean {
  const temporary = `${path}.${info.pid}.${Date.now()}`;
  writeFileSync(temporary, `${JSON.stringify(info)}\n`);
  try {
    linkSync(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`hemnet train: cannot create the lock '${path}': ${(error as Error).message}`);
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** Locks `runDir` (created if needed) for this process; throws when another live process holds it. */
export function acquireRunLock(runDir: string, io: Output): RunLock {
  mkdirSync(runDir, { recursive: true });
  const path = join(runDir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryLink(path, info)) return new RunLock(path, info);
    const holder = readLock(path);
    if (holder === null) {
      throw new Error(`hemnet train: '${path}' exists but is not a lock hemnet wrote; if no trainer uses '${runDir}', delete it`);
    }
    if (holder.host !== info.host) {
      throw new Error(`hemnet train: '${runDir}' is locked by process ${holder.pid} on host '${holder.host}' (since ${holder.started}); if that process is gone, delete '${path}'`);
    }
    if (isRunning(holder.pid)) {
      throw new Error(`hemnet train: '${runDir}' is locked by process ${holder.pid} (running since ${holder.started}); wait for it, stop it, or train into another folder`);
    }
    // Stale: move it aside under a unique name, check that what moved is the stale lock, then retry.
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch {
      continue; // someone else moved it first
    }
    const moved = readLock(aside);
    if (moved !== null && moved.pid === holder.pid && moved.started === holder.started) {
      unlinkSync(aside);
      io.err(`hemnet train: taking over the lock of '${runDir}' from process ${holder.pid}, which is no longer running\n`);
    } else {
      // A live process took it over meanwhile: put its lock back (never over a newer one).
      try {
        linkSync(aside, path);
      } catch {
        // a newer lock is in place
      }
      rmSync(aside, { force: true });
    }
  }
  const holder = readLock(path);
  throw new Error(`hemnet train: '${runDir}' is locked by process ${holder?.pid ?? '?'}; wait for it or train into another folder`);
}

/** Empties a run folder except its lock (what `--overwrite` does under the lock). */
export function emptyRunFolder(runDir: string): void {
  for (const entry of readdirSync(runDir)) if (entry !== LOCK_FILE) rmSync(join(runDir, entry), { recursive: true, force: true });
}

/** A run-folder lock taken when first needed (`acquire` is idempotent) and released once. */
export function lazyRunLock(runDir: string, io: Output): { acquire: () => void; release: () => void } {
  let lock: RunLock | null = null;
  return {
    acquire: () => {
      lock ??= acquireRunLock(runDir, io);
    },
    release: () => lock?.releaseSync(),
  };
}
