/**
 * CPU time (this thread, Linux /proc/thread-self/schedstat) of one training
 * step of a model on wasm at batch 8, 4 and 2: how much of a step is a fixed
 * per-step cost (dispatch, small kernels) that data-parallel shards do not
 * divide. CPU time rather than wall time: a loaded machine distorts it less.
 *
 * Run: npx tsx bench/shard-cost.ts [head]   (head: hem (default), fcn, ema)
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { batchLoss, decayedVariables } from '../src/train/loop.js';
import { createOptimizer } from '../src/train/optimizer.js';
const cpu = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
await setBackend('wasm');
const head = (process.argv[2] ?? 'hem') as 'hem' | 'fcn' | 'ema';
const { model } = buildSegmentationModel({ head });
const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
const decayed = decayedVariables(model).map((w) => w.read());
const opt = createOptimizer('adam', 2e-3, 0.9);
function step(b: number) {
  const x = tf.randomNormal([b, 64, 64, 3]) as tf.Tensor4D;
  const y = tf.randomUniform([b, 64, 64], 0, 11, 'int32') as tf.Tensor3D;
  const c0 = cpu();
  const { value, grads } = tf.variableGrads(() => batchLoss(model, x, y, 255, 1e-4, decayed), trainable);
  value.dataSync();
  const c1 = cpu();
  opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
  trainable[0]!.dataSync();
  const c2 = cpu();
  tf.dispose([x, y, value]); tf.dispose(grads);
  return [c1 - c0, c2 - c1];
}
for (let i = 0; i < 3; i++) { step(8); step(4); }
const r: Record<string, number[][]> = { 8: [], 4: [], 2: [] };
for (let i = 0; i < 5; i++) for (const b of [8, 4, 2]) r[b]!.push(step(b));
const med = (a: number[]) => a.sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
for (const b of [8, 4, 2]) console.log(head, `batch ${b}: grad cpu ${med(r[b]!.map((v) => v[0]!)).toFixed(1)} ms, optimizer cpu ${med(r[b]!.map((v) => v[1]!)).toFixed(1)} ms`);
