/**
 * What the `hemnet` subcommands share (Node only): config assembly, datasets,
 * model building or restoring, run folders and figures.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { augmentDataset } from '../data/augment.js';
import { loadMnistScenes } from '../data/mnistScenes.js';
import { createStreamingDataset } from '../data/streaming.js';
import { vocLayout } from '../data/vocLayout.js';
import { loadSamples, type SegmentationDataset, type SegmentationSample } from '../data/types.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { colorizeMask, imageToRgba, tileImages, type RgbaImage } from '../plots/image.js';
import { lineChart } from '../plots/svg.js';
import { writePng, writeSvgPng } from '../plots/png.js';
import { restoreModel, restoreOptimizer, type Checkpoint } from '../train/checkpoint.js';
import type { TrainingOptimizer } from '../train/optimizer.js';
import { readLatestCheckpoint, readNewestIntactCheckpoint, loadModelFromFiles, type NoteSink } from '../train/checkpointFiles.js';
import type { Output } from './command.js';
import { attentionMaps } from '../train/attention.js';
import { defaultRunConfig, mergeRunConfig, type PartialRunConfig, type RunConfig } from '../train/runConfig.js';

export const CHECKPOINT_DIR = 'checkpoints';
export const MODEL_DIR = 'model';

/** Defaults ← JSON config file ← flags. */
export async function assembleConfig(configPath: string | undefined, flags: PartialRunConfig, base: RunConfig = defaultRunConfig()): Promise<RunConfig> {
  let config = base;
  if (configPath !== undefined) {
    let text: string;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (error) {
      throw new Error(`hemnet: cannot read config file '${configPath}': ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`hemnet: config file '${configPath}' is not valid JSON: ${(error as Error).message}`);
    }
    config = mergeRunConfig(config, parsed, configPath);
  }
  return mergeRunConfig(config, flags, 'flags');
}

export interface Datasets {
  train: SegmentationDataset;
  val: SegmentationDataset;
  /** Mean/std the images were normalised with (for pictures). */
  mean: readonly number[];
  std: readonly number[];
}

/** The training (augmented) and validation datasets of a run. */
export async function createDatasets(config: RunConfig, which: 'both' | 'val' = 'both'): Promise<Datasets> {
  const d = config.data;
  const augment = { scaleRange: d.scaleRange, flip: d.flip, cropSize: d.canvasSize, seed: d.seed };
  if (d.source === 'scenes') {
    // Digits are 28·scale pixels; the default scales [1.5, 2.2] shrink to fit small canvases.
    const largest = d.canvasSize / 28;
    const digitScale: [number, number] = d.digitScale ?? [Math.min(1.5, largest), Math.min(2.2, largest)];
    const common = { canvasSize: d.canvasSize, digitsPerScene: d.digitsPerScene, scaleRange: digitScale, labelDilation: d.labelDilation, clutter: { fragments: d.clutterFragments }, seed: d.seed };
    const val = loadMnistScenes({ split: 'val', size: d.valSize, ...common });
    const rawTrain = which === 'both' ? loadMnistScenes({ split: 'train', size: d.trainSize, ...common }) : val;
    const plain = d.scaleRange[0] === 1 && d.scaleRange[1] === 1 && !d.flip;
    return { train: plain ? rawTrain : augmentDataset(rawTrain, augment), val, mean: [0.5, 0.5, 0.5], std: [0.29, 0.29, 0.29] };
  }
  // VOC streams from disk: the split lists are read now, files decode on demand
  // into a bounded cache a few batches ahead of the step that uses them.
  const root = d.vocRoot as string;
  const numClasses = config.model.numClasses;
  const val = augmentDataset(createStreamingDataset(vocLayout(root, { split: 'val', numClasses }), { maxSide: d.canvasSize }), { cropSize: d.canvasSize, seed: d.seed });
  const train = which === 'both' ? createStreamingDataset(vocLayout(root, { split: 'train', numClasses }), { augment }) : val;
  return { train, val, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
}

/** Reads and verifies the run folder's latest checkpoint, or null; a damaged one is an error naming the file. */
export async function latestCheckpoint(runDir: string, onNote?: NoteSink): Promise<Checkpoint | null> {
  try {
    return await readLatestCheckpoint(join(runDir, CHECKPOINT_DIR), onNote ? { onNote } : {});
  } catch (error) {
    throw new Error(`${(error as Error).message}; refusing to compute on it ('hemnet train --resume' falls back to the newest intact generation)`);
  }
}

/**
 * The checkpoint `hemnet train` continues from: the newest generation that
 * verifies. With `resume`, newer damaged generations are set aside
 * (renamed `*.damaged`) and the fallback is reported on stderr.
 */
export async function resumeCheckpoint(runDir: string, resume: boolean, io: Output): Promise<Checkpoint | null> {
  const found = await readNewestIntactCheckpoint(join(runDir, CHECKPOINT_DIR), {
    setAsideDamaged: resume,
    ...(resume ? { onNote: (note: string) => io.err(`hemnet train: ${note}\n`) } : {}),
  });
  return found?.checkpoint ?? null;
}

/**
 * The model of a run folder: its latest checkpoint, else its saved model.
 * The backend (the override, else the run's own) is set up before any tensor exists.
 */
export async function loadRunModel(runDir: string, backendOverride?: string, onNote?: NoteSink): Promise<{ model: tf.LayersModel; config: RunConfig; step: number }> {
  if (existsSync(runDir) && !statSync(runDir).isDirectory()) throw new Error(`hemnet: run folder '${runDir}' is a file, not a folder`);
  const checkpoint = await latestCheckpoint(runDir, onNote);
  if (checkpoint !== null) {
    const config = mergeRunConfig(defaultRunConfig(), checkpoint.manifest.config, `${runDir}/${CHECKPOINT_DIR}`);
    await setBackend(backendOverride ?? config.backend);
    return { model: await restoreModel(checkpoint), config, step: checkpoint.manifest.step };
  }
  if (existsSync(join(runDir, MODEL_DIR, 'model.json'))) {
    const config = mergeRunConfig(defaultRunConfig(), JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8')), `${runDir}/config.json`);
    await setBackend(backendOverride ?? config.backend);
    return { model: await loadModelFromFiles(join(runDir, MODEL_DIR), onNote ? { onNote } : {}), config, step: NaN };
  }
  throw new Error(`hemnet: '${runDir}' holds no checkpoint (${CHECKPOINT_DIR}/latest.json) and no saved model (${MODEL_DIR}/model.json)`);
}

export async function restoreRun(checkpoint: Checkpoint): Promise<{ model: tf.LayersModel; optimizer: TrainingOptimizer }> {
  return { model: await restoreModel(checkpoint), optimizer: await restoreOptimizer(checkpoint) };
}

export function buildModel(config: RunConfig): tf.LayersModel {
  return buildSegmentationModel(config.model).model;
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
}

/** Loss per step as a line chart (SVG and PNG). */
export async function writeLossCurve(dir: string, losses: readonly number[], title: string): Promise<void> {
  const window = Math.max(1, Math.round(losses.length / 50));
  const smoothed = losses.map((_, i) => {
    const from = Math.max(0, i - window + 1);
    const part = losses.slice(from, i + 1);
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
  const svg = lineChart({
    title,
    xLabel: 'step',
    yLabel: 'loss',
    series: [
      { name: 'loss', y: losses, color: '#c7c7c7' },
      { name: `mean of ${window}`, y: smoothed },
    ],
    markers: false,
  });
  await writeFile(join(dir, 'loss.svg'), svg);
  await writeSvgPng(join(dir, 'loss.png'), svg, 144);
}

function sampleImage(sample: SegmentationSample, mean: readonly number[], std: readonly number[]): RgbaImage {
  return imageToRgba(sample.image, sample.height, sample.width, sample.channels, { mean, std });
}

/** Class per pixel for a batch of one sample (argmax of the main output). */
export function predictLabels(model: tf.LayersModel, sample: SegmentationSample): Uint8Array {
  return tf.tidy(() => {
    const input = tf.tensor4d(sample.image, [1, sample.height, sample.width, sample.channels]);
    const output = model.predict(input) as tf.Tensor | tf.Tensor[];
    const logits = Array.isArray(output) ? (output[0] as tf.Tensor) : output;
    return new Uint8Array(tf.argMax(logits, -1).dataSync());
  });
}

/** Rows of [image | truth | prediction] for the first `count` samples. */
export async function writePredictions(path: string, model: tf.LayersModel, dataset: SegmentationDataset, count: number, mean: readonly number[], std: readonly number[]): Promise<void> {
  const tiles: RgbaImage[] = [];
  const samples = await loadSamples(dataset, Array.from({ length: Math.min(count, dataset.size) }, (_, index) => ({ index })));
  for (const sample of samples) {
    tiles.push(
      upscale(sampleImage(sample, mean, std), 2),
      upscale(colorizeMask(sample.label, sample.height, sample.width, { ignoreLabel: dataset.ignoreLabel }), 2),
      upscale(colorizeMask(predictLabels(model, sample), sample.height, sample.width, { ignoreLabel: dataset.ignoreLabel }), 2),
    );
  }
  await writePng(path, tileImages(tiles, { columns: 3, gap: 4 }));
}

function upscale(image: RgbaImage, factor: number): RgbaImage {
  const width = image.width * factor;
  const height = image.height * factor;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const source = (Math.floor(y / factor) * image.width + Math.floor(x / factor)) * 4;
      data.set(image.data.subarray(source, source + 4), (y * width + x) * 4);
    }
  }
  return { data, width, height };
}

/**
 * The paper's Fig. 4 for one sample (`attentionMaps`): rows t = 1..T, the
 * bases with the most responsibility as columns. Returns false when the
 * model has no HEM head.
 */
export async function writeAttentionMaps(path: string, model: tf.LayersModel, sample: SegmentationSample, columns = 8): Promise<boolean> {
  const maps = attentionMaps(model, sample, { columns });
  if (maps === null) return false;
  await writePng(path, maps.grid);
  return true;
}
