/**
 * Per-kernel profile of one wasm training step of the default hem model,
 * grouped by kernel and input shapes (where bench:train's profile groups by
 * kernel only), to find which convolution or product the time goes to.
 *
 * Run: npx tsx bench/wasm-step-profile.ts [--repeats N] [--top N] [--kernel NAME] [--head hem|fcn|ema] [--batch N]
 * (`--batch 1` against the default 8 shows which kernels have a cost per call that does not scale with the batch)
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { loadMnistScenes } from '../src/data/mnistScenes.js';
import type { SegmentationDataset } from '../src/data/types.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { createOptimizer } from '../src/train/optimizer.js';
import { trainingStep } from './trainStep.js';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '5' }, top: { type: 'string', default: '40' }, kernel: { type: 'string' }, head: { type: 'string', default: 'hem' }, batch: { type: 'string', default: '8' } } });
await setBackend('wasm');
const scenes: SegmentationDataset = loadMnistScenes({ split: 'train', size: 64, canvasSize: 64, digitsPerScene: [1, 2], digitScale: [1.5, 2.2], labelDilation: 1, clutter: { fragments: [0, 2] }, seed: 0 });
const { model } = buildSegmentationModel({ head: values.head as 'hem' });
const optimizer = createOptimizer('adam', 2e-3, 0.9);
const step = trainingStep(model, scenes, optimizer, Number(values.batch));
for (let s = 0; s < 4; s++) step(s);
const before = tf.memory().numTensors;
// Profiles `repeats` steps and keeps, per kernel (and per kernel + shapes), the least time over the steps:
// on a loaded machine a preempted kernel call shows up in one step's profile, rarely in all of them.
const repeats = Number(values.repeats);
let wall = Infinity;
const stepGroups: Map<string, { ms: number; calls: number }>[] = [];
const stepKernels: Map<string, { ms: number; calls: number }>[] = [];
for (let r = 0; r < repeats; r++) {
let stepWall = 0;
const info = await tf.profile(() => {
  const t0 = performance.now();
  step(99 + r);
  stepWall = performance.now() - t0;
});
wall = Math.min(wall, stepWall);
const groups = new Map<string, { ms: number; calls: number }>();
const byKernel = new Map<string, { ms: number; calls: number }>();
stepGroups.push(groups);
stepKernels.push(byKernel);
for (const k of info.kernels) {
  if (k.name.endsWith('__op') || k.name === 'unnamed scope') continue;
  const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  const kk = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  kk.ms += ms; kk.calls++; byKernel.set(k.name, kk);
  if (values.kernel !== undefined && k.name !== values.kernel) continue;
  const key = `${k.name} ${k.inputShapes.map((s) => `[${(s ?? []).join(',')}]`).join(' ')}`;
  const g = groups.get(key) ?? { ms: 0, calls: 0 };
  g.ms += ms; g.calls++; groups.set(key, g);
}
}
const leastOf = (maps: Map<string, { ms: number; calls: number }>[]): Map<string, { ms: number; calls: number }> => {
  const out = new Map<string, { ms: number; calls: number }>();
  for (const [key, value] of maps[0]!) out.set(key, { ms: Math.min(...maps.map((m) => m.get(key)?.ms ?? Infinity)), calls: value.calls });
  return out;
};
const groups = leastOf(stepGroups);
const byKernel = leastOf(stepKernels);
const total = [...byKernel.values()].reduce((sum, k) => sum + k.ms, 0);
const calls = [...byKernel.values()].reduce((sum, k) => sum + k.calls, 0);
console.log(`least over ${repeats} profiled steps: wall ${wall.toFixed(1)} ms, kernels ${total.toFixed(1)} ms (sum of per-kernel least), ${calls} kernel calls, tensors ${before} → ${tf.memory().numTensors}`);
for (const [name, { ms, calls }] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20)) console.log(`${ms.toFixed(1).padStart(7)} ms ${String(calls).padStart(5)}× ${name}`);
console.log('--- by shapes');
for (const [name, { ms, calls }] of [...groups].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(values.top))) console.log(`${ms.toFixed(2).padStart(7)} ms ${String(calls).padStart(5)}× ${name}`);
optimizer.dispose();
