/**
 * Checkpoints and models on disk (Node only), verified on load.
 *
 * A checkpoint generation is `step-NNNNNNN.bin` (model + optimizer weights)
 * and `step-NNNNNNN.json` (the manifest, with the data file's size and
 * SHA-256, and a SHA-256 of the manifest itself). Every file is written to a
 * temporary name, fsync'ed and renamed; the folder is fsync'ed; only then
 * does `latest.json` switch (written the same way), and only after that are
 * old generations removed (the newest `KEEP_GENERATIONS` stay). A crash at
 * any moment leaves the previous generation readable and verifiable.
 *
 * A saved model is tfjs' `model.json` + `weights.bin`; `model.json` also
 * carries each weight file's size and SHA-256 and its own SHA-256 (tfjs
 * loaders ignore the extra fields). Files written before hashes existed
 * still load, with a note that their content could not be verified.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { checkManifest, modelArtifacts, type Checkpoint, type CheckpointManifest } from './checkpoint.js';
import { flushSubnormalWeights } from '../kernels/denormals.js';

const LATEST = 'latest.json';
/** Generations kept on disk (the newest ones); resume falls back through them. */
export const KEEP_GENERATIONS = 2;

/** Receives notes for the user (e.g. an old checkpoint without hashes, a fallback). */
export type NoteSink = (message: string) => void;

/** Stages of `writeCheckpoint`, for tests that kill the process in between. */
export type CheckpointWriteStage = 'data-partial' | 'data-written' | 'manifest-written' | 'before-pointer' | 'pointer-written';

export interface WriteCheckpointOptions {
  /** Called at each stage (a test hook: e.g. SIGKILL between the data file and the pointer). */
  onStage?: (stage: CheckpointWriteStage, step: number) => void;
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes `contents` to a temporary file, fsyncs it and renames it to `path` (the folder is fsync'ed by the caller). */
async function writeDurable(path: string, contents: string | Uint8Array, midway?: () => void): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${Date.now()}`;
  const bytes = typeof contents === 'string' ? Buffer.from(contents, 'utf8') : contents;
  const handle = await open(temporary, 'w');
  try {
    const half = midway !== undefined ? Math.floor(bytes.byteLength / 2) : bytes.byteLength;
    await handle.write(bytes, 0, half, 0);
    midway?.();
    if (half < bytes.byteLength) await handle.write(bytes, half, bytes.byteLength - half, half);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
}

/** fsync of a folder, so that renames in it survive a crash (a no-op where folders cannot be opened, e.g. Windows). */
export async function syncFolder(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on folders (EINVAL); nothing more can be done there.
  } finally {
    await handle.close();
  }
}

function generationName(step: number): string {
  return `step-${String(step).padStart(7, '0')}`;
}

function generationStep(stem: string): number {
  return Number(stem.slice('step-'.length));
}

/** JSON text with a trailing SHA-256 of everything before it (`selfHashKey`). */
function selfHashedJson(value: Record<string, unknown>, selfHashKey: string): string {
  const body = JSON.stringify(value);
  return JSON.stringify({ ...value, [selfHashKey]: sha256(body) });
}

/**
 * Parses self-hashed JSON: 'ok' when the hash matches, 'absent' when the file
 * has none (older hemnet), 'mismatch' when its content changed.
 */
function parseSelfHashed(text: string, selfHashKey: string): { value: Record<string, unknown>; hash: 'ok' | 'absent' | 'mismatch' } {
  const parsed = JSON.parse(text) as unknown;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { value: {}, hash: 'absent' };
  const { [selfHashKey]: stored, ...rest } = parsed as Record<string, unknown>;
  if (typeof stored !== 'string') return { value: rest, hash: 'absent' };
  return { value: rest, hash: sha256(JSON.stringify(rest)) === stored ? 'ok' : 'mismatch' };
}

interface FileIntegrity {
  name: string;
  bytes: number;
  sha256: string;
}

/** Writes a checkpoint generation into `dir` and points `latest.json` at it. Returns the manifest path. */
export async function writeCheckpoint(dir: string, checkpoint: Checkpoint, options: WriteCheckpointOptions = {}): Promise<string> {
  const step = checkpoint.manifest.step;
  const stage = (s: CheckpointWriteStage): void => options.onStage?.(s, step);
  await mkdir(dir, { recursive: true });
  const name = generationName(step);
  const data = new Uint8Array(checkpoint.data);
  await writeDurable(join(dir, `${name}.bin`), data, options.onStage !== undefined ? () => stage('data-partial') : undefined);
  stage('data-written');
  const dataFile: FileIntegrity = { name: `${name}.bin`, bytes: data.byteLength, sha256: sha256(data) };
  await writeDurable(join(dir, `${name}.json`), selfHashedJson({ ...checkpoint.manifest, dataFile }, 'manifestSha256'));
  stage('manifest-written');
  await syncFolder(dir);
  stage('before-pointer');
  await writeDurable(join(dir, LATEST), `${JSON.stringify({ step, manifest: `${name}.json`, data: `${name}.bin` }, null, 2)}\n`);
  await syncFolder(dir);
  stage('pointer-written');
  // Old generations and stray temporary files go only after the pointer moved.
  const entries = await readdir(dir);
  const generations = entries.filter((f) => /^step-\d+\.json$/.test(f)).sort();
  for (const old of generations.slice(0, Math.max(0, generations.length - KEEP_GENERATIONS))) {
    const stem = old.replace(/\.json$/, '');
    await rm(join(dir, `${stem}.json`), { force: true });
    await rm(join(dir, `${stem}.bin`), { force: true });
  }
  for (const stray of entries.filter((f) => /\.tmp-\d+-\d+$/.test(f) && !f.includes(`.tmp-${process.pid}-`))) await rm(join(dir, stray), { force: true });
  return join(dir, `${name}.json`);
}

/** A checkpoint generation that failed verification: which file and what is wrong. */
export class CheckpointDamage extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`loadCheckpoint: ${problem}`);
    this.name = 'CheckpointDamage';
  }
}

function bytesOf(spec: tf.io.WeightsManifestEntry): number {
  const count = spec.shape.reduce((product, d) => product * d, 1);
  return count * (spec.dtype === 'bool' ? 1 : 4);
}

async function readOrDamage(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointDamage(path, `${what} '${path}' ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? (error as Error).message})`}`);
  }
}

/**
 * Reads and verifies one generation (`manifest`, `data`: file names in `dir`).
 * Throws `CheckpointDamage` naming the file and what is wrong.
 */
export async function readCheckpointFiles(dir: string, manifestName: string, dataName: string, onNote?: NoteSink): Promise<Checkpoint> {
  const manifestPath = join(dir, manifestName);
  const text = (await readOrDamage(manifestPath, 'manifest')).toString('utf8');
  let parsed: ReturnType<typeof parseSelfHashed>;
  try {
    parsed = parseSelfHashed(text, 'manifestSha256');
  } catch {
    throw new CheckpointDamage(manifestPath, `manifest '${manifestPath}' is not valid JSON (${text.length} bytes; truncated or overwritten)`);
  }
  if (parsed.hash === 'mismatch') throw new CheckpointDamage(manifestPath, `manifest '${manifestPath}' does not match its SHA-256: its content changed after it was written`);
  const { dataFile, ...manifestFields } = parsed.value as { dataFile?: FileIntegrity } & Record<string, unknown>;
  const manifest: unknown = manifestFields;
  try {
    checkManifest(manifest, manifestPath);
  } catch (error) {
    throw new CheckpointDamage(manifestPath, (error as Error).message.replace(/^loadCheckpoint: /, ''));
  }
  const dataPath = join(dir, dataName);
  const bytes = await readOrDamage(dataPath, 'data file');
  const expected = manifest.modelBytes + manifest.optimizer.weightSpecs.reduce((sum, spec) => sum + bytesOf(spec), 0);
  if (parsed.hash === 'absent' || dataFile === undefined) {
    onNote?.(`checkpoint '${manifestPath}' has no SHA-256 (written by an older hemnet): its size is checked, its content cannot be`);
  } else {
    if (bytes.byteLength !== dataFile.bytes) {
      throw new CheckpointDamage(dataPath, `data file '${dataPath}' has ${bytes.byteLength} bytes, its manifest says ${dataFile.bytes} (truncated or overwritten)`);
    }
    const actual = sha256(bytes);
    if (actual !== dataFile.sha256) {
      throw new CheckpointDamage(dataPath, `data file '${dataPath}' has SHA-256 ${actual.slice(0, 16)}…, its manifest says ${dataFile.sha256.slice(0, 16)}…: its bytes changed after it was written`);
    }
  }
  if (bytes.byteLength !== expected) {
    throw new CheckpointDamage(dataPath, `data file '${dataPath}' has ${bytes.byteLength} bytes, the manifest's weights need ${expected} (truncated or overwritten)`);
  }
  const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return { manifest: manifest as CheckpointManifest, data };
}

async function readPointer(dir: string): Promise<{ manifest: string; data: string } | null> {
  const path = join(dir, LATEST);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CheckpointDamage(path, `cannot read '${path}': ${(error as Error).message}`);
  }
  let pointer: { manifest?: unknown; data?: unknown };
  try {
    pointer = JSON.parse(text) as { manifest?: unknown; data?: unknown };
  } catch {
    throw new CheckpointDamage(path, `'${path}' is not valid JSON`);
  }
  const plain = (v: unknown): v is string => typeof v === 'string' && v !== '' && !/[/\\]/.test(v) && v !== '..' && v !== '.';
  if (pointer === null || typeof pointer !== 'object' || !plain(pointer.manifest) || !plain(pointer.data)) {
    throw new CheckpointDamage(path, `'${path}' does not name a manifest and a data file inside its folder`);
  }
  return { manifest: pointer.manifest, data: pointer.data };
}

/**
 * Reads and verifies the checkpoint `latest.json` points at; null when `dir`
 * has no `latest.json`. A damaged checkpoint is an error (no fallback): use
 * this where computing on the wrong weights would be silently wrong (eval).
 */
export async function readLatestCheckpoint(dir: string, options: { onNote?: NoteSink } = {}): Promise<Checkpoint | null> {
  const pointer = await readPointer(dir);
  if (pointer === null) return null;
  return readCheckpointFiles(dir, pointer.manifest, pointer.data, options.onNote);
}

async function listGenerations(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((f) => /^step-\d+\.json$/.test(f))
    .map((f) => f.replace(/\.json$/, ''))
    .sort((a, b) => generationStep(b) - generationStep(a));
}

export interface IntactCheckpoint {
  checkpoint: Checkpoint;
  /** Manifest file name of the generation used. */
  generation: string;
  /** Newer generations that failed verification, with the reason. */
  damaged: { generation: string; problem: string }[];
}

/**
 * The newest generation in `dir` that verifies (for `--resume`); null when
 * there is none at all. Newer damaged generations are renamed to
 * `<name>.damaged` (kept for inspection, out of the way of later writes)
 * and reported through `onNote`. Throws when every generation is damaged,
 * listing each.
 */
export async function readNewestIntactCheckpoint(dir: string, options: { onNote?: NoteSink; setAsideDamaged?: boolean } = {}): Promise<IntactCheckpoint | null> {
  const generations = await listGenerations(dir);
  // The generation latest.json names counts even when its manifest is gone (that is damage, not an uncommitted write).
  const pointed = await readPointer(dir).catch(() => null);
  const pointedStem = pointed?.manifest.replace(/\.json$/, '');
  if (pointedStem !== undefined && /^step-\d+$/.test(pointedStem) && !generations.includes(pointedStem)) {
    generations.push(pointedStem);
    generations.sort((a, b) => generationStep(b) - generationStep(a));
  }
  if (generations.length === 0) {
    // A pointer without any generation file: say so rather than starting over silently.
    const pointer = await readPointer(dir);
    if (pointer !== null) throw new CheckpointDamage(join(dir, pointer.manifest), `'${join(dir, LATEST)}' names '${pointer.manifest}', which is missing, and no other generation is left`);
    return null;
  }
  const damaged: { generation: string; problem: string }[] = [];
  for (const stem of generations) {
    try {
      const checkpoint = await readCheckpointFiles(dir, `${stem}.json`, `${stem}.bin`, options.onNote);
      if (damaged.length > 0) {
        const list = damaged.map((d) => `${d.generation} (${d.problem.replace(/^loadCheckpoint: /, '')})`).join('; ');
        options.onNote?.(`damaged checkpoint generation(s): ${list}; resuming from the newest intact generation ${stem} (step ${checkpoint.manifest.step})`);
        if (options.setAsideDamaged === true) {
          for (const d of damaged) {
            for (const ext of ['.json', '.bin']) await rename(join(dir, `${d.generation}${ext}`), join(dir, `${d.generation}${ext}.damaged`)).catch(() => undefined);
          }
          await syncFolder(dir);
        }
      }
      return { checkpoint, generation: `${stem}.json`, damaged };
    } catch (error) {
      if (!(error instanceof CheckpointDamage)) throw error;
      damaged.push({ generation: stem, problem: error.message });
    }
  }
  throw new Error(`loadCheckpoint: no intact checkpoint generation in '${dir}': ${damaged.map((d) => `${d.generation}: ${d.problem.replace(/^loadCheckpoint: /, '')}`).join('; ')}`);
}

/** Saves a model as tfjs `model.json` + `weights.bin` (loadable with `loadModelFromFiles` or any tfjs file loader). */
export async function saveModelToFiles(dir: string, model: tf.LayersModel): Promise<void> {
  await mkdir(dir, { recursive: true });
  const artifacts = await modelArtifacts(model);
  const weightData = artifacts.weightData;
  const bytes = weightData === undefined ? new Uint8Array(0) : new Uint8Array(Array.isArray(weightData) ? await new Blob(weightData).arrayBuffer() : weightData);
  await writeDurable(join(dir, 'weights.bin'), bytes);
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'hemnet',
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
    weightFiles: [{ name: 'weights.bin', bytes: bytes.byteLength, sha256: sha256(bytes) }],
  };
  await writeDurable(join(dir, 'model.json'), selfHashedJson(modelJson, 'modelJsonSha256'));
  await syncFolder(dir);
}

/** A weight-file path of model.json, checked to stay inside the model's folder. */
function weightPath(dir: string, jsonPath: string, path: unknown): string {
  if (typeof path !== 'string' || path === '' || isAbsolute(path) || /\\|\0/.test(path) || path.split('/').includes('..')) {
    throw new Error(`loadModelFromFiles: '${jsonPath}' names weight file ${JSON.stringify(path)}, which is not a file inside '${dir}'`);
  }
  const full = join(dir, path);
  const rel = relative(resolve(dir), resolve(full));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new Error(`loadModelFromFiles: '${jsonPath}' names weight file ${JSON.stringify(path)}, which is outside '${dir}'`);
  return full;
}

/** An IOHandler that reads and verifies `model.json` + weight shards from a folder (Node). */
export function fileModelHandler(dir: string, options: { onNote?: NoteSink } = {}): tf.io.IOHandler {
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const jsonPath = join(dir, 'model.json');
      let text: string;
      try {
        text = await readFile(jsonPath, 'utf8');
      } catch (error) {
        throw new Error(`loadModelFromFiles: cannot read '${jsonPath}': ${(error as Error).message}`);
      }
      let parsed: ReturnType<typeof parseSelfHashed>;
      try {
        parsed = parseSelfHashed(text, 'modelJsonSha256');
      } catch {
        throw new Error(`loadModelFromFiles: '${jsonPath}' is not valid JSON (${text.length} bytes; truncated or overwritten)`);
      }
      if (parsed.hash === 'mismatch') throw new Error(`loadModelFromFiles: '${jsonPath}' does not match its SHA-256: its content changed after it was written`);
      const json = parsed.value as { modelTopology?: object; weightsManifest?: tf.io.WeightsManifestConfig; weightFiles?: FileIntegrity[] };
      if (json.modelTopology === undefined || typeof json.modelTopology !== 'object' || !Array.isArray(json.weightsManifest)) {
        throw new Error(`loadModelFromFiles: '${jsonPath}' has no modelTopology and weightsManifest (not a tfjs layers model)`);
      }
      const groups = json.weightsManifest;
      const weightSpecs = groups.flatMap((group) => (Array.isArray(group?.weights) ? group.weights : []));
      const paths = groups.flatMap((group) => (Array.isArray(group?.paths) ? group.paths : [undefined]));
      const integrity = new Map((Array.isArray(json.weightFiles) ? json.weightFiles : []).map((f) => [f.name, f]));
      if (parsed.hash === 'absent' || integrity.size === 0) onNote(options.onNote, `model '${jsonPath}' has no SHA-256 (written by an older hemnet or another tool): its weight sizes are checked, their content cannot be`);
      const shards: Buffer[] = [];
      for (const path of paths) {
        const full = weightPath(dir, jsonPath, path);
        let bytes: Buffer;
        try {
          bytes = await readFile(full);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          throw new Error(`loadModelFromFiles: weight file '${full}' ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? (error as Error).message})`}`);
        }
        const expected = integrity.get(path as string);
        if (expected !== undefined) {
          if (bytes.byteLength !== expected.bytes) throw new Error(`loadModelFromFiles: weight file '${full}' has ${bytes.byteLength} bytes, '${jsonPath}' says ${expected.bytes} (truncated or overwritten)`);
          const actual = sha256(bytes);
          if (actual !== expected.sha256) throw new Error(`loadModelFromFiles: weight file '${full}' has SHA-256 ${actual.slice(0, 16)}…, '${jsonPath}' says ${expected.sha256.slice(0, 16)}…: its bytes changed after it was written`);
        }
        shards.push(bytes);
      }
      const joined = Buffer.concat(shards);
      const needed = weightSpecs.reduce((sum, spec) => sum + bytesOf(spec), 0);
      if (joined.byteLength !== needed) throw new Error(`loadModelFromFiles: the weight files of '${jsonPath}' hold ${joined.byteLength} bytes, its weights need ${needed} (truncated or overwritten)`);
      return {
        modelTopology: json.modelTopology,
        weightSpecs,
        weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer,
      };
    },
  };
}

function onNote(sink: NoteSink | undefined, message: string): void {
  sink?.(message);
}

/** Loads a tfjs LayersModel saved as files (`model.json` + shards), verified. */
export async function loadModelFromFiles(dir: string, options: { onNote?: NoteSink } = {}): Promise<tf.LayersModel> {
  const model = await tf.loadLayersModel(fileModelHandler(dir, options));
  flushSubnormalWeights(model);
  return model;
}
