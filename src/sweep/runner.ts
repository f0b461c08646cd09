/**
 * Node only: one sweep run as child processes of the built CLI
 * (`node dist/cli/main.js train --config … --resume`, then `eval --json` per
 * evaluation), with the bookkeeping files that make a sweep idempotent:
 *
 *   <sweep>/sweep.json           the validated sweep file
 *   <sweep>/sweep-marker.json    id of the sweep folder (workers check they see it)
 *   <run>/sweep-config.json      the run's partial config (`hemnet train --config`)
 *   <run>/sweep-log.txt          the children's stdout and stderr
 *   <run>/sweep-train.json       training finished
 *   <run>/eval-<name>.json       one post-training evaluation
 *   <run>/sweep-error.json       the last failure
 *   <run>/sweep-lock.json        the process running it (a heartbeat every 2 s)
 *   <run>/sweep-done.json        the run's summary: the run is finished
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import '../data/builtinDatasets.js';
import { expandSweep, parseSweep, type SweepEvaluation, type SweepRun, type SweepSpec } from './spec.js';

export const SWEEP_FILE = 'sweep.json';
export const MARKER_FILE = 'sweep-marker.json';
export const DONE_FILE = 'sweep-done.json';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The built CLI the children run (HEMNET_CLI overrides). */
export function cliPath(): string {
  return process.env.HEMNET_CLI ?? join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');
}

function guardPath(): string {
  return join(dirname(cliPath()), '..', 'sweep', 'orphanGuard.js');
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** Reads and validates a sweep file; errors name the file. */
export async function loadSweepFile(path: string): Promise<{ spec: SweepSpec; runs: SweepRun[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`hemnet sweep: cannot read sweep file '${path}': ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`hemnet sweep: sweep file '${path}' is not valid JSON: ${(error as Error).message}`);
  }
  const base = path.split('/').pop()?.replace(/\.json$/, '') ?? 'sweep';
  const spec = parseSweep(raw, path, /^[A-Za-z0-9._+-]+$/.test(base) ? base : 'sweep');
  return { spec, runs: expandSweep(spec, path) };
}

/** Reads a sweep folder's sweep.json (as written by `sweep run`). */
export async function loadSweepDir(dir: string): Promise<{ spec: SweepSpec; runs: SweepRun[]; markerId: string }> {
  const file = join(dir, SWEEP_FILE);
  if (!existsSync(file)) throw new Error(`hemnet sweep: '${dir}' is not a sweep folder (no ${SWEEP_FILE}; 'hemnet sweep run' writes it)`);
  const { spec, runs } = await loadSweepFile(file);
  const marker = existsSync(join(dir, MARKER_FILE)) ? await readJson<{ id: string }>(join(dir, MARKER_FILE)) : { id: '' };
  return { spec, runs, markerId: marker.id };
}

/**
 * A sweep folder's spec and the summaries of its finished runs (those with
 * sweep-done.json), in the sweep's order. Runs finished before sweep-done.json
 * recorded the bases get them from their metrics.json.
 */
export async function readFinishedRuns(dir: string): Promise<{ spec: SweepSpec; summaries: RunSummary[] }> {
  const { spec, runs } = await loadSweepDir(dir);
  const summaries: RunSummary[] = [];
  for (const run of runs) {
    const path = join(dir, run.name, DONE_FILE);
    if (!existsSync(path)) continue;
    const summary = await readJson<RunSummary>(path);
    const metricsPath = join(dir, run.name, 'metrics.json');
    if (summary.bases === undefined && existsSync(metricsPath)) {
      const bases = pickBases(await readJson<{ bases?: unknown }>(metricsPath));
      if (bases !== undefined) summary.bases = bases;
    }
    summaries.push(summary);
  }
  return { spec, summaries };
}

/** How a sweep file relates to the sweep.json already in its folder. */
export type SweepFolderChange =
  | { kind: 'same' }
  | { kind: 'grown'; addedSeeds: number[]; addedKeys: string[]; description: boolean; addedValues?: string[]; addedComparisons?: number }
  | { kind: 'different'; reason: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** First difference between two JSON values at `path`, with keys only `next` has collected (when `allowAdded`). */
function jsonDifference(previous: unknown, next: unknown, path: string, allowAdded: boolean, added: string[]): string | null {
  if (isPlainObject(previous) && isPlainObject(next)) {
    for (const key of Object.keys(previous)) {
      if (!(key in next)) return `'${path}${key}' is gone`;
      const difference = jsonDifference(previous[key], next[key], `${path}${key}.`, allowAdded, added);
      if (difference !== null) return difference;
    }
    for (const key of Object.keys(next)) {
      if (key in previous) continue;
      if (!allowAdded) return `'${path}${key}' is new`;
      added.push(`${path}${key}`);
    }
    return null;
  }
  if (JSON.stringify(previous) === JSON.stringify(next)) return null;
  return `'${path.replace(/\.$/, '')}' changed from ${JSON.stringify(previous)} to ${JSON.stringify(next)}`;
}

/**
 * Whether a sweep file may run into a folder holding `previous` (its
 * sweep.json). Allowed besides equality: more seeds (the old ones kept, e.g.
 * 3 → 6 where cells are within noise), another description, config keys
 * in `base` the folder's sweep.json lacks (keys the run config gained since
 * the folder was made, at their defaults unless the sweep file sets them),
 * more values on an axis the folder has (its old values kept: a run's name
 * holds every axis with its value, so new cells rename no finished run; e.g.
 * the `fcn` head beside `hem` and `ema`), and more `compare` pairs (the old
 * ones first; they only change the report).
 * Everything that would rename or change a finished run is 'different'.
 */
export function sweepFolderChange(previous: Record<string, unknown>, next: Record<string, unknown>): SweepFolderChange {
  const oldSeeds = Array.isArray(previous['seeds']) ? (previous['seeds'] as unknown[]) : [];
  const newSeeds = Array.isArray(next['seeds']) ? (next['seeds'] as unknown[]) : [];
  const missing = oldSeeds.filter((seed) => !newSeeds.includes(seed));
  if (missing.length > 0) return { kind: 'different', reason: `seeds ${JSON.stringify(missing)} are gone (seeds may only be added)` };
  const addedSeeds = newSeeds.filter((seed): seed is number => typeof seed === 'number' && !oldSeeds.includes(seed));
  const addedKeys: string[] = [];
  const addedValues: string[] = [];
  let addedComparisons = 0;
  for (const key of new Set([...Object.keys(previous), ...Object.keys(next)])) {
    if (key === 'seeds' || key === 'description') continue;
    if (!(key in next)) return { kind: 'different', reason: `'${key}' is gone` };
    if (!(key in previous)) return { kind: 'different', reason: `'${key}' is new` };
    const before = previous[key];
    let after = next[key];
    if (key === 'axes' && isPlainObject(before) && isPlainObject(after)) {
      // Values appended to an axis the folder has: compare the old values only, collect the new ones.
      const trimmed: Record<string, unknown> = { ...after };
      for (const [axis, values] of Object.entries(before)) {
        const grown = after[axis];
        if (!Array.isArray(values) || !Array.isArray(grown) || grown.length <= values.length) continue;
        const kept = JSON.stringify(grown.slice(0, values.length)) === JSON.stringify(values);
        if (!kept) continue;
        trimmed[axis] = grown.slice(0, values.length);
        addedValues.push(...grown.slice(values.length).map((value) => `${axis}=${JSON.stringify(value)}`));
      }
      after = trimmed;
    }
    if (key === 'compare' && Array.isArray(before) && Array.isArray(after) && after.length > before.length && JSON.stringify(after.slice(0, before.length)) === JSON.stringify(before)) {
      addedComparisons = after.length - before.length;
      after = after.slice(0, before.length);
    }
    const difference = jsonDifference(before, after, `${key}.`, key === 'base', addedKeys);
    if (difference !== null) return { kind: 'different', reason: difference };
  }
  const description = previous['description'] !== next['description'];
  if (addedSeeds.length === 0 && addedKeys.length === 0 && addedValues.length === 0 && addedComparisons === 0 && !description) return { kind: 'same' };
  return {
    kind: 'grown', addedSeeds, addedKeys, description,
    ...(addedValues.length > 0 ? { addedValues } : {}),
    ...(addedComparisons > 0 ? { addedComparisons } : {}),
  };
}

/**
 * Creates (or re-opens) a sweep folder: writes sweep.json and the marker,
 * checks that the folder is writable. A folder holding a different sweep is
 * an error; nothing is deleted. A sweep that only grew (`sweepFolderChange`)
 * rewrites sweep.json and is returned as `change`.
 */
export async function prepareSweepDir(dir: string, spec: SweepSpec): Promise<{ markerId: string; change: SweepFolderChange }> {
  try {
    await mkdir(dir, { recursive: true });
    const probe = join(dir, `.write-probe-${process.pid}`);
    await writeFile(probe, 'ok');
    await rm(probe);
  } catch (error) {
    throw new Error(`hemnet sweep run: cannot write the sweep folder '${dir}': ${(error as Error).message}`);
  }
  const sweepFile = join(dir, SWEEP_FILE);
  const json = specToJson(spec);
  const text = `${JSON.stringify(json, null, 2)}\n`;
  let change: SweepFolderChange = { kind: 'same' };
  if (existsSync(sweepFile)) {
    const previousText = await readFile(sweepFile, 'utf8');
    if (previousText !== text) {
      let previous: unknown;
      try {
        previous = JSON.parse(previousText);
      } catch (error) {
        throw new Error(`hemnet sweep run: '${sweepFile}' is not valid JSON (${(error as Error).message}); restore it or choose another --out`);
      }
      change = isPlainObject(previous) ? sweepFolderChange(previous, json) : { kind: 'different', reason: 'it is not a JSON object' };
      if (change.kind === 'different') {
        throw new Error(
          `hemnet sweep run: '${dir}' already holds a different sweep (${sweepFile}: ${change.reason}); choose another --out or restore that sweep file`,
        );
      }
      await writeFile(`${sweepFile}.${process.pid}.tmp`, text);
      await rename(`${sweepFile}.${process.pid}.tmp`, sweepFile);
    }
  } else {
    await writeFile(sweepFile, text);
  }
  const markerFile = join(dir, MARKER_FILE);
  if (!existsSync(markerFile)) await writeJsonAtomic(markerFile, { id: randomUUID(), created: new Date().toISOString(), host: hostname() });
  return { markerId: (await readJson<{ id: string }>(markerFile)).id, change };
}

/** The sweep as a sweep file again (what sweep.json holds). */
export function specToJson(spec: SweepSpec): Record<string, unknown> {
  return {
    name: spec.name,
    ...(spec.description !== '' ? { description: spec.description } : {}),
    base: spec.base,
    axes: spec.axes,
    variants: spec.variants,
    seeds: spec.seeds,
    seedKeys: spec.seedKeys,
    evaluations: spec.evaluationSpecs,
    compare: spec.compare,
  };
}

/** Checks that this process sees the sweep folder of a job: its marker, with the expected id, and write access. */
export async function checkSweepDirVisible(dir: string, markerId: string, who: string): Promise<void> {
  const markerFile = join(dir, MARKER_FILE);
  let id: string | undefined;
  try {
    id = (await readJson<{ id: string }>(markerFile)).id;
  } catch (error) {
    throw new Error(
      `${who} cannot see the sweep folder '${dir}' (${markerFile}: ${(error as Error).message}); the sweep folder must be on storage every worker shares, at the same path`,
    );
  }
  if (id !== markerId) throw new Error(`${who}: the sweep folder '${dir}' holds another sweep (marker ${id}, the job expects ${markerId})`);
  try {
    const probe = join(dir, `.write-probe-${hostname()}-${process.pid}`);
    await writeFile(probe, 'ok');
    await rm(probe);
  } catch (error) {
    throw new Error(`${who} cannot write the sweep folder '${dir}': ${(error as Error).message}`);
  }
}

/** One head's bases at the end of a run (see src/metrics/bases.ts). */
export interface RunBasesUsage {
  head: string;
  effectiveBases: number;
  pixelBases: number;
  distinctBases: number;
}

export interface EvalMetrics {
  meanIoU: number;
  pixelAccuracy: number;
  perClassIoU: Array<number | null>;
}

/** What `sweep-done.json` holds. */
export interface RunSummary extends EvalMetrics {
  name: string;
  cell: string;
  seed: number;
  /** axis → value */
  assignments: Record<string, unknown>;
  steps: number;
  /** Sum of the step times of the training log (excludes start-up and evaluation). */
  trainSeconds: number;
  imagesPerSecond: number;
  /** Training loss per step (1-based step i at index i − 1). */
  losses: Array<number | null>;
  evaluations: Record<string, EvalMetrics>;
  /**
   * Usage of each EM head's bases by the final model on the monitor's probe
   * batch (metrics.json `bases`); absent for heads without bases (fcn) and
   * for runs finished before it was recorded (the report then reads metrics.json).
   */
  bases?: RunBasesUsage[];
  /** Training attempts started (including resumes). */
  attempts: number;
  host: string;
  finishedAt: string;
}

export interface RunOutcome {
  name: string;
  /** 'busy': another live process holds the run's lock (nothing was done). */
  status: 'done' | 'skipped' | 'failed' | 'interrupted' | 'busy';
  attempts: number;
  error?: string;
  summary?: RunSummary;
  seconds: number;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  tail: string;
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function runChild(args: string[], logFile: string, signal: AbortSignal | undefined): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const log = createWriteStream(logFile, { flags: 'a' });
    log.write(`\n$ hemnet ${args.join(' ')}   (${new Date().toISOString()}, ${hostname()} pid ${process.pid})\n`);
    const child = spawn(process.execPath, ['--import', pathToFileURL(guardPath()).href, cliPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    child.stdout.pipe(log, { end: false });
    child.stderr.on('data', (chunk: Buffer) => {
      log.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-4000);
    });
    const onAbort = () => child.kill('SIGINT');
    if (isAborted(signal)) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      log.end();
      reject(error);
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      log.end(`[exit ${code ?? sig}]\n`, () => resolvePromise({ code, signal: sig, tail }));
    });
  });
}

/** The last meaningful stderr lines of a failed child (progress lines dropped). */
function errorText(result: ChildResult): string {
  const lines = result.tail.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^(train|eval) +[\d█░]/.test(l));
  const last = lines.slice(-3).join(' | ');
  return `${result.code !== null ? `exit code ${result.code}` : `killed by ${result.signal}`}${last !== '' ? `: ${last}` : ''}`;
}

function evalArgs(runDir: string, e: SweepEvaluation): string[] {
  return [
    'eval', '--run', runDir, '--json', join(runDir, `eval-${e.name}.json`),
    ...(e.evalIterations !== null ? ['--eval-iterations', String(e.evalIterations)] : []),
    ...(e.scales !== null ? ['--eval-scales', e.scales.join(',')] : []),
    ...(e.flip === true ? ['--eval-flip'] : e.flip === false ? ['--no-eval-flip'] : []),
    ...(e.limit !== null ? ['--eval-limit', String(e.limit)] : []),
  ];
}

/** Losses and timing from a run folder's train-log.jsonl (the last record of each step wins, so resumed steps count once). */
export async function readTrainLog(runDir: string): Promise<{ losses: Array<number | null>; stepSeconds: number; steps: number }> {
  const path = join(runDir, 'train-log.jsonl');
  const text = existsSync(path) ? await readFile(path, 'utf8') : '';
  const byStep = new Map<number, { loss: number; seconds: number }>();
  let batchSize = 1;
  try {
    batchSize = (await readJson<{ train: { batchSize: number } }>(join(runDir, 'config.json'))).train.batchSize;
  } catch {
    // config.json missing: img/s falls back to steps per second.
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let event: { type?: string; step?: number; loss?: number; imagesPerSecond?: number };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      continue; // a line cut by a kill
    }
    if (event.type === 'step' && typeof event.step === 'number' && typeof event.loss === 'number' && typeof event.imagesPerSecond === 'number') {
      byStep.set(event.step, { loss: event.loss, seconds: batchSize / event.imagesPerSecond });
    }
  }
  const steps = byStep.size === 0 ? 0 : Math.max(...byStep.keys());
  const losses: Array<number | null> = Array.from({ length: steps }, (_, i) => byStep.get(i + 1)?.loss ?? null);
  let stepSeconds = 0;
  for (const v of byStep.values()) stepSeconds += v.seconds;
  return { losses, stepSeconds, steps };
}

function pickMetrics(m: EvalMetrics): EvalMetrics {
  return { meanIoU: m.meanIoU, pixelAccuracy: m.pixelAccuracy, perClassIoU: m.perClassIoU };
}

/**
 * The bases usage a run's metrics.json records (`bases`: one entry per EM
 * head), without the per-basis shares; undefined when it records none or an
 * entry is not well formed.
 */
export function pickBases(metrics: { bases?: unknown }): RunBasesUsage[] | undefined {
  const { bases } = metrics;
  if (!Array.isArray(bases) || bases.length === 0) return undefined;
  const picked: RunBasesUsage[] = [];
  for (const entry of bases as unknown[]) {
    if (typeof entry !== 'object' || entry === null) return undefined;
    const { head, effectiveBases, pixelBases, distinctBases } = entry as Record<string, unknown>;
    if (typeof head !== 'string' || typeof effectiveBases !== 'number' || typeof pixelBases !== 'number' || typeof distinctBases !== 'number') return undefined;
    picked.push({ head, effectiveBases, pixelBases, distinctBases });
  }
  return picked;
}

export const LOCK_FILE = 'sweep-lock.json';
const HEARTBEAT_MS = 2000;
/** A lock whose heartbeat is older than this belongs to a dead process (any machine) and is taken over. */
export const LOCK_STALE_MS = 15000;

/**
 * Whether a lock owner ('<host> pid <n> <id>') is a process of this machine
 * that no longer exists (e.g. a `sweep run` killed with SIGKILL): its lock is
 * stale at once, without waiting for the heartbeat to age. Owners on other
 * machines are judged by their heartbeat only.
 */
function holderIsDeadHere(owner: string): boolean {
  const match = /^(\S+) pid (\d+) /.exec(owner);
  if (match === null || match[1] !== hostname()) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * The live holder of the run lock at `path`: its owner and heartbeat age
 * (ms), or null when there is no lock, it is stale (heartbeat older than
 * `LOCK_STALE_MS`, or a process of this machine that has exited), or it
 * vanished or was half-written while being read. `sweep run` takes a lock
 * over only when this is null; `sweep status` calls such a run running.
 */
export async function liveLockHolder(path: string, now = Date.now()): Promise<{ owner: string; age: number } | null> {
  let age = Infinity;
  let owner = 'another process';
  try {
    age = now - (await stat(path)).mtimeMs;
    owner = (await readJson<{ owner?: string }>(path)).owner ?? owner;
  } catch {
    return null;
  }
  return age < LOCK_STALE_MS && !holderIsDeadHere(owner) ? { owner, age } : null;
}

interface RunLock {
  release: () => Promise<void>;
}

/**
 * Takes `<run>/sweep-lock.json` so that one process at a time writes a run
 * folder, even when a queue hands a job out twice (a worker that looked dead
 * but was not). Returns the holder's description when a live process holds
 * it. `onLost` runs when another process took the lock over (ours looked stale).
 */
async function acquireRunLock(runDir: string, onLost: () => void): Promise<RunLock | string> {
  const path = join(runDir, LOCK_FILE);
  const owner = `${hostname()} pid ${process.pid} ${randomUUID().slice(0, 8)}`;
  const body = () => JSON.stringify({ owner, at: new Date().toISOString() });
  try {
    const handle = await open(path, 'wx');
    await handle.writeFile(body());
    await handle.close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const live = await liveLockHolder(path);
    if (live !== null) return `${live.owner} (heartbeat ${(live.age / 1000).toFixed(1)} s ago)`;
    await writeJsonAtomic(path, JSON.parse(body()));
    await new Promise((r) => setTimeout(r, 300));
    const now = await readJson<{ owner: string }>(path).catch(() => ({ owner: '' }));
    if (now.owner !== owner) return `${now.owner} (took the stale lock first)`;
  }
  let released = false;
  const timer = setInterval(() => {
    void (async () => {
      const now = await readJson<{ owner: string }>(path).catch(() => ({ owner: '' }));
      if (released) return;
      if (now.owner !== owner) {
        clearInterval(timer);
        onLost();
        return;
      }
      await writeJsonAtomic(path, JSON.parse(body())).catch(() => undefined);
    })();
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    release: async () => {
      released = true;
      clearInterval(timer);
      const now = await readJson<{ owner: string }>(path).catch(() => ({ owner: '' }));
      if (now.owner === owner) await rm(path, { force: true });
    },
  };
}

export interface RunOneOptions {
  sweepDir: string;
  spec: SweepSpec;
  run: SweepRun;
  /** Training attempts in this call (1 in a queue worker: BullMQ retries). */
  maxAttempts: number;
  signal?: AbortSignal;
  /** A line for the user (attempt started, resumed, failed). */
  log?: (line: string) => void;
}

/**
 * Runs (or finishes) one sweep run: skipped when sweep-done.json exists;
 * training resumes from the run folder's checkpoint; evaluations already
 * written are kept. Never throws for a failed child: the outcome says.
 */
export async function runOne(options: RunOneOptions): Promise<RunOutcome> {
  const { sweepDir, run } = options;
  const started = performance.now();
  const runDir = join(sweepDir, run.name);
  const donePath = join(runDir, DONE_FILE);
  const seconds = () => (performance.now() - started) / 1000;
  if (existsSync(donePath)) return { name: run.name, status: 'skipped', attempts: 0, summary: await readJson<RunSummary>(donePath), seconds: seconds() };
  await mkdir(runDir, { recursive: true });
  const local = new AbortController();
  const forward = () => local.abort(options.signal?.reason);
  if (isAborted(options.signal)) forward();
  else options.signal?.addEventListener('abort', forward, { once: true });
  const lock = await acquireRunLock(runDir, () => {
    options.log?.(`${run.name}: another process took over this run's lock; stopping here`);
    local.abort('lost the run lock');
  });
  if (typeof lock === 'string') {
    options.signal?.removeEventListener('abort', forward);
    return { name: run.name, status: 'busy', attempts: 0, error: `the run is locked by ${lock}`, seconds: seconds() };
  }
  try {
    if (existsSync(donePath)) return { name: run.name, status: 'skipped', attempts: 0, summary: await readJson<RunSummary>(donePath), seconds: seconds() };
    return await runLocked(options, local.signal, started);
  } finally {
    options.signal?.removeEventListener('abort', forward);
    await lock.release();
  }
}

async function runLocked(options: RunOneOptions, signal: AbortSignal, started: number): Promise<RunOutcome> {
  const { sweepDir, spec, run } = options;
  const runDir = join(sweepDir, run.name);
  const donePath = join(runDir, DONE_FILE);
  const seconds = () => (performance.now() - started) / 1000;
  const configPath = join(runDir, 'sweep-config.json');
  await writeJsonAtomic(configPath, run.config);
  const logFile = join(runDir, 'sweep-log.txt');
  const trainMark = join(runDir, 'sweep-train.json');
  const previousAttempts = existsSync(trainMark) ? (await readJson<{ attempts: number }>(trainMark)).attempts : 0;
  const attemptsPath = join(runDir, 'sweep-attempts.json');
  let attempts = existsSync(attemptsPath) ? (await readJson<{ attempts: number }>(attemptsPath)).attempts : previousAttempts;
  const fail = async (error: string): Promise<RunOutcome> => {
    await writeJsonAtomic(join(runDir, 'sweep-error.json'), { name: run.name, error, attempts, host: hostname(), at: new Date().toISOString() });
    return { name: run.name, status: 'failed', attempts, error, seconds: seconds() };
  };
  const interrupted = (): RunOutcome => ({ name: run.name, status: 'interrupted', attempts, seconds: seconds() });

  if (!existsSync(trainMark)) {
    let lastError = '';
    for (let i = 0; i < options.maxAttempts; i++) {
      if (isAborted(signal)) return interrupted();
      attempts += 1;
      await writeJsonAtomic(attemptsPath, { attempts });
      const resuming = existsSync(join(runDir, 'checkpoints', 'latest.json'));
      options.log?.(`${run.name}: training${resuming ? ' (resuming from its checkpoint)' : ''}, attempt ${attempts}`);
      const result = await runChild(['train', '--config', configPath, '--resume', '--out', runDir], logFile, signal);
      if (isAborted(signal)) return interrupted();
      if (result.code === 0) {
        await writeJsonAtomic(trainMark, { attempts, at: new Date().toISOString() });
        lastError = '';
        break;
      }
      lastError = `hemnet train failed (${errorText(result)}); log: ${logFile}`;
      options.log?.(`${run.name}: ${lastError}`);
    }
    if (lastError !== '') return fail(lastError);
  }
  const evaluations: Record<string, EvalMetrics> = {};
  for (const e of spec.evaluations) {
    const path = join(runDir, `eval-${e.name}.json`);
    if (!existsSync(path)) {
      if (isAborted(signal)) return interrupted();
      const result = await runChild(evalArgs(runDir, e), logFile, signal);
      if (isAborted(signal)) return interrupted();
      if (result.code !== 0 || !existsSync(path)) return fail(`hemnet eval '${e.name}' failed (${errorText(result)}); log: ${logFile}`);
    }
    evaluations[e.name] = pickMetrics(await readJson<EvalMetrics>(path));
  }
  const metrics = await readJson<EvalMetrics & { step: number; bases?: unknown }>(join(runDir, 'metrics.json'));
  const bases = pickBases(metrics);
  const trainLog = await readTrainLog(runDir);
  const config = await readJson<{ train: { batchSize: number } }>(join(runDir, 'config.json'));
  const summary: RunSummary = {
    name: run.name,
    cell: run.cell,
    seed: run.seed,
    assignments: Object.fromEntries(run.assignments.map((a) => [a.axis, a.value])),
    ...pickMetrics(metrics),
    steps: metrics.step,
    trainSeconds: trainLog.stepSeconds,
    imagesPerSecond: trainLog.stepSeconds > 0 ? (trainLog.steps * config.train.batchSize) / trainLog.stepSeconds : NaN,
    losses: trainLog.losses,
    evaluations,
    ...(bases === undefined ? {} : { bases }),
    attempts,
    host: hostname(),
    finishedAt: new Date().toISOString(),
  };
  await writeJsonAtomic(donePath, summary);
  await rm(join(runDir, 'sweep-error.json'), { force: true });
  return { name: run.name, status: 'done', attempts, summary, seconds: seconds() };
}
