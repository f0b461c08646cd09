/**
 * Checkpoints as plain data (platform-neutral): the model (topology and
 * every weight, μ⁽⁰⁾ and BN statistics included), the optimizer state, the
 * step and the full run config. `checkpointFiles.ts` writes them to disk.
 */
import * as tf from '@tensorflow/tfjs';
import { createOptimizer, optimizerName, type OptimizerName, type TrainingOptimizer } from './optimizer.js';
import { flushSubnormalWeights } from '../kernels/denormals.js';

export const CHECKPOINT_FORMAT = 'hemnet-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** Optimisation steps done. */
  step: number;
  /** The full run config that produced it. */
  config: unknown;
  modelTopology: unknown;
  weightSpecs: tf.io.WeightsManifestEntry[];
  /** Bytes of `data` that hold the model weights (the optimizer's follow). */
  modelBytes: number;
  optimizer: { kind: OptimizerName; learningRate: number; momentum: number; weightSpecs: tf.io.WeightsManifestEntry[] };
  /** Other state to carry (e.g. GradNet schedules). */
  extra: Record<string, unknown>;
}

export interface Checkpoint {
  manifest: CheckpointManifest;
  /** Model weights followed by optimizer weights. */
  data: ArrayBuffer;
}

function toArrayBuffer(data: ArrayBuffer | ArrayBuffer[] | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  if (!Array.isArray(data)) return data;
  const total = data.reduce((sum, part) => sum + part.byteLength, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of data) {
    joined.set(new Uint8Array(part), offset);
    offset += part.byteLength;
  }
  return joined.buffer;
}

/** Model topology and weights as tfjs artifacts, in memory. */
export async function modelArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (artifacts === undefined) throw new Error('modelArtifacts: the model saved nothing');
  return artifacts;
}

/** Snapshots model, optimizer, step and config. */
export async function captureCheckpoint(
  model: tf.LayersModel,
  optimizer: TrainingOptimizer,
  step: number,
  config: unknown,
  extra: Record<string, unknown> = {},
): Promise<Checkpoint> {
  const artifacts = await modelArtifacts(model);
  const modelData = toArrayBuffer(artifacts.weightData as ArrayBuffer | ArrayBuffer[] | undefined);
  const optimizerWeights = await optimizer.getWeights();
  const encoded = await tf.io.encodeWeights(optimizerWeights);
  // getWeights makes a fresh scalar for the iteration count on every call (the
  // accumulators are the optimizer's own variables): dispose what is not a variable,
  // or every checkpoint leaks one tensor (found by bench/soak.ts).
  for (const { tensor } of optimizerWeights) if (!(tensor instanceof tf.Variable)) tensor.dispose();
  const data = new Uint8Array(modelData.byteLength + encoded.data.byteLength);
  data.set(new Uint8Array(modelData), 0);
  data.set(new Uint8Array(encoded.data), modelData.byteLength);
  const optimizerConfig = optimizer.getConfig();
  return {
    manifest: {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      step,
      config,
      modelTopology: artifacts.modelTopology,
      weightSpecs: artifacts.weightSpecs ?? [],
      modelBytes: modelData.byteLength,
      optimizer: {
        kind: optimizerName(optimizer),
        learningRate: Number(optimizerConfig['learningRate']),
        momentum: Number(optimizerConfig['momentum'] ?? 0),
        weightSpecs: encoded.specs,
      },
      extra,
    },
    data: data.buffer,
  };
}

/** Checks the manifest's shape; messages name what is wrong. */
export function checkManifest(manifest: unknown, source: string): asserts manifest is CheckpointManifest {
  const m = manifest as Partial<CheckpointManifest> | null;
  if (m === null || typeof m !== 'object' || m.format !== CHECKPOINT_FORMAT) {
    throw new Error(`loadCheckpoint: '${source}' is not a hemnet checkpoint (format '${String(m?.format)}')`);
  }
  if (m.version !== CHECKPOINT_VERSION) {
    throw new Error(`loadCheckpoint: '${source}' has version ${String(m.version)}, this hemnet reads version ${CHECKPOINT_VERSION}`);
  }
  if (typeof m.step !== 'number' || !Array.isArray(m.weightSpecs) || typeof m.modelBytes !== 'number' || m.optimizer === undefined) {
    throw new Error(`loadCheckpoint: '${source}' is missing step, weights or optimizer state`);
  }
}

/** Rebuilds the model (custom layers must be registered, i.e. hemnet imported). */
export async function restoreModel(checkpoint: Checkpoint): Promise<tf.LayersModel> {
  const { manifest, data } = checkpoint;
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: manifest.modelTopology as object,
      weightSpecs: manifest.weightSpecs,
      weightData: data.slice(0, manifest.modelBytes),
    }),
  );
  flushSubnormalWeights(model);
  return model;
}

/** Rebuilds the optimizer (momentum SGD or Adam) with its accumulators and iteration count. */
export async function restoreOptimizer(checkpoint: Checkpoint): Promise<TrainingOptimizer> {
  const { manifest, data } = checkpoint;
  const optimizer = createOptimizer(manifest.optimizer.kind ?? 'sgd', manifest.optimizer.learningRate, manifest.optimizer.momentum);
  const decoded = tf.io.decodeWeights(data.slice(manifest.modelBytes), manifest.optimizer.weightSpecs);
  const named = manifest.optimizer.weightSpecs.map((spec) => {
    const tensor = decoded[spec.name];
    if (tensor === undefined) throw new Error(`loadCheckpoint: optimizer weight '${spec.name}' is missing from the data`);
    return { name: spec.name, tensor };
  });
  await optimizer.setWeights(named);
  tf.dispose(named.map((n) => n.tensor));
  return optimizer;
}
