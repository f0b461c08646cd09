/**
 * Soak: a long training run on a small model, streaming a VOC-format folder
 * through a cache far smaller than the dataset (so files are decoded again
 * and again), with a verified checkpoint every 2000 steps. Every `--every`
 * steps it records RSS, V8 heap, external/ArrayBuffer bytes, tf.memory()
 * bytes and tensors; it prints the least-squares slope of each (per 1000
 * steps) over the samples after the first (warm-up), and the time the loop
 * waited for data.
 *
 *   nice -n 10 npx tsx bench/soak.ts --steps 20000 --every 500 --out docs/figures/soak.json
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { augmentDataset } from '../src/data/augment.js';
import { vocColor } from '../src/data/palette.js';
import { createStreamingDataset } from '../src/data/streaming.js';
import { vocLayout } from '../src/data/vocLayout.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { captureCheckpoint } from '../src/train/checkpoint.js';
import { readLatestCheckpoint, writeCheckpoint } from '../src/train/checkpointFiles.js';
import { DEFAULT_TRAIN_OPTIONS, trainSegmentation } from '../src/train/loop.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '20000' },
    every: { type: 'string', default: '500' },
    images: { type: 'string', default: '96' },
    side: { type: 'string', default: '24' },
    crop: { type: 'string', default: '16' },
    batch: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const steps = Number(values.steps);
const every = Number(values.every);
const imageCount = Number(values.images);
const SIDE = Number(values.side);
const CROP = Number(values.crop);
const BATCH = Number(values.batch);

async function makeFolder(root: string): Promise<void> {
  for (const sub of ['JPEGImages', 'SegmentationClass', join('ImageSets', 'Segmentation')]) mkdirSync(join(root, sub), { recursive: true });
  const ids: string[] = [];
  for (let k = 0; k < imageCount; k++) {
    const id = `soak_${k}`;
    ids.push(id);
    const rgb = Buffer.alloc(SIDE * SIDE * 3);
    const mask = Buffer.alloc(SIDE * SIDE * 3);
    const cls = 1 + (k % 5);
    const top = k % 13;
    const left = (k * 7) % 13;
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const p = y * SIDE + x;
        const inside = y >= top && y < top + 20 && x >= left && x < left + 20;
        rgb.set(inside ? [40 * cls, 200 - 30 * cls, 90] : [(x * 5) % 60, (y * 3) % 60, 30], 3 * p);
        mask.set(vocColor(inside ? cls : 0), 3 * p);
      }
    }
    await sharp(rgb, { raw: { width: SIDE, height: SIDE, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(root, 'JPEGImages', `${id}.jpg`));
    await sharp(mask, { raw: { width: SIDE, height: SIDE, channels: 3 } }).png({ palette: true, colours: 256, dither: 0 }).toFile(join(root, 'SegmentationClass', `${id}.png`));
  }
  writeFileSync(join(root, 'ImageSets', 'Segmentation', 'train.txt'), `${ids.join('\n')}\n`);
}

interface Sample {
  step: number;
  rssMB: number;
  heapUsedMB: number;
  externalMB: number;
  arrayBuffersMB: number;
  tfBytesMB: number;
  tfTensors: number;
  decoded: number;
  meanDataWaitMs: number;
}

function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const MB = 2 ** 20;
const root = mkdtempSync(join(tmpdir(), 'hemnet-soak-'));
try {
  await setBackend('wasm');
  await makeFolder(root);
  const itemBytes = SIDE * SIDE * 4;
  const streaming = createStreamingDataset(vocLayout(root, { split: 'train' }), { cacheBytes: 16 * itemBytes });
  const dataset = augmentDataset(streaming, { cropSize: CROP, scaleRange: [0.8, 1.2], flip: true, seed: 1 });
  const { model } = buildSegmentationModel({ backbone: 'compact', head: 'hem', numClasses: 21, inputSize: [CROP, CROP], width: 4, channels: 8, outputStride: 4, hem: { numBases: 4 }, seed: 1 });
  const checkpointDir = join(root, 'checkpoints');
  const samples: Sample[] = [];
  let waitSum = 0;
  let waitCount = 0;
  let stepsThatWaited = 0;
  const started = performance.now();
  const record = (step: number): void => {
    const m = process.memoryUsage();
    const t = tf.memory();
    samples.push({
      step,
      rssMB: m.rss / MB,
      heapUsedMB: m.heapUsed / MB,
      externalMB: m.external / MB,
      arrayBuffersMB: m.arrayBuffers / MB,
      tfBytesMB: t.numBytes / MB,
      tfTensors: t.numTensors,
      decoded: streaming.stats().decoded,
      meanDataWaitMs: waitCount === 0 ? 0 : waitSum / waitCount,
    });
    waitSum = 0;
    waitCount = 0;
    const last = samples[samples.length - 1] as Sample;
    if (values.out !== undefined) writeFileSync(`${values.out}.partial`, `${JSON.stringify({ partial: true, samples }, null, 2)}\n`);
    process.stderr.write(`step ${step}: rss ${last.rssMB.toFixed(1)} MB, heap ${last.heapUsedMB.toFixed(1)} MB, tf ${last.tfBytesMB.toFixed(2)} MB / ${last.tfTensors} tensors, decoded ${last.decoded}, data wait ${last.meanDataWaitMs.toFixed(3)} ms/step\n`);
  };
  const result = await trainSegmentation({
    model,
    dataset,
    options: { ...DEFAULT_TRAIN_OPTIONS, optimizer: 'adam', steps, batchSize: BATCH, learningRate: 1e-3, checkpointEvery: 2000 },
    saveCheckpoint: async (step, optimizer) => {
      await writeCheckpoint(checkpointDir, await captureCheckpoint(model, optimizer, step, { soak: true }));
      const back = await readLatestCheckpoint(checkpointDir);
      if (back?.manifest.step !== step) throw new Error(`soak: checkpoint of step ${step} did not read back`);
    },
    onEvent: (event) => {
      if (event.type === 'step') {
        waitSum += event.dataWaitMs;
        waitCount++;
        if (event.dataWaitMs > 0) stepsThatWaited++;
      }
    },
    afterStep: (step) => {
      if (step % every === 0) record(step);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  const after = samples.slice(1);
  const xs = after.map((s) => s.step / 1000);
  const slopes = {
    rssMBPer1000Steps: slope(xs, after.map((s) => s.rssMB)),
    heapUsedMBPer1000Steps: slope(xs, after.map((s) => s.heapUsedMB)),
    externalMBPer1000Steps: slope(xs, after.map((s) => s.externalMB)),
    tfBytesMBPer1000Steps: slope(xs, after.map((s) => s.tfBytesMB)),
    tfTensorsPer1000Steps: slope(xs, after.map((s) => s.tfTensors)),
  };
  const report = {
    command: `nice -n 10 npx tsx bench/soak.ts --steps ${steps} --every ${every} --images ${imageCount} --side ${SIDE} --crop ${CROP} --batch ${BATCH}`,
    date: new Date().toISOString(),
    loadAverage: loadavg(),
    steps: result.step,
    seconds,
    stepsPerSecond: result.step / seconds,
    model: `compact/hem width 4, C 8, K 4, ${CROP}×${CROP}, batch ${BATCH}, adam`,
    data: `${imageCount} VOC-format pairs ${SIDE}×${SIDE}, streaming cache of 16 pairs, crop ${CROP}, checkpoint every 2000 steps (verified read-back)`,
    finalLoss: result.losses[result.losses.length - 1],
    decoded: streaming.stats().decoded,
    peakCachedMB: streaming.stats().peakCachedBytes / MB,
    stepsThatWaitedForData: stepsThatWaited,
    slopes,
    first: samples[0],
    last: samples[samples.length - 1],
    samples,
  };
  process.stdout.write(`${JSON.stringify({ ...report, samples: undefined }, null, 2)}\n`);
  if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  result.optimizer.dispose();
  model.dispose();
} finally {
  rmSync(root, { recursive: true, force: true });
}
