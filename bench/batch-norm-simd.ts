/**
 * Batch norm's row passes on wasm: WebAssembly SIMD (src/kernels/batchNormSimd.ts)
 * against the JavaScript loops they replace, interleaved in one process.
 * 1. The forward and gradient kernels at the default model's BN shapes (batch 8).
 * 2. A training step of the default `hem` model (forward + backward + Adam, batch 8, 64×64).
 *
 * Run: npx tsx bench/batch-norm-simd.ts [--rounds N]   (default 12)
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { BN_TRAINING_GRAD_KERNEL, BN_TRAINING_KERNEL } from '../src/backends/native/batchNormTraining.js';
import { setSimdBatchNormPasses } from '../src/kernels/fusedTraining.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { createOptimizer } from '../src/train/optimizer.js';
import { randomSegmentationDataset } from './randomData.js';
import { format, median } from './timing.js';
import { trainingStep } from './trainStep.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '12' } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 2) throw new Error(`bench/batch-norm-simd: --rounds must be an integer ≥ 2, received ${values.rounds}`);

await setBackend('wasm');
console.log(`bench:batch-norm-simd — ${new Date().toISOString()} · tfjs ${tf.version.tfjs} · wasm · ${rounds} interleaved rounds (medians)`);

const MODES = ['js', 'simd'] as const;
/** Runs `measure` for both modes per round, the order alternating; medians per mode. */
function interleaved(measure: () => number): Record<(typeof MODES)[number], number> {
  const times: Record<(typeof MODES)[number], number[]> = { js: [], simd: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? MODES : [...MODES].reverse()) {
      setSimdBatchNormPasses(mode === 'simd');
      times[mode].push(measure());
    }
  }
  setSimdBatchNormPasses(true);
  return { js: median(times.js), simd: median(times.simd) };
}

console.log('\n| kernel | shape | JS ms | SIMD ms | JS ÷ SIMD |');
console.log('|---|---|---:|---:|---:|');
for (const shape of [[8, 32, 32, 16], [8, 16, 16, 32], [8, 8, 8, 64], [8, 8, 8, 128]]) {
  const C = shape[3] as number;
  const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
  const dy = tf.randomNormal(shape, 0, 1, 'float32', 2);
  const scale = tf.ones([C]);
  const offset = tf.zeros([C]);
  for (const kernel of ['forward', 'gradient'] as const) {
    const measure = (): number => {
      const t0 = performance.now();
      const [y, mean, variance] = tf.engine().runKernel(BN_TRAINING_KERNEL, { x, scale, offset }, { epsilon: 1e-3 }) as tf.Tensor[];
      const t1 = performance.now();
      const grads = kernel === 'gradient' ? (tf.engine().runKernel(BN_TRAINING_GRAD_KERNEL, { dy, x, mean: mean as tf.Tensor, variance: variance as tf.Tensor, scale }, { epsilon: 1e-3 }) as tf.Tensor[]) : [];
      const t2 = performance.now();
      tf.dispose([y, mean, variance, ...grads] as tf.Tensor[]);
      return kernel === 'forward' ? t1 - t0 : t2 - t1;
    };
    for (let i = 0; i < 3; i++) measure();
    const m = interleaved(() => median(Array.from({ length: 5 }, measure)));
    console.log(`| ${kernel} | [${shape.join(', ')}] | ${format(m.js, 3)} | ${format(m.simd, 3)} | ${format(m.js / m.simd, 1)}× |`);
  }
  tf.dispose([x, dy, scale, offset]);
}

const { model } = buildSegmentationModel({ head: 'hem' });
const data = randomSegmentationDataset(32, 64);
const optimizer = createOptimizer('adam', 2e-3, 0.9);
const step = trainingStep(model, data, optimizer, 8);
for (let s = 0; s < 5; s++) step(s);
const before = tf.memory().numTensors;
const steps = interleaved(() => {
  step(0); // untimed: the first step after a switch
  const t0 = performance.now();
  for (let s = 1; s <= 4; s++) step(s);
  return (performance.now() - t0) / 4;
});
if (tf.memory().numTensors !== before) throw new Error(`bench/batch-norm-simd: ${tf.memory().numTensors - before} tensors leaked by the training steps`);
console.log(`\ntraining step of the default hem model, batch 8 (ms, median of ${rounds} rounds of 4 steps): JS ${format(steps.js, 1)}, SIMD ${format(steps.simd, 1)}; JS ÷ SIMD ${format(steps.js / steps.simd, 2)}×`);
optimizer.dispose();
model.dispose();
