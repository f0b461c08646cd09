/**
 * What the `hemnet` subcommands share (Node only): config assembly, datasets,
 * model building or restoring, run folders and figures.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { augmentDataset } from '../data/augment.js';
import { loadMnistScenes } from '../data/mnistScenes.js';
import { loadVocDataset } from '../data/voc.js';
import type { SegmentationDataset, SegmentationSample } from '../data/types.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { colorizeMask, imageToRgba, tileImages, type RgbaImage } from '../plots/image.js';
import { lineChart } from '../plots/svg.js';
import { writePng, writeSvgPng } from '../plots/png.js';
import { restoreModel, restoreOptimizer, type Checkpoint } from '../train/checkpoint.js';
import type { TrainingOptimizer } from '../train/optimizer.js';
import { readLatestCheckpoint, loadModelFromFiles } from '../train/checkpointFiles.js';
import { attentionMaps } from '../train/attention.js';
import { defaultRunConfig, defaultRunConfigFor, mergeRunConfig, type PartialRunConfig, type RunConfig } from '../train/runConfig.js';
import { inferProbabilities, type InferenceOptions } from '../infer/inference.js';
import { runClassNames, runNormalization } from '../infer/runInfo.js';

export const CHECKPOINT_DIR = 'checkpoints';
export const MODEL_DIR = 'model';

function sourceOf(partial: unknown): 'scenes' | 'voc' | undefined {
  const source = (partial as { data?: { source?: unknown } } | null)?.data?.source;
  return source === 'voc' || source === 'scenes' ? source : undefined;
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
  const root = d.vocRoot as string;
  const { mean, std } = runNormalization(config);
  const crop = d.cropSize ?? d.canvasSize;
  const common = {
    numClasses: config.model.numClasses,
    classNames: runClassNames(config),
    maskFormat: d.maskFormat,
    maskDir: d.maskDir ?? (d.maskFormat === 'index' ? 'SegmentationClassAug' : 'SegmentationClass'),
    mean,
    std,
  };
  // Evaluation at the original resolution (eval.mode auto/whole/slide); 'resize' shrinks and pads to the crop.
  const rawVal = await loadVocDataset(root, { split: d.valSplit, ...common, ...(config.eval.mode === 'resize' ? { maxSide: crop } : {}) });
  const val = config.eval.mode === 'resize' ? augmentDataset(rawVal, { cropSize: crop, seed: d.seed }) : rawVal;
  const train = which === 'both' ? await loadVocDataset(root, { split: d.trainSplit, ...common, augment: { ...augment, cropSize: crop } }) : val;
  return { train, val, mean, std };
}

/** Reads the run folder's latest checkpoint, or null. */
export function latestCheckpoint(runDir: string): Promise<Checkpoint | null> {
  return readLatestCheckpoint(join(runDir, CHECKPOINT_DIR));
}

/**
 * The model of a run folder: its latest checkpoint, else its saved model.
 * The backend (the override, else the run's own) is set up before any tensor exists.
 */
export async function loadRunModel(runDir: string, backendOverride?: string): Promise<{ model: tf.LayersModel; config: RunConfig; step: number }> {
  const checkpoint = await latestCheckpoint(runDir);
  if (checkpoint !== null) {
    const config = mergeRunConfig(defaultRunConfig(), checkpoint.manifest.config, `${runDir}/${CHECKPOINT_DIR}`);
    await setBackend(backendOverride ?? config.backend);
    return { model: await restoreModel(checkpoint), config, step: checkpoint.manifest.step };
  }
  if (existsSync(join(runDir, MODEL_DIR, 'model.json'))) {
    const config = mergeRunConfig(defaultRunConfig(), JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8')), `${runDir}/config.json`);
    await setBackend(backendOverride ?? config.backend);
    return { model: await loadModelFromFiles(join(runDir, MODEL_DIR)), config, step: NaN };
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
export function predictLabels(model: tf.LayersModel, sample: SegmentationSample, inference: InferenceOptions = {}): Uint8Array {
  const input = tf.tensor4d(sample.image, [1, sample.height, sample.width, sample.channels]);
  const probabilities = inferProbabilities(model, input, inference);
  const labels = tf.tidy(() => new Uint8Array(tf.argMax(probabilities, -1).dataSync()));
  tf.dispose([input, probabilities]);
  return labels;
}

/** The inference settings of a run's `eval` section. */
export function runInference(config: RunConfig): InferenceOptions {
  const e = config.eval;
  return {
    mode: e.mode,
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
  inference: InferenceOptions = {},
): Promise<void> {
  const tiles: RgbaImage[] = [];
  for (let i = 0; i < Math.min(count, dataset.size); i++) {
    const sample = dataset.get(i);
    // Small scenes are drawn ×2; photographs (VOC, ~500 px) at their own size.
    const factor = Math.max(1, Math.floor(160 / Math.max(sample.height, sample.width)));
    tiles.push(
      upscale(sampleImage(sample, mean, std), factor),
      upscale(colorizeMask(sample.label, sample.height, sample.width, { ignoreLabel: dataset.ignoreLabel }), factor),
      upscale(colorizeMask(predictLabels(model, sample, inference), sample.height, sample.width, { ignoreLabel: dataset.ignoreLabel }), factor),
    );
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
