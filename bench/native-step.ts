/**
 * A training step of the default model (batch 8, 64×64, Adam, weight decay,
 * as `trainSegmentation` runs it, on fixed random data) on the native
 * backend (or `--backend wasm`) with hemnet's fusions on and off, in one process: kernels per
 * step by name (deterministic, from tf.profile) and ms per step with the
 * variants interleaved in every repeat (so a loaded machine slows all alike).
 * Run: npx tsx bench/native-step.ts [--repeats 5] [--steps 3] [--head hem|fcn|ema] [--backend native|wasm] [--threading 1:0,2:1,2:0]
 *   --threading LIST  also time the default (all fusions) step under each addon thread setting
 *                     `threads:parallelWork` (addon.threads; 0 keeps the default, e.g. `2:1` threads
 *                     every convolution and product, `2:0` only those above the default threshold),
 *                     interleaved in every repeat
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { setFusedBatchNorm } from '../src/backends/native/batchNormTraining.js';
import type { NativeBackend } from '../src/backends/native/backend.js';
import { setFusedCrossEntropy } from '../src/backends/native/crossEntropy.js';
import { setFusedHem } from '../src/backends/native/hemUnroll.js';
import { setFusedSumOfSquares } from '../src/backends/native/sumOfSquares.js';
import { setFusedReluGrad } from '../src/backends/native/reluGrad.js';
import { setSharedSaves } from '../src/backends/native/sharedSaves.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { batchLoss, decayedVariables } from '../src/train/loop.js';
import { ScheduledAdam } from '../src/train/optimizer.js';
import { format, median } from './timing.js';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '5' }, steps: { type: 'string', default: '3' }, backend: { type: 'string', default: 'native' }, head: { type: 'string', default: 'hem' }, threading: { type: 'string' } } });
const repeats = Number(values.repeats);
const steps = Number(values.steps);
await setBackend(values.backend ?? 'native');

type Variant = { name: string; adam: boolean; batchNorm: boolean; hem: boolean; loss: boolean; decay: boolean; relu: boolean; saves: boolean };
const NONE: Variant = { name: 'tfjs ops (no fusion)', adam: false, batchNorm: false, hem: false, loss: false, decay: false, relu: false, saves: false };
// Each variant adds one fusion to the one before (a fusion the backend lacks leaves the step as it was).
const VARIANTS: Variant[] = [
  NONE,
  { ...NONE, name: 'fused Adam', adam: true },
  { ...NONE, name: '+ batch norm', adam: true, batchNorm: true },
  { ...NONE, name: '+ HEM unroll', adam: true, batchNorm: true, hem: true },
  { ...NONE, name: '+ loss', adam: true, batchNorm: true, hem: true, loss: true },
  { ...NONE, name: '+ weight decay', adam: true, batchNorm: true, hem: true, loss: true, decay: true },
  { ...NONE, name: '+ ReLU gradient', adam: true, batchNorm: true, hem: true, loss: true, decay: true, relu: true },
  { ...NONE, name: '+ saves without Identity', adam: true, batchNorm: true, hem: true, loss: true, decay: true, relu: true, saves: true },
];

const { model } = buildSegmentationModel({ seed: 1, head: values.head ?? 'hem' });
const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
const decayed = decayedVariables(model).map((w) => w.read());
const images = tf.randomNormal([8, 64, 64, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const labels = tf.randomUniform([8, 64, 64], 0, 11, 'int32', 2) as tf.Tensor3D;
const optimizer = new ScheduledAdam(2e-3, 0.9, 0.999, 1e-7);
const use = (v: Variant): void => {
  optimizer.fused = v.adam;
  setFusedBatchNorm(v.batchNorm);
  setFusedHem(v.hem);
  setFusedCrossEntropy(v.loss);
  setFusedSumOfSquares(v.decay);
  setFusedReluGrad(v.relu);
  setSharedSaves(v.saves);
};
const step = (): void => {
  const loss = optimizer.minimize(() => batchLoss(model, images, labels, 255, 1e-4, decayed), true, trainable);
  loss?.dataSync();
  loss?.dispose();
};

console.log(`head ${values.head ?? 'hem'}, backend ${tf.getBackend()}, OMP_NUM_THREADS=${process.env['OMP_NUM_THREADS'] ?? '(unset)'}, load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const counts = new Map<string, Map<string, number>>();
for (const v of VARIANTS) {
  use(v);
  step();
  step();
  const info = await tf.profile(step);
  const byName = new Map<string, number>();
  for (const k of info.kernels) {
    if (k.name.endsWith('__op') || k.name === 'unnamed scope') continue;
    byName.set(k.name, (byName.get(k.name) ?? 0) + 1);
  }
  counts.set(v.name, byName);
}
const names = [...new Set([...counts.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => (counts.get(VARIANTS[0]!.name)?.get(b) ?? 0) - (counts.get(VARIANTS[0]!.name)?.get(a) ?? 0));
console.log(`\nKernels per training step\n\n| kernel | ${VARIANTS.map((v) => v.name).join(' | ')} |\n|---|${VARIANTS.map(() => '---:').join('|')}|`);
const total = (v: Variant): number => [...(counts.get(v.name)?.values() ?? [])].reduce((a, b) => a + b, 0);
console.log(`| **total** | ${VARIANTS.map((v) => `**${total(v)}**`).join(' | ')} |`);
for (const n of names) console.log(`| ${n} | ${VARIANTS.map((v) => counts.get(v.name)?.get(n) ?? 0).join(' | ')} |`);

const wall = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
const cpu = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
for (let r = 0; r < repeats; r++) {
  for (const v of VARIANTS) {
    use(v);
    step();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) step();
    wall.get(v.name)?.push((performance.now() - t0) / steps);
    const c = process.cpuUsage(c0);
    cpu.get(v.name)?.push((c.user + c.system) / 1000 / steps);
  }
}
const base = median(wall.get(VARIANTS[0]!.name) ?? []);
console.log(`\nms per step (median of ${repeats} interleaved repeats of ${steps} steps; CPU = user + system of this process, all threads)\n\n| variant | wall ms | img/s | CPU ms | speed-up (wall) |\n|---|---:|---:|---:|---:|`);
for (const v of VARIANTS) {
  const ms = median(wall.get(v.name) ?? []);
  console.log(`| ${v.name} | ${format(ms, 1)} | ${format(8000 / ms, 1)} | ${format(median(cpu.get(v.name) ?? []), 1)} | ${format(base / ms, 2)}× |`);
}
use(VARIANTS[VARIANTS.length - 1]!);
if (values.threading !== undefined) {
  const addon = (tf.backend() as NativeBackend).addon;
  const initial = addon.threads(0, 0);
  const settings = values.threading.split(',').map((pair) => pair.split(':').map(Number) as [number, number]);
  const label = ([n, work]: [number, number]): string => `threads ${n === 0 ? initial[0] : n}, parallelWork ${work === 0 ? initial[1] : work}`;
  const apply = ([n, work]: [number, number]): void => {
    addon.threads(n === 0 ? initial[0] : n, work === 0 ? initial[1] : work);
  };
  const times = new Map<string, number[]>(settings.map((t) => [label(t), []]));
  for (const t of settings) {
    apply(t);
    step();
  }
  for (let r = 0; r < repeats; r++) {
    for (const t of settings) {
      apply(t);
      const t0 = performance.now();
      for (let s = 0; s < steps; s++) step();
      times.get(label(t))?.push((performance.now() - t0) / steps);
    }
  }
  addon.threads(initial[0], initial[1]);
  console.log(`\nDefault step under each thread setting (median and minimum of ${repeats} interleaved repeats of ${steps} steps)\n\n| setting | wall ms (median) | wall ms (min) | img/s (median) |\n|---|---:|---:|---:|`);
  for (const [name, list] of times) console.log(`| ${name} | ${format(median(list), 1)} | ${format(Math.min(...list), 1)} | ${format(8000 / median(list), 1)} |`);
}
console.log(`\nload average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
optimizer.dispose();
tf.dispose([images, labels]);
