/**
 * What the `hemnet` subcommands share (Node only): config assembly, datasets,
 * model building or restoring, run folders and figures.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, setBackend } from '../backend.js';
import '../data/builtinDatasets.js';
import { DATASETS } from '../data/registry.js';
import { loadSamples, type SegmentationDataset, type SegmentationSample } from '../data/types.js';
import { evaluateSegmentation, type EvaluationResult } from '../train/evaluate.js';
import { defaultWorkerCount } from '../train/parallel.js';
import { createEvaluationWorkers, type EvaluationWorkerPool } from '../train/parallelEval.js';
import type { DatasetSource } from '../train/parallelData.js';
import type { Output } from './command.js';
import { ProgressBar } from './progress.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { colorizeMask, imageToRgba, tileImages, type RgbaImage } from '../plots/image.js';
import { lineChart } from '../plots/svg.js';
import { writePng, writeSvgPng } from '../plots/png.js';
import { restoreModel, restoreOptimizer, type Checkpoint } from '../train/checkpoint.js';
import type { TrainingOptimizer } from '../train/optimizer.js';
import { readLatestCheckpoint, readNewestIntactCheckpoint, loadModelFromFiles, type NoteSink } from '../train/checkpointFiles.js';
import { attentionMaps } from '../train/attention.js';
import { datasetBasesUsage, type HeadBasesUsage } from '../train/monitor.js';
import { defaultRunConfig, defaultRunConfigFor, mergeRunConfig, type PartialRunConfig, type RunConfig } from '../train/runConfig.js';
import { inferProbabilities, type InferenceOptions, type InferenceTarget } from '../infer/inference.js';
import { foldInference } from '../infer/folded.js';

export const CHECKPOINT_DIR = 'checkpoints';
export const MODEL_DIR = 'model';

function sourceOf(partial: unknown): string | undefined {
  const source = (partial as { data?: { source?: unknown } } | null)?.data?.source;
  return typeof source === 'string' ? source : undefined;
}

/**
 * Defaults ← JSON config file ← flags. The defaults are the data source's
 * (`vocRunConfig()` for 'voc', the scenes run otherwise) unless `base` is given.
 */
export async function assembleConfig(configPath: string | undefined, flags: PartialRunConfig, base?: RunConfig): Promise<RunConfig> {
  let parsed: unknown;
  if (configPath !== undefined) {
    let text: string;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (error) {
      throw new Error(`hemnet: cannot read config file '${configPath}': ${(error as Error).message}`);
    }
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`hemnet: config file '${configPath}' is not valid JSON: ${(error as Error).message}`);
    }
  }
  let config = base ?? defaultRunConfigFor(sourceOf(flags) ?? sourceOf(parsed) ?? 'scenes');
  if (configPath !== undefined) config = mergeRunConfig(config, parsed, configPath);
  return mergeRunConfig(config, flags, 'flags');
}

export interface Datasets {
  train: SegmentationDataset;
  val: SegmentationDataset;
  /** Mean/std the images were normalised with (for pictures): the dataset's own metadata. */
  mean: readonly number[];
  std: readonly number[];
  /** The dataset's class colours. */
  palette: (classIndex: number) => [number, number, number];
}

/** The training (augmented) and validation datasets of a run, from the dataset registry. */
export async function createDatasets(config: RunConfig, which: 'both' | 'val' = 'both'): Promise<Datasets> {
  const spec = DATASETS.get(config.data.source, 'hemnet');
  const { mean, std, palette } = spec.metadata(config);
  const { train, val } = await spec.create(config, which);
  return { train, val, mean, std, palette };
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

/** Class per pixel of one sample at its own size (whole image or sliding windows, `inferProbabilities`). */
export function predictLabels(model: InferenceTarget, sample: SegmentationSample, inference: InferenceOptions = {}): Uint8Array {
  const input = tf.tensor4d(sample.image, [1, sample.height, sample.width, sample.channels]);
  const probabilities = inferProbabilities(model, input, inference);
  const classes = tf.argMax(probabilities, -1);
  const labels = new Uint8Array(classes.dataSync());
  classes.dispose();
  tf.dispose([input, probabilities]);
  return labels;
}

/** The inference settings of a run's `eval` section. */
export function runInference(config: RunConfig): InferenceOptions {
  const e = config.eval;
  return {
    mode: e.mode,
    fold: e.fold,
    sizeMultiple: config.model.outputStride,
    ...(e.cropSize !== null ? { cropSize: [e.cropSize, e.cropSize] as [number, number] } : {}),
    ...(e.stride !== null ? { stride: [e.stride, e.stride] as [number, number] } : {}),
  };
}

/** Rows of [image | truth | prediction] for the first `count` samples. */
export async function writePredictions(
  path: string,
  model: tf.LayersModel,
  dataset: SegmentationDataset,
  count: number,
  mean: readonly number[],
  std: readonly number[],
  palette?: (classIndex: number) => [number, number, number],
  inference: InferenceOptions = {},
): Promise<void> {
  const colors = { ignoreLabel: dataset.ignoreLabel, ...(palette !== undefined ? { palette } : {}) };
  const tiles: RgbaImage[] = [];
  const samples = await loadSamples(dataset, Array.from({ length: Math.min(count, dataset.size) }, (_, index) => ({ index })));
  // Folded once for these samples and disposed after them (a bare model given to inferProbabilities would keep its shared fold alive after it).
  const folded = inference.fold === false ? null : foldInference(model);
  try {
    for (const sample of samples) {
      // Small scenes are drawn ×2; photographs (VOC, ~500 px) at their own size.
      const factor = Math.max(1, Math.floor(160 / Math.max(sample.height, sample.width)));
      tiles.push(
        upscale(sampleImage(sample, mean, std), factor),
        upscale(colorizeMask(sample.label, sample.height, sample.width, colors), factor),
        upscale(colorizeMask(predictLabels(folded ?? model, sample, inference), sample.height, sample.width, colors), factor),
      );
    }
  } finally {
    folded?.dispose();
  }
  await writePng(path, tileImages(tiles, { columns: 3, gap: 4 }));
}

function upscale(image: RgbaImage, factor: number): RgbaImage {
  if (factor === 1) return image;
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

/** mIoU, pixel accuracy and per-class IoU as two lines of text. */
export function formatMetrics(result: EvaluationResult, classNames: readonly string[]): string {
  const m = result.metrics;
  const lines = [`mIoU ${(100 * m.meanIoU).toFixed(2)}   pixel accuracy ${(100 * m.pixelAccuracy).toFixed(2)}   (${result.samples} images)`];
  const iou = m.perClassIoU.map((v, i) => `${classNames[i] ?? i}:${v === null ? '—' : (100 * v).toFixed(1)}`);
  lines.push(`per-class IoU  ${iou.join('  ')}`);
  return lines.join('\n');
}

/** Where progress lines go: the output's progress stream, or nowhere with --quiet. */
export function progressTarget(io: Output): { stream?: NodeJS.WriteStream; enabled?: boolean } {
  if (io.quiet === true) return { enabled: false };
  return io.progressStream ? { stream: io.progressStream } : {};
}

/**
 * VOC (auto/whole/slide): every image at its original resolution, one at a
 * time. 'resize', and the scenes (all at the model's input size, where
 * 'whole' is the same pass), go in batches.
 */
function evaluatesAtOriginalSize(config: RunConfig): boolean {
  return config.eval.mode === 'slide' || (config.data.source !== 'scenes' && config.eval.mode !== 'resize');
}

/**
 * Threads of a run when its config sets none: one per core on wasm/cpu
 * (single-threaded backends, each thread with its own instance), 1 on
 * native/tensorflow, which thread inside.
 */
export function defaultThreads(): number {
  return ['wasm', 'cpu'].includes(backendInfo().name) ? defaultWorkerCount() : 1;
}

/**
 * Threads for one evaluation of `images` images: `eval.workers`, else
 * `train.workers`, else `defaultThreads()`; never more than there are batches.
 */
export function evaluationThreads(config: RunConfig, images: number): number {
  const wanted = config.eval.workers ?? config.train.workers ?? defaultThreads();
  const units = evaluatesAtOriginalSize(config) ? images : Math.ceil(images / config.eval.batchSize);
  return Math.max(1, Math.min(wanted, units));
}

/**
 * `threads − 1` evaluation workers (null for 1) that build their own copy of
 * the validation split `val` of `config` (so they also load its samples);
 * without that copy (a worker could not build it), workers sent the images.
 */
async function startEvaluationWorkers(model: tf.LayersModel, config: RunConfig, val: SegmentationDataset, threads: number, io: Output): Promise<EvaluationWorkerPool | null> {
  if (threads === 1) return null;
  const source: DatasetSource = { module: import.meta.url, exportName: 'createDatasets', args: [config, 'val'], property: 'val' };
  try {
    return await createEvaluationWorkers(model, threads, backendInfo().name, { dataset: val, source });
  } catch (error) {
    io.err(`note: evaluation workers load no samples themselves (${(error as Error).message})\n`);
    return createEvaluationWorkers(model, threads, backendInfo().name);
  }
}

/** An evaluation of a run's model, and the bases usage of its HEM heads over the same images. */
export type RunEvaluation = EvaluationResult & { bases: HeadBasesUsage[] };

/**
 * Evaluates on the run's validation split (its `eval` settings) with a
 * progress bar, then measures the bases usage of every HEM/EMA head over the
 * same images; both on `evaluationThreads` threads.
 */
export async function evaluateWithProgress(model: tf.LayersModel, config: RunConfig, io: Output, evalIterations: number | null, val?: SegmentationDataset): Promise<RunEvaluation> {
  const dataset = val ?? (await createDatasets(config, 'val')).val;
  const total = Math.min(dataset.size, config.eval.limit ?? dataset.size);
  const workers = await startEvaluationWorkers(model, config, dataset, evaluationThreads(config, total), io);
  if (workers !== null) io.out(`evaluating on ${workers.count + 1} threads (${workers.mirrors(dataset) ? 'workers load their own samples' : 'samples sent to the workers'})\n`);
  const bar = new ProgressBar({ label: 'eval ', total, ...progressTarget(io) });
  try {
    const started = performance.now();
    const result = await evaluateSegmentation(model, dataset, {
      ...(evaluatesAtOriginalSize(config) ? { inference: runInference(config) } : {}),
      batchSize: config.eval.batchSize,
      scales: config.eval.scales,
      flip: config.eval.flip,
      fold: config.eval.fold,
      evalIterations,
      sizeMultiple: config.model.outputStride,
      ...(config.eval.limit !== null ? { limit: config.eval.limit } : {}),
      workers,
      onProgress: (done) => bar.update(done),
    });
    const seconds = (performance.now() - started) / 1000;
    io.out(`evaluated ${result.samples} images in ${seconds.toFixed(1)} s (${(result.samples / seconds).toFixed(1)} img/s, ${(workers?.count ?? 0) + 1} thread${workers !== null ? 's' : ''}, ${backendInfo().name})\n`);
    const bases = await datasetBasesUsage(model, dataset, { batchSize: config.eval.batchSize, limit: config.eval.limit, iterations: evalIterations, workers });
    return { ...result, bases };
  } finally {
    await workers?.close();
  }
}
