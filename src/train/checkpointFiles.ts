/**
 * Checkpoints and models on disk (Node only). Every file is written to a
 * temporary name and renamed, and `latest.json` is switched last, so a crash
 * at any moment leaves the previous checkpoint readable.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { checkManifest, modelArtifacts, type Checkpoint } from './checkpoint.js';

const LATEST = 'latest.json';
const KEEP_GENERATIONS = 2;

async function writeAtomic(path: string, contents: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(temporary, contents);
  await rename(temporary, path);
}

function generationName(step: number): string {
  return `step-${String(step).padStart(7, '0')}`;
}

/** Writes a checkpoint generation into `dir` and points `latest.json` at it. Returns the manifest path. */
export async function writeCheckpoint(dir: string, checkpoint: Checkpoint): Promise<string> {
  await mkdir(dir, { recursive: true });
  const name = generationName(checkpoint.manifest.step);
  await writeAtomic(join(dir, `${name}.bin`), new Uint8Array(checkpoint.data));
  await writeAtomic(join(dir, `${name}.json`), JSON.stringify(checkpoint.manifest));
  await writeAtomic(join(dir, LATEST), JSON.stringify({ step: checkpoint.manifest.step, manifest: `${name}.json`, data: `${name}.bin` }, null, 2));
  // Old generations go only after the pointer moved.
  const generations = (await readdir(dir)).filter((f) => /^step-\d+\.json$/.test(f)).sort();
  for (const old of generations.slice(0, Math.max(0, generations.length - KEEP_GENERATIONS))) {
    const stem = old.replace(/\.json$/, '');
    await rm(join(dir, `${stem}.json`), { force: true });
    await rm(join(dir, `${stem}.bin`), { force: true });
  }
  return join(dir, `${name}.json`);
}

/** Reads the checkpoint `latest.json` points at; null when `dir` has none. */
export async function readLatestCheckpoint(dir: string): Promise<Checkpoint | null> {
  let pointerText: string;
  try {
    pointerText = await readFile(join(dir, LATEST), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`loadCheckpoint: cannot read '${join(dir, LATEST)}': ${(error as Error).message}`);
  }
  let pointer: { manifest?: unknown; data?: unknown };
  try {
    pointer = JSON.parse(pointerText) as { manifest?: unknown; data?: unknown };
  } catch {
    throw new Error(`loadCheckpoint: '${join(dir, LATEST)}' is not valid JSON`);
  }
  if (typeof pointer.manifest !== 'string' || typeof pointer.data !== 'string') {
    throw new Error(`loadCheckpoint: '${join(dir, LATEST)}' does not name a manifest and a data file`);
  }
  const manifestPath = join(dir, pointer.manifest);
  const manifest: unknown = JSON.parse(await readFile(manifestPath, 'utf8'));
  checkManifest(manifest, manifestPath);
  const bytes = await readFile(join(dir, pointer.data));
  const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const expected = manifest.modelBytes + manifest.optimizer.weightSpecs.reduce((sum, spec) => sum + bytesOf(spec), 0);
  if (data.byteLength !== expected) {
    throw new Error(`loadCheckpoint: '${join(dir, pointer.data)}' has ${data.byteLength} bytes, the manifest expects ${expected}`);
  }
  return { manifest, data };
}

function bytesOf(spec: tf.io.WeightsManifestEntry): number {
  const count = spec.shape.reduce((product, d) => product * d, 1);
  return count * (spec.dtype === 'bool' ? 1 : 4);
}

/** Saves a model as tfjs `model.json` + `weights.bin` (loadable with `loadModelFromFiles` or any tfjs file loader). */
export async function saveModelToFiles(dir: string, model: tf.LayersModel): Promise<void> {
  await mkdir(dir, { recursive: true });
  const artifacts = await modelArtifacts(model);
  const weightData = artifacts.weightData;
  const bytes = weightData === undefined ? new Uint8Array(0) : new Uint8Array(Array.isArray(weightData) ? await new Blob(weightData).arrayBuffer() : weightData);
  await writeAtomic(join(dir, 'weights.bin'), bytes);
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'hemnet',
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
  };
  await writeAtomic(join(dir, 'model.json'), JSON.stringify(modelJson));
}

/** An IOHandler that reads `model.json` + weight shards from a folder (Node). */
export function fileModelHandler(dir: string): tf.io.IOHandler {
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const jsonPath = join(dir, 'model.json');
      let parsed: { modelTopology?: object; weightsManifest?: tf.io.WeightsManifestConfig };
      try {
        parsed = JSON.parse(await readFile(jsonPath, 'utf8')) as typeof parsed;
      } catch (error) {
        throw new Error(`loadModelFromFiles: cannot read '${jsonPath}': ${(error as Error).message}`);
      }
      const groups = parsed.weightsManifest ?? [];
      const weightSpecs = groups.flatMap((group) => group.weights);
      const shards = await Promise.all(groups.flatMap((group) => group.paths).map((p) => readFile(join(dir, p))));
      const joined = Buffer.concat(shards);
      return {
        modelTopology: parsed.modelTopology,
        weightSpecs,
        weightData: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer,
      };
    },
  };
}

/** Loads a tfjs LayersModel saved as files (`model.json` + shards). */
export function loadModelFromFiles(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileModelHandler(dir));
}
