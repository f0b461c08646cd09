/**
 * What moving the weight decay off the gradient tape saves per training
 * step (src/train/weightDecay.ts): the default hem model on wasm, Adam,
 * weight decay 1e-4, the same batches, timed two ways in one process:
 * "tape" (`batchLoss` with its decay term inside `tf.variableGrads`, as
 * every step ran before) and "outside" (`lossAndGradients`, as the loop
 * runs it now). Each round runs `--steps` steps of each, in alternating
 * order (whichever runs second in a round was measured ≈ 1 ms slower at
 * batch 8 here). Prints per batch size the median and least step and
 * tape ÷ outside.
 *
 * Run: npx tsx bench/weight-decay.ts [--batches 1,4,8] [--rounds 16] [--steps 4]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { batchSamples, batchToTensors } from '../src/data/augment.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { batchIndices, batchLoss, decayedVariables, decayWeights, lossAndGradients } from '../src/train/loop.js';
import { createOptimizer } from '../src/train/optimizer.js';
import { randomSegmentationDataset } from './randomData.js';
import { format, median } from './timing.js';

const { values } = parseArgs({ options: { batches: { type: 'string', default: '1,4,8' }, rounds: { type: 'string', default: '16' }, steps: { type: 'string', default: '4' } } });
const rounds = Number(values.rounds);
const steps = Number(values.steps);
await setBackend('wasm');
console.log(`bench:weight-decay — ${new Date().toISOString()} · ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length} · Node ${process.version} · wasm · load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`${rounds} rounds × ${steps} steps per variant, alternating order\n`);
console.log('| batch | tape: median / least ms | outside: median / least ms | tape ÷ outside (median) | saved per step (median) |');
console.log('|---:|---:|---:|---:|---:|');
for (const batch of values.batches.split(',').map(Number)) {
  const { model } = buildSegmentationModel({ head: 'hem' });
  const optimizer = createOptimizer('adam', 2e-3, 0.9);
  const dataset = randomSegmentationDataset(32, 64);
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const decayed = decayedVariables(model).map((w) => w.read());
  const weights = decayWeights(trainable, decayed);
  const data = (s: number) => {
    const { indices, epochs } = batchIndices(s, batch, dataset.size, 0);
    return batchToTensors(batchSamples(indices.map((index, i) => dataset.get(index, epochs[i]))));
  };
  const variants = {
    tape: (s: number): void => {
      const { images, labels } = data(s);
      const { value, grads } = tf.variableGrads(() => batchLoss(model, images, labels, dataset.ignoreLabel, 1e-4, decayed), trainable);
      optimizer.applyGradients(trainable.map((v) => ({ name: v.name, tensor: grads[v.name] as tf.Tensor })));
      value.dataSync();
      tf.dispose([images, labels, value, ...Object.values(grads)]);
    },
    outside: (s: number): void => {
      const { images, labels } = data(s);
      const { value, loss, gradients } = lossAndGradients(model, images, labels, dataset.ignoreLabel, 1e-4, trainable, weights);
      optimizer.applyGradients(gradients);
      loss();
      tf.dispose([images, labels, value, ...gradients.map((g) => g.tensor)]);
    },
  };
  const timeRun = (run: (s: number) => void): number => {
    const start = performance.now();
    for (let s = 0; s < steps; s++) run(s);
    return (performance.now() - start) / steps;
  };
  for (let s = 0; s < 3; s++) { timeRun(variants.tape); timeRun(variants.outside); }
  const before = tf.memory().numTensors;
  const times = { tape: [] as number[], outside: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (['tape', 'outside'] as const) : (['outside', 'tape'] as const);
    for (const name of order) times[name].push(timeRun(variants[name]));
  }
  if (tf.memory().numTensors !== before) throw new Error(`bench:weight-decay: ${tf.memory().numTensors - before} tensors leaked`);
  const [tape, outside] = [median(times.tape), median(times.outside)];
  console.log(`| ${batch} | ${format(tape)} / ${format(Math.min(...times.tape))} | ${format(outside)} / ${format(Math.min(...times.outside))} | ${format(tape / outside, 3)}× | ${format(tape - outside)} ms |`);
  optimizer.dispose();
  model.dispose();
}
