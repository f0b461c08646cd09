/**
 * CPU time per training step of every thread of this process (Linux
 * /proc/self/task/<tid>/schedstat) while the default hem model trains on
 * wasm with N data-parallel threads, in blocks of 6 steps: shows the
 * training threads' balance and what V8's own threads (GC, JIT, wasm
 * tier-up) take besides, block after block.
 *
 * Run: npx tsx bench/parallel-cpu.ts [threads=2] [blocks=3]
 */
import { readFileSync, readdirSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { trainSegmentation, type TrainOptions } from '../src/train/loop.js';
import { createOptimizer } from '../src/train/optimizer.js';
import { createGradientWorkers } from '../src/train/parallel.js';
import type { SegmentationDataset } from '../src/data/types.js';
const tasks = () => new Map(readdirSync('/proc/self/task').map((t) => [t, { ns: Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]), comm: readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() }]));
await setBackend('wasm');
const SIZE = 64;
const samples = Array.from({ length: 32 }, (_, i) => {
  const image = new Float32Array(SIZE * SIZE * 3); const label = new Uint8Array(SIZE * SIZE);
  for (let j = 0; j < image.length; j++) image[j] = Math.sin(i * 7919 + j * 0.37);
  for (let j = 0; j < label.length; j++) label[j] = j < 2 * SIZE ? 255 : (i + (j >> 9)) % 11;
  return { image, label, height: SIZE, width: SIZE, channels: 3, id: `r${i}` };
});
const dataset: SegmentationDataset = { numClasses: 11, ignoreLabel: 255, classNames: [], size: 32, get: (i: number) => samples[i % 32]! };
const workers = Number(process.argv[2] ?? 2);
const { model } = buildSegmentationModel({ head: 'hem' });
const optimizer = createOptimizer('adam', 2e-3, 0.9);
const pool = await createGradientWorkers(model, workers, 'wasm');
const steps = 6;
const options: TrainOptions = { optimizer: 'adam', steps, batchSize: 8, learningRate: 2e-3, momentum: 0.9, weightDecay: 1e-4, lrPower: 0.9, seed: 0, checkpointEvery: 0 };
await trainSegmentation({ model, dataset, options: { ...options, steps: 2 }, optimizer, ...(pool ? { workers: pool } : {}) });
for (let block = 0; block < Number(process.argv[3] ?? 3); block++) {
const a = tasks(); const t0 = performance.now();
await trainSegmentation({ model, dataset, options, optimizer, ...(pool ? { workers: pool } : {}) });
const wall = performance.now() - t0; const b = tasks();
const rows = [...b].map(([t, v]) => ({ t, comm: v.comm, ms: (v.ns - (a.get(t)?.ns ?? 0)) / 1e6 / steps })).filter((r) => r.ms > 0.5).sort((p, q) => q.ms - p.ms);
console.log(`workers ${workers} block ${block}: wall/step ${(wall / steps).toFixed(1)} ms; ` + rows.map((r) => `${r.t}:${r.ms.toFixed(0)}`).join(' '));
}
await pool?.close();
