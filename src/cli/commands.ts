/** The `hemnet` subcommands (Node only: files, stdout, signals). */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';
import type * as tf from '@tensorflow/tfjs';
import { backendInfo, setBackend } from '../backend.js';
import { colorizeMask, imageToRgba, overlayMask, tileImages } from '../plots/image.js';
import { writePng } from '../plots/png.js';
import { countParameters, summarizeModel } from '../models/zoo.js';
import { captureCheckpoint } from '../train/checkpoint.js';
import { saveModelToFiles, writeCheckpoint } from '../train/checkpointFiles.js';
import { evaluateSegmentation, findHemHeads, type EvaluationResult } from '../train/evaluate.js';
import { HemStepSizeController } from '../gradnets/hemStepSize.js';
import { resolveHemHeadOptions } from '../layers/hemHead.js';
import { trainSegmentation } from '../train/loop.js';
import { mergeRunConfig, type PartialRunConfig, type RunConfig } from '../train/runConfig.js';
import { loadSamples, type SegmentationSample } from '../data/types.js';
import { ProgressBar } from './progress.js';
import { emptyRunFolder, lazyRunLock } from './runLock.js';
import { installStopSignals, testKillHooks } from './signals.js';
import { TrainLog } from '../train/trainLog.js';
import type { Output } from './command.js';
import {
  assembleConfig,
  buildModel,
  CHECKPOINT_DIR,
  createDatasets,
  ensureDir,
  latestCheckpoint,
  loadRunModel,
  MODEL_DIR,
  predictLabels,
  restoreRun,
  resumeCheckpoint,
  writeAttentionMaps,
  writeJson,
  writeLossCurve,
  writePredictions,
} from './run.js';

export type { Output } from './command.js';

function formatMetrics(result: EvaluationResult, classNames: readonly string[]): string {
  const m = result.metrics;
  const lines = [`mIoU ${(100 * m.meanIoU).toFixed(2)}   pixel accuracy ${(100 * m.pixelAccuracy).toFixed(2)}   (${result.samples} images)`];
  const iou = m.perClassIoU.map((v, i) => `${classNames[i] ?? i}:${v === null ? '—' : (100 * v).toFixed(1)}`);
  lines.push(`per-class IoU  ${iou.join('  ')}`);
  return lines.join('\n');
}

async function evaluateWithProgress(model: tf.LayersModel, config: RunConfig, io: Output, evalIterations: number | null): Promise<EvaluationResult> {
  const { val } = await createDatasets(config, 'val');
  const total = Math.min(val.size, config.eval.limit ?? val.size);
  const bar = new ProgressBar({ label: 'eval ', total, ...(io.progressStream ? { stream: io.progressStream } : {}) });
  return evaluateSegmentation(model, val, {
    batchSize: config.eval.batchSize,
    scales: config.eval.scales,
    flip: config.eval.flip,
    evalIterations,
    sizeMultiple: config.model.outputStride,
    ...(config.eval.limit !== null ? { limit: config.eval.limit } : {}),
    onProgress: (done) => bar.update(done),
  });
}

export interface TrainCommandOptions {
  configPath?: string;
  flags: PartialRunConfig;
  out: string;
  resume: boolean;
  overwrite: boolean;
}

/** `hemnet train`: train, checkpoint, evaluate, and write the run folder (locked while it runs). */
export async function trainCommand(options: TrainCommandOptions, io: Output): Promise<{ metrics: EvaluationResult['metrics'] | null; config: RunConfig }> {
  const lock = lazyRunLock(options.out, io);
  if (existsSync(options.out)) lock.acquire();
  try {
    return await trainIntoRunFolder(options, io, lock.acquire);
  } finally {
    lock.release();
  }
}

async function trainIntoRunFolder(options: TrainCommandOptions, io: Output, lockRunFolder: () => void): Promise<{ metrics: EvaluationResult['metrics'] | null; config: RunConfig }> {
  const runDir = options.out;
  const checkpointDir = join(runDir, CHECKPOINT_DIR);
  // --resume: the newest generation that verifies (damaged newer ones are set aside, with a note).
  let checkpoint = existsSync(runDir) && !options.overwrite ? await resumeCheckpoint(runDir, options.resume, io) : null;
  if (checkpoint !== null && !options.resume && !options.overwrite) {
    throw new Error(`hemnet train: '${runDir}' already has a checkpoint at step ${checkpoint.manifest.step}; pass --resume to continue it or --overwrite to start over`);
  }
  if (options.overwrite && existsSync(runDir)) {
    emptyRunFolder(runDir); // under the lock, which stays
    checkpoint = null;
  }
  // Resume: the checkpoint's config, with flags on top (e.g. more --steps).
  const config =
    checkpoint !== null && options.resume
      ? mergeRunConfig(mergeRunConfig(await assembleConfig(undefined, {}), checkpoint.manifest.config, 'checkpoint'), options.flags, 'flags')
      : await assembleConfig(options.configPath, options.flags);
  const backend = await setBackend(config.backend);
  lockRunFolder();
  await ensureDir(runDir);
  await writeJson(join(runDir, 'config.json'), config);
  io.out(`backend ${backend.name} · run folder ${runDir}\n`);

  const datasets = await createDatasets(config);
  const restored = checkpoint !== null ? await restoreRun(checkpoint) : null;
  const model = restored?.model ?? buildModel(config);
  const startStep = checkpoint?.manifest.step ?? 0;
  io.out(
    `model ${model.name}: ${countParameters(model, 'trainable').toLocaleString('en')} trainable parameters · ` +
      `${config.data.source} ${datasets.train.size} train / ${datasets.val.size} val · ${config.train.steps} steps of ${config.train.batchSize}` +
      (startStep > 0 ? ` · resuming at step ${startStep}` : '') +
      '\n',
  );

  // GradNets-style annealed η: set before every step from the step alone, so a resume needs no extra state.
  const heads = findHemHeads(model);
  const stepSizeEnd = config.train.stepSizeEnd;
  const annealing =
    stepSizeEnd !== null && heads.length > 0
      ? new HemStepSizeController(model, {
          stepSizeStart: resolveHemHeadOptions({ preset: config.model.head === 'ema' ? 'emanet' : 'hemnet', ...config.model.hem }).stepSize,
          stepSizeEnd,
          schedule: { tau: config.train.stepSizeTau ?? Math.max(1, Math.round(config.train.steps / 2)), unit: 'step' },
        })
      : null;
  if (annealing !== null) io.out(`η anneals ${annealing.stepSizeStart} → ${annealing.stepSizeEnd} over ${annealing.schedule.tau} steps\n`);
  const stops = installStopSignals(io);
  const hooks = testKillHooks();
  // One record per trained step: the log is cut back to the checkpoint's step and fsync'ed before every checkpoint.
  const log = TrainLog.open(join(runDir, 'train-log.jsonl'), startStep, (note) => io.err(`${note}\n`));
  const bar = new ProgressBar({ label: 'train', total: config.train.steps, ...(io.progressStream ? { stream: io.progressStream } : {}) });
  try {
    await trainSegmentation({
      model,
      dataset: datasets.train,
      options: config.train,
      startStep,
      ...(restored ? { optimizer: restored.optimizer } : {}),
      ...(annealing !== null ? { beforeStep: (step: number) => annealing.hook(step) } : {}),
      signal: stops.signal,
      ...(hooks.afterStep ? { afterStep: hooks.afterStep } : {}),
      saveCheckpoint: async (step, optimizer) => {
        log.flush();
        await writeCheckpoint(checkpointDir, await captureCheckpoint(model, optimizer, step, config), hooks.onStage ? { onStage: hooks.onStage } : {});
      },
      onEvent: (event) => {
        log.append(event);
        if (event.type === 'step') {
          bar.update(event.step, {
            loss: event.loss.toFixed(3),
            lr: event.learningRate.toExponential(2),
            'img/s': event.imagesPerSecond.toFixed(1),
          });
        } else if (event.type === 'stopped') {
          bar.finish();
          io.err(`stopped at step ${event.step} (${event.reason}); a checkpoint is being written — continue with --resume\n`);
        }
      },
    });
  } finally {
    stops.dispose();
    log.close();
  }
  if (stops.signal.aborted) {
    process.exitCode = stops.exitCode() ?? 130;
    return { metrics: null, config };
  }
  await saveModelToFiles(join(runDir, MODEL_DIR), model);
  const result = await evaluateWithProgress(model, config, io, config.eval.evalIterations);
  io.out(`${formatMetrics(result, datasets.val.classNames)}\n`);
  await writeJson(join(runDir, 'metrics.json'), { step: config.train.steps, split: 'val', ...result.metrics, eval: config.eval, backend: backendInfo().name });
  const { losses, missing } = log.stepLosses(config.train.steps);
  if (missing.length > 0) io.err(`train-log.jsonl lacks ${missing.length} step record(s) (first: step ${missing[0]}); loss.png leaves them out\n`);
  await writeLossCurve(runDir, losses.filter((v) => !Number.isNaN(v)), `${model.name}: training loss`);
  await writePredictions(join(runDir, 'predictions.png'), model, datasets.val, 6, datasets.mean, datasets.std);
  const attention = await writeAttentionMaps(join(runDir, 'attention.png'), model, (await loadSamples(datasets.val, [{ index: 0 }]))[0] as SegmentationSample);
  io.out(`wrote ${runDir}/{config.json, metrics.json, loss.png, predictions.png${attention ? ', attention.png' : ''}, ${MODEL_DIR}/, ${CHECKPOINT_DIR}/}\n`);
  return { metrics: result.metrics, config };
}

/** `hemnet eval`: evaluate a run folder's model (latest checkpoint or saved model). */
export async function evalCommand(options: { run: string; flags: PartialRunConfig }, io: Output): Promise<EvaluationResult['metrics']> {
  const { model, config: runConfig, step } = await loadRunModel(options.run, options.flags.backend, (note) => io.err(`${note}\n`));
  const config = mergeRunConfig(runConfig, { ...(options.flags.eval ? { eval: options.flags.eval } : {}), ...(options.flags.data ? { data: options.flags.data } : {}) }, 'flags');
  const backend = backendInfo();
  const evalIterations = options.flags.model?.hem?.evalIterations ?? config.eval.evalIterations;
  io.out(`backend ${backend.name} · ${options.run} (step ${Number.isNaN(step) ? 'final' : step}) · scales [${config.eval.scales.join(', ')}]${config.eval.flip ? ' + flip' : ''}${evalIterations !== null ? ` · T_eval ${evalIterations}` : ''}\n`);
  const result = await evaluateWithProgress(model, config, io, evalIterations);
  const { val } = await createDatasets(config, 'val');
  io.out(`${formatMetrics(result, val.classNames)}\n`);
  return result.metrics;
}

async function readImageFile(path: string, height: number, width: number, mean: readonly number[], std: readonly number[]): Promise<SegmentationSample> {
  let raw: Buffer;
  try {
    raw = await sharp(path).removeAlpha().resize(width, height, { fit: 'fill' }).raw().toBuffer();
  } catch (error) {
    throw new Error(`hemnet predict: cannot read image '${path}': ${(error as Error).message}`);
  }
  const image = new Float32Array(height * width * 3);
  for (let i = 0; i < image.length; i++) image[i] = ((raw[i] as number) / 255 - (mean[i % 3] as number)) / (std[i % 3] as number);
  return { image, label: new Uint8Array(height * width), height, width, channels: 3, id: basename(path, extname(path)) };
}

/** `hemnet predict`: colour-mapped masks, overlays and attention maps as PNG. */
export async function predictCommand(options: { run: string; out: string; images: string[]; count: number; backend?: string }, io: Output): Promise<string[]> {
  const { model, config } = await loadRunModel(options.run, options.backend, (note) => io.err(`${note}\n`));
  const { val, mean, std } = await createDatasets(config, 'val');
  const [height, width] = config.model.inputSize;
  const samples: SegmentationSample[] = [];
  for (const path of options.images) samples.push(await readImageFile(path, height, width, mean, std));
  if (options.images.length === 0) samples.push(...(await loadSamples(val, Array.from({ length: Math.min(options.count, val.size) }, (_, index) => ({ index })))));
  await ensureDir(options.out);
  const written: string[] = [];
  for (const sample of samples) {
    const prediction = predictLabels(model, sample);
    const picture = imageToRgba(sample.image, sample.height, sample.width, sample.channels, { mean, std });
    const mask = colorizeMask(prediction, sample.height, sample.width, { ignoreLabel: val.ignoreLabel });
    const overlay = overlayMask(picture, prediction, { ignoreLabel: val.ignoreLabel });
    const maskPath = join(options.out, `${sample.id}-mask.png`);
    const panelPath = join(options.out, `${sample.id}-panel.png`);
    await writePng(maskPath, mask);
    await writePng(panelPath, tileImages([picture, overlay, mask], { columns: 3, gap: 2 }));
    written.push(maskPath, panelPath);
    const attentionPath = join(options.out, `${sample.id}-attention.png`);
    if (await writeAttentionMaps(attentionPath, model, sample)) written.push(attentionPath);
  }
  io.out(`wrote ${written.length} files to ${options.out}\n`);
  return written;
}

/** `hemnet info`: backend, model summary and parameter counts. */
export async function infoCommand(options: { run?: string; configPath?: string; flags: PartialRunConfig }, io: Output): Promise<void> {
  const { model } =
    options.run !== undefined ? await loadRunModel(options.run, options.flags.backend, (note) => io.err(`${note}\n`)) : await (async () => {
      const c = await assembleConfig(options.configPath, options.flags);
      await setBackend(c.backend);
      return { model: buildModel(c), config: c };
    })();
  const backend = backendInfo();
  io.out(`backend: ${backend.name} (requested ${backend.requested}; tfjs ${backend.tfjsVersion}; ${backend.isNode ? 'Node' : 'browser'})\n`);
  io.out(`${summarizeModel(model)}\n`);
  io.out(`parameters: ${countParameters(model, 'all').toLocaleString('en')} (trainable ${countParameters(model, 'trainable').toLocaleString('en')}, non-trainable ${countParameters(model, 'nonTrainable').toLocaleString('en')})\n`);
  if (options.run !== undefined) {
    const files = await readdir(options.run);
    io.out(`run folder: ${files.sort().join(', ')}\n`);
  }
}

