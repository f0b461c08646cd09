/**
 * `hemnet train`, in four named steps: prepare the run folder, build the
 * run, train, write the artefacts. Each step is a function of what the
 * previous one returned, so a caller (a sweep worker, a test) can run them
 * one by one.
 */
import { existsSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { backendInfo, setBackend } from '../../backend.js';
import { loadSamples, type SegmentationDataset, type SegmentationSample } from '../../data/types.js';
import { HemStepSizeController } from '../../gradnets/hemStepSize.js';
import { resolveHemHeadOptions } from '../../layers/hemHead.js';
import { HEADS } from '../../models/heads.js';
import { countParameters } from '../../models/zoo.js';
import { captureCheckpoint, type Checkpoint } from '../../train/checkpoint.js';
import { fileModelHandler, saveModelToFiles, writeCheckpoint } from '../../train/checkpointFiles.js';
import { loadBackboneWeights } from '../../models/transfer.js';
import type { EvaluationResult } from '../../train/evaluate.js';
import { findHemHeads } from '../../train/evaluate.js';
import { trainSegmentation } from '../../train/loop.js';
import { TrainLog } from '../../train/trainLog.js';
import { createGradientWorkers } from '../../train/parallel.js';
import { workerBackedDataset, type WorkerBackedDataset } from '../../train/parallelData.js';
import { disposeProbe, disposeValidationProbe, formatBasesUsage, measureTraining, probeBatch, validationProbe } from '../../train/monitor.js';
import type { TrainingOptimizer } from '../../train/optimizer.js';
import { presetRunConfig, RUN_PRESETS } from '../../train/presets.js';
import { mergeRunConfig, type PartialRunConfig, type RunConfig } from '../../train/runConfig.js';
import type { CommandSpec, Output } from '../command.js';
import { stringOption } from '../command.js';
import { ProgressBar } from '../progress.js';
import { emptyRunFolder, lazyRunLock } from '../runLock.js';
import { installStopSignals, SIGNAL_EXIT_CODES, testKillHooks } from '../signals.js';
import { SEGMENTER_FILE } from '../../infer/segment.js';
import { segmenterInfoForRun } from '../../infer/runInfo.js';
import {
  assembleConfig,
  buildModel,
  CHECKPOINT_DIR,
  createDatasets,
  defaultThreads,
  ensureDir,
  evaluateWithProgress,
  formatMetrics,
  MODEL_DIR,
  restoreRun,
  resumeCheckpoint,
  writeAttentionMaps,
  writeJson,
  writeLossCurve,
  writePredictions,
  progressTarget,
  runInference,
  type Datasets,
} from '../run.js';

export interface TrainCommandOptions {
  configPath?: string;
  /** A registered run preset (RUN_PRESETS) under the config file and the flags. */
  preset?: string;
  flags: PartialRunConfig;
  out: string;
  resume: boolean;
  overwrite: boolean;
}

/** Step 1's result: the run folder and the config the run will use. */
export interface PreparedRunFolder {
  dir: string;
  /** The checkpoint to resume (null: a fresh run). */
  checkpoint: Checkpoint | null;
  config: RunConfig;
}

/**
 * Step 1, the run-folder policy: a folder with a checkpoint needs --resume
 * or --overwrite; --overwrite empties it (except the lock); --resume takes
 * the newest checkpoint generation that verifies (newer damaged ones are
 * set aside with a note on stderr) and its config with the flags on top
 * (e.g. more --steps). Writes `config.json` only after the config
 * validated, so a bad flag leaves no folder behind.
 */
export async function prepareRunFolder(options: TrainCommandOptions, io?: Output): Promise<PreparedRunFolder> {
  const dir = options.out;
  const quiet: Output = { out: () => undefined, err: () => undefined };
  let checkpoint = existsSync(dir) && !options.overwrite ? await resumeCheckpoint(dir, options.resume, io ?? quiet) : null;
  if (checkpoint !== null && !options.resume && !options.overwrite) {
    throw new Error(`hemnet train: '${dir}' already has a checkpoint at step ${checkpoint.manifest.step}; pass --resume to continue it or --overwrite to start over`);
  }
  if (options.overwrite && existsSync(dir)) {
    emptyRunFolder(dir); // the lock, when held, stays
    checkpoint = null;
  }
  const config =
    checkpoint !== null && options.resume
      ? mergeRunConfig(mergeRunConfig(await assembleConfig(undefined, {}), checkpoint.manifest.config, 'checkpoint'), options.flags, 'flags')
      : await assembleConfig(options.configPath, options.flags, options.preset !== undefined ? presetRunConfig(options.preset) : undefined);
  return { dir, checkpoint, config };
}

/** Step 2's result: everything the training step needs. */
export interface TrainRun extends PreparedRunFolder {
  datasets: Datasets;
  model: tf.LayersModel;
  /** The restored optimizer when resuming. */
  optimizer: TrainingOptimizer | null;
  startStep: number;
  /** GradNets-style annealed η (null: η fixed). */
  annealing: HemStepSizeController | null;
}

/**
 * An η schedule for the HEM heads when `train.stepSizeEnd` is set, starting
 * from the η of the head's preset with the config's options. It sets η
 * before every step from the step alone, so a resume needs no extra state.
 */
function stepSizeAnnealing(model: tf.LayersModel, config: RunConfig): HemStepSizeController | null {
  const preset = HEADS.get(config.model.head, 'hemnet train').hemPreset;
  const stepSizeEnd = config.train.stepSizeEnd;
  if (stepSizeEnd === null || preset === null || findHemHeads(model).length === 0) return null;
  return new HemStepSizeController(model, {
    stepSizeStart: resolveHemHeadOptions({ ...config.model.hem, preset }).stepSize,
    stepSizeEnd,
    schedule: { tau: config.train.stepSizeTau ?? Math.max(1, Math.round(config.train.steps / 2)), unit: 'step' },
  });
}

/**
 * In-memory datasets (the built-in scenes): the training batches are made on
 * a data worker thread that builds the same dataset from the config, read
 * ahead by the loop, so that no step waits for its batch to be drawn. Null
 * for datasets that already load asynchronously (files), and when the
 * worker cannot build the dataset (e.g. one registered by an extension in
 * this thread only): then batches are made between steps, as before.
 */
async function startDataWorker(config: RunConfig, train: SegmentationDataset, io: Output): Promise<WorkerBackedDataset | null> {
  if (train.load !== undefined) return null;
  try {
    return await workerBackedDataset(train, { module: new URL('../run.js', import.meta.url).href, exportName: 'createDatasets', args: [config], property: 'train' });
  } catch (error) {
    io.err(`note: batches are prepared on the training thread (${(error as Error).message})\n`);
    return null;
  }
}

/** Step 2: backend, run folder + config.json, datasets, the model (restored or new) and the η schedule. */
export async function buildRun(folder: PreparedRunFolder, io: Output): Promise<TrainRun> {
  const { dir, checkpoint, config } = folder;
  const backend = await setBackend(config.backend);
  await ensureDir(dir);
  await writeJson(join(dir, 'config.json'), config);
  io.out(`backend ${backend.name} · run folder ${dir}\n`);
  for (const note of backend.notes) io.out(`note: ${note}\n`);
  const datasets = await createDatasets(config);
  const restored = checkpoint !== null ? await restoreRun(checkpoint) : null;
  const model = restored?.model ?? buildModel(config);
  const startStep = checkpoint?.manifest.step ?? 0;
  if (restored === null && config.train.backboneWeights !== null) {
    // Pretrained backbone (e.g. torchvision weights through 'hemnet import'): copied by layer name, every shape checked.
    const report = await loadBackboneWeights(model, fileModelHandler(config.train.backboneWeights, { onNote: (note) => io.err(`${note}\n`) }));
    io.out(`backbone weights from ${config.train.backboneWeights}: ${report.copiedLayers.length} layers, ${report.copiedParameters.toLocaleString('en')} parameters\n`);
  }
  io.out(
    `model ${model.name}: ${countParameters(model, 'trainable').toLocaleString('en')} trainable parameters · ` +
      `${config.data.source} ${datasets.train.size} train / ${datasets.val.size} val · ${config.train.steps} steps of ${config.train.batchSize}` +
      (startStep > 0 ? ` · resuming at step ${startStep}` : '') +
      '\n',
  );
  const annealing = stepSizeAnnealing(model, config);
  if (annealing !== null) io.out(`η anneals ${annealing.stepSizeStart} → ${annealing.stepSizeEnd} over ${annealing.schedule.tau} steps\n`);
  return { ...folder, datasets, model, optimizer: restored?.optimizer ?? null, startStep, annealing };
}

/** Step 3's result. */
export interface TrainingOutcome {
  /** SIGINT or SIGTERM stopped the run (a checkpoint was written; continue with --resume). */
  interrupted: boolean;
  /** The exit code of the stop: 130 (SIGINT), 143 (SIGTERM); 0 when not interrupted. */
  exitCode: number;
  /** Loss per step (index step − 1), from train-log.jsonl, including the steps of earlier runs of this folder. */
  losses: number[];
}

/**
 * Step 3: the training loop, with a progress bar, every event appended to
 * train-log.jsonl (cut back to the resumed step first; one record per
 * step, fsync'ed before every checkpoint), checkpoints, and SIGINT/SIGTERM
 * stopping it at a step boundary (a second signal exits at once).
 */
export async function runTraining(run: TrainRun, io: Output): Promise<TrainingOutcome> {
  const { model, config, datasets, annealing } = run;
  const checkpointDir = join(run.dir, CHECKPOINT_DIR);
  const stops = installStopSignals(io);
  const hooks = testKillHooks();
  const log = TrainLog.open(join(run.dir, 'train-log.jsonl'), run.startStep, (note) => io.err(`${note}\n`));
  // Data-parallel threads (the caller's + worker_threads), each with its own backend instance.
  const workerCount = Math.min(config.train.workers ?? defaultThreads(), config.train.batchSize);
  const monitored = config.train.monitorEvery > 0 && (findHemHeads(model).length > 0 || config.train.monitorGradient || config.train.monitorValidation > 0);
  const bar = new ProgressBar({ label: 'train', total: config.train.steps, ...progressTarget(io) });
  // Created inside the try: whatever fails (a bad validation file in the probe, a worker that
  // does not start), the finally closes the worker threads, or the process would never exit.
  let workers: Awaited<ReturnType<typeof createGradientWorkers>> = null;
  let probe: Awaited<ReturnType<typeof probeBatch>> | null = null;
  let validation: Awaited<ReturnType<typeof validationProbe>> | null = null;
  let dataWorker: WorkerBackedDataset | null = null;
  try {
    probe = monitored ? await probeBatch(datasets.val, config.train.monitorSamples, config.model.inputSize) : null;
    validation = monitored && config.train.monitorValidation > 0 ? await validationProbe(datasets.val, config.train.monitorValidation, config.model.inputSize, config.eval.batchSize) : null;
    const probed = probe;
    const validated = validation;
    workers = await createGradientWorkers(model, workerCount, backendInfo().name);
    io.out(`training on ${workerCount} thread${workerCount === 1 ? '' : 's'} (data-parallel, ${backendInfo().name} each)\n`);
    dataWorker = await startDataWorker(config, datasets.train, io);
    await trainSegmentation({
      model,
      dataset: dataWorker ?? datasets.train,
      options: config.train,
      startStep: run.startStep,
      ...(run.optimizer !== null ? { optimizer: run.optimizer } : {}),
      ...(annealing !== null ? { beforeStep: (step: number) => annealing.hook(step) } : {}),
      signal: stops.signal,
      ...(hooks.afterStep ? { afterStep: hooks.afterStep } : {}),
      ...(workers !== null ? { workers } : {}),
      ...(probed !== null ? { monitor: { every: config.train.monitorEvery, measure: () => measureTraining(model, probed, { gradient: config.train.monitorGradient, validation: validated }) } } : {}),
      saveCheckpoint: async (step, optimizer) => {
        log.flush(); // the records of steps 1..step are on disk before the checkpoint of step
        await writeCheckpoint(checkpointDir, await captureCheckpoint(model, optimizer, step, config), hooks.onStage ? { onStage: hooks.onStage } : {});
      },
      onEvent: (event) => {
        log.append(event);
        if (event.type === 'step') {
          bar.update(event.step, { loss: event.loss.toFixed(3), lr: event.learningRate.toExponential(2), 'img/s': event.imagesPerSecond.toFixed(1) });
        } else if (event.type === 'stopped') {
          bar.finish();
          io.err(`stopped at step ${event.step} (${event.reason}); a checkpoint is being written — continue with --resume\n`);
        }
      },
    });
  } finally {
    if (probe !== null) disposeProbe(probe);
    if (validation !== null) disposeValidationProbe(validation);
    await workers?.close();
    await dataWorker?.close();
    stops.dispose();
    log.close();
  }
  const { losses, missing } = log.stepLosses(config.train.steps);
  if (!stops.signal.aborted && missing.length > 0) io.err(`train-log.jsonl lacks ${missing.length} step record(s) (first: step ${missing[0]}); loss.png leaves them out\n`);
  return { interrupted: stops.signal.aborted, exitCode: stops.signal.aborted ? (stops.exitCode() ?? SIGNAL_EXIT_CODES.SIGINT) : 0, losses };
}

/**
 * The machine that finished (and evaluated) a run, for metrics.json: runs
 * compared in one sweep may come from different sessions and machines, and
 * kernels (oneDNN's, XNNPACK's) round differently per CPU.
 */
export function machineInfo(): { cpu: string; cores: number; platform: string; arch: string; node: string } {
  return { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: availableParallelism(), platform: process.platform, arch: process.arch, node: process.version };
}

/** Step 4: the saved model, metrics.json (evaluated on the validation split), loss.png, predictions.png, attention.png. */
export async function writeArtefacts(run: TrainRun, outcome: TrainingOutcome, io: Output): Promise<EvaluationResult['metrics']> {
  const { dir, model, config, datasets } = run;
  await saveModelToFiles(join(dir, MODEL_DIR), model);
  // Class names, normalisation and inference settings next to model.json: loadSegmenter needs nothing else.
  await writeJson(join(dir, MODEL_DIR, SEGMENTER_FILE), segmenterInfoForRun(config));
  const val: SegmentationDataset = datasets.val;
  const result = await evaluateWithProgress(model, config, io, config.eval.evalIterations, val);
  const bases = result.bases;
  io.out(`${formatMetrics(result, val.classNames)}\n`);
  if (bases.length > 0) io.out(`${formatBasesUsage(bases)}\n`);
  await writeJson(join(dir, 'metrics.json'), { step: config.train.steps, split: 'val', ...result.metrics, bases, eval: config.eval, backend: backendInfo().name, machine: machineInfo() });
  await writeLossCurve(dir, outcome.losses.filter((v) => !Number.isNaN(v)), `${model.name}: training loss`);
  await writePredictions(join(dir, 'predictions.png'), model, val, 6, datasets.mean, datasets.std, datasets.palette, runInference(config));
  const attention = await writeAttentionMaps(join(dir, 'attention.png'), model, (await loadSamples(val, [{ index: 0 }]))[0] as SegmentationSample);
  io.out(`wrote ${dir}/{config.json, metrics.json, loss.png, predictions.png${attention ? ', attention.png' : ''}, ${MODEL_DIR}/, ${CHECKPOINT_DIR}/}\n`);
  return result.metrics;
}

/**
 * `hemnet train`: the four steps, with the run folder locked (train.lock)
 * from the first step on. `metrics` is null and `interrupted` true when
 * SIGINT/SIGTERM stopped the run (the CLI then exits with `exitCode`, 130 or 143).
 */
export async function trainCommand(
  options: TrainCommandOptions,
  io: Output,
): Promise<{ metrics: EvaluationResult['metrics'] | null; config: RunConfig; interrupted: boolean; exitCode: number }> {
  const lock = lazyRunLock(options.out, io);
  if (existsSync(options.out)) lock.acquire();
  try {
    const folder = await prepareRunFolder(options, io);
    lock.acquire(); // before buildRun creates the folder
    const run = await buildRun(folder, io);
    const outcome = await runTraining(run, io);
    if (outcome.interrupted) return { metrics: null, config: run.config, interrupted: true, exitCode: outcome.exitCode };
    return { metrics: await writeArtefacts(run, outcome, io), config: run.config, interrupted: false, exitCode: 0 };
  } finally {
    lock.release();
  }
}

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Train a segmentation model (default: HEMNet on the built-in MNIST scenes), evaluate it and write a run folder',
  synopsis: '[--preset NAME] [--config FILE] [--out DIR] [--resume | --overwrite] [config flags]',
  description:
    'Writes checkpoints, the model, metrics.json, loss.png, predictions.png and attention.png into the run folder.\n' +
    'SIGINT (Ctrl-C) or SIGTERM stops at the next step boundary, writes a checkpoint and exits with 130 (SIGINT) or 143 (SIGTERM);\n' +
    'a second signal exits at once, leaving the last complete checkpoint. --resume continues from the newest checkpoint that verifies.\n' +
    'The run folder is locked (train.lock, with the pid) while a process trains into it.',
  configFlags: true,
  options: {
    preset: { type: 'string', value: 'NAME', help: `a built-in run preset under the config file and flags (${RUN_PRESETS.list().map((p) => `${p.name}: ${p.summary}`).join('; ')})` },
    config: { type: 'string', value: 'FILE', help: 'JSON run config (sections backend, model, data, train, eval; unknown keys are errors); flags override it' },
    out: { type: 'string', value: 'DIR', help: 'run folder (default runs/default)' },
    resume: { type: 'boolean', help: "continue the run folder's latest checkpoint" },
    overwrite: { type: 'boolean', help: 'delete an existing run folder first' },
  },
  run: async ({ values, flags, io }) => {
    const configPath = stringOption(values.config);
    const preset = stringOption(values.preset);
    const { exitCode } = await trainCommand(
      {
        ...(configPath !== undefined ? { configPath } : {}),
        ...(preset !== undefined ? { preset } : {}),
        flags,
        out: stringOption(values.out) ?? 'runs/default',
        resume: values.resume === true,
        overwrite: values.overwrite === true,
      },
      io,
    );
    return exitCode;
  },
};
