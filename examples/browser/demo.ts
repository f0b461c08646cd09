/**
 * The browser demo (examples/browser/index.html): trains a small HEMNet on
 * synthetic digit scenes in the page, then draws the loss, predictions,
 * Fig. 4's attention maps and the ELBO per EM iteration.
 *
 * `?auto=1` runs on load; `?steps=N`, `?backend=wasm|webgl|cpu`, `?eta=η`
 * preset the form. The outcome is published as `window.hemnetDemo` (read by
 * test/browser.test.ts through Chromium).
 */
import * as tf from '@tensorflow/tfjs';
import {
  SCENE_NUM_CLASSES,
  attentionMaps,
  backendInfo,
  buildSegmentationModel,
  colorizeMask,
  createSceneDataset,
  createStrokeDigitPool,
  evaluateSegmentation,
  imageToRgba,
  lineChart,
  parseBackendName,
  setBackend,
  tileImages,
  trainSegmentation,
  type RgbaImage,
  type SegmentationDataset,
} from 'hemnet';
import { probeNumbers, type ProbeNumbers } from './probe.js';
import { setUpSegmentPanel } from './segmentPanel.js';

export interface DemoReport {
  backend: string;
  /** The probe on each backend the page could start (cpu, wasm, webgl). */
  probes: ProbeNumbers[];
  /** Backends that would not start, with the reason. */
  unavailable: string[];
  losses: number[];
  /** tf.memory().numTensors after every step. */
  tensorsAfterStep: number[];
  msPerStep: number;
  validation: { meanIoU: number; pixelAccuracy: number; samples: number };
  attention: { elbo: number[]; bases: number[]; width: number; height: number };
}

export type DemoState = { state: 'idle' | 'running' } | { state: 'done'; report: DemoReport } | { state: 'error'; message: string };

declare global {
  interface Window {
    hemnetDemo: DemoState;
  }
}

const CANVAS = 48;
const MEAN: [number, number, number] = [0.5, 0.5, 0.5];
const STD: [number, number, number] = [0.29, 0.29, 0.29];

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`demo: the page has no element #${id}`);
  return found as T;
}

function drawRgba(canvas: HTMLCanvasElement, image: RgbaImage, scale: number): void {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.style.width = `${image.width * scale}px`;
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('demo: no 2d canvas context');
  context.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
}

function nextFrame(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

function predictionTiles(model: tf.LayersModel, dataset: SegmentationDataset, count: number): RgbaImage {
  const tiles: RgbaImage[] = [];
  for (let i = 0; i < count; i++) {
    const sample = dataset.get(i);
    const predicted = tf.tidy(() => {
      const output = model.predict(tf.tensor4d(sample.image, [1, sample.height, sample.width, sample.channels])) as tf.Tensor;
      return new Uint8Array(tf.argMax(output, -1).dataSync());
    });
    tiles.push(
      imageToRgba(sample.image, sample.height, sample.width, sample.channels, { mean: MEAN, std: STD }),
      colorizeMask(sample.label, sample.height, sample.width, { ignoreLabel: dataset.ignoreLabel }),
      colorizeMask(predicted, sample.height, sample.width, { ignoreLabel: dataset.ignoreLabel }),
    );
  }
  return tileImages(tiles, { columns: 3, gap: 2 });
}

async function probeBackends(): Promise<{ probes: ProbeNumbers[]; unavailable: string[] }> {
  const wasmPaths = new URL('./wasm/', location.href).href;
  const probes: ProbeNumbers[] = [];
  const unavailable: string[] = [];
  for (const name of ['cpu', 'wasm', 'webgl'] as const) {
    try {
      await setBackend(name, { wasmPaths });
    } catch (error) {
      // A browser without WebGL still runs the demo on wasm or cpu.
      unavailable.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    probes.push(probeNumbers());
  }
  return { probes, unavailable };
}

export async function runDemo(options: { backend: string; steps: number; stepSize: number }, status: (text: string, done: number) => void): Promise<DemoReport> {
  status('Checking numbers on cpu, wasm and webgl…', 0);
  const { probes, unavailable } = await probeBackends();
  await setBackend(parseBackendName(options.backend), { wasmPaths: new URL('./wasm/', location.href).href });
  const backend = backendInfo().name;

  status('Drawing 5000 synthetic digits…', 0);
  await nextFrame();
  const digits = createStrokeDigitPool({ count: 5000, seed: 0 });
  // Scenes are generated on demand (about 1 ms each): 12000 training scenes
  // keep a 1000-step run from overfitting (400 cached scenes did, badly).
  const sceneOptions = {
    canvasSize: CANVAS,
    digitsPerScene: [1, 2] as [number, number],
    digitScale: [1, 1.4] as [number, number],
    clutter: false as const,
    labelDilation: 1,
    validationDigits: 500,
    mean: MEAN,
    std: STD,
  };
  const train = createSceneDataset(digits, { ...sceneOptions, split: 'train', size: 12000, seed: 1 });
  const val = createSceneDataset(digits, { ...sceneOptions, split: 'val', size: 48, seed: 2, cache: true });

  const { model } = buildSegmentationModel({
    backbone: 'compact',
    head: 'hem',
    numClasses: SCENE_NUM_CLASSES,
    inputSize: [CANVAS, CANVAS],
    inputChannels: 3,
    channels: 32,
    midChannels: 32,
    outputStride: 8,
    width: 8,
    blocksPerStage: 1,
    auxiliaryHead: false,
    dropout: 0,
    hem: { numBases: 16, stepSize: options.stepSize, trainIterations: 3, evalIterations: 3 },
    seed: 1,
  });

  const tensorsAfterStep: number[] = [];
  const lossesSoFar: number[] = [];
  const started = performance.now();
  const result = await trainSegmentation({
    model,
    dataset: train,
    options: { optimizer: 'adam', steps: options.steps, batchSize: 8, learningRate: 2e-3, momentum: 0.9, weightDecay: 1e-4, lrPower: 0.9, seed: 0, checkpointEvery: 0 },
    onEvent: (event) => {
      if (event.type === 'step') {
        lossesSoFar.push(event.loss);
        status(`${backend}: step ${event.step}/${event.totalSteps}  loss ${event.loss.toFixed(3)}  ${event.imagesPerSecond.toFixed(1)} images/s`, event.step / event.totalSteps);
      }
    },
    afterStep: async (step) => {
      tensorsAfterStep.push(tf.memory().numTensors);
      if (step % 5 === 0 || step === options.steps) {
        element('loss').innerHTML = lineChart({ xLabel: 'step', yLabel: 'loss', series: [{ name: 'loss', y: lossesSoFar }], markers: false, width: 480, height: 300 });
        await nextFrame();
      }
    },
  });
  const msPerStep = (performance.now() - started) / options.steps;
  result.optimizer.dispose();

  status('Evaluating…', 1);
  const evaluation = await evaluateSegmentation(model, val, { batchSize: 8 });
  drawRgba(element<HTMLCanvasElement>('predictions'), predictionTiles(model, val, 4), 3);
  const maps = attentionMaps(model, val.get(0), { columns: 8, normalize: 'each' });
  if (maps === null) throw new Error('demo: the model has no HEM head');
  drawRgba(element<HTMLCanvasElement>('attention'), maps.grid, 2);
  element('elbo').innerHTML = lineChart({
    xLabel: 'EM iteration t',
    yLabel: 'ELBO',
    series: [{ name: `η = ${options.stepSize}`, x: maps.elbo.map((_, t) => t + 1), y: maps.elbo }],
    width: 480,
    height: 300,
  });
  element('loss').innerHTML = lineChart({ xLabel: 'step', yLabel: 'loss', series: [{ name: 'loss', y: result.losses }], markers: false, width: 480, height: 300 });
  model.dispose();
  status(
    `${backend}: ${options.steps} steps, ${msPerStep.toFixed(0)} ms/step; validation mIoU ${(100 * evaluation.metrics.meanIoU).toFixed(1)}%, pixel accuracy ${(100 * evaluation.metrics.pixelAccuracy).toFixed(1)}%`,
    1,
  );
  return {
    backend,
    probes,
    unavailable,
    losses: result.losses,
    tensorsAfterStep,
    msPerStep,
    validation: { meanIoU: evaluation.metrics.meanIoU, pixelAccuracy: evaluation.metrics.pixelAccuracy, samples: evaluation.samples },
    attention: { elbo: maps.elbo, bases: maps.bases, width: maps.grid.width, height: maps.grid.height },
  };
}

function main(): void {
  window.hemnetDemo = { state: 'idle' };
  const params = new URLSearchParams(location.search);
  const backendSelect = element<HTMLSelectElement>('backend');
  const stepsInput = element<HTMLInputElement>('steps');
  const etaInput = element<HTMLInputElement>('eta');
  const button = element<HTMLButtonElement>('train');
  const progress = element<HTMLProgressElement>('progress');
  const statusLine = element('status');
  backendSelect.value = params.get('backend') ?? 'wasm';
  stepsInput.value = params.get('steps') ?? stepsInput.value;
  etaInput.value = params.get('eta') ?? etaInput.value;
  const status = (text: string, done: number): void => {
    statusLine.textContent = text;
    statusLine.classList.remove('error');
    progress.value = done;
  };
  const start = async (): Promise<void> => {
    const steps = Number(stepsInput.value);
    const stepSize = Number(etaInput.value);
    if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be an integer ≥ 1, received '${stepsInput.value}'`);
    if (!(stepSize > 0 && stepSize <= 1)) throw new Error(`η must be in (0, 1], received '${etaInput.value}'`);
    window.hemnetDemo = { state: 'running' };
    button.disabled = true;
    try {
      const report = await runDemo({ backend: backendSelect.value, steps, stepSize }, status);
      window.hemnetDemo = { state: 'done', report };
    } finally {
      button.disabled = false;
    }
  };
  const run = (): void => {
    start().catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      statusLine.textContent = `Error: ${message}`;
      statusLine.classList.add('error');
      window.hemnetDemo = { state: 'error', message };
    });
  };
  element<HTMLFormElement>('controls').addEventListener('submit', (event) => {
    event.preventDefault();
    run();
  });
  setUpSegmentPanel(backendSelect);
  if (params.get('auto') === '1') run();
}

main();
