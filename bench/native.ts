/**
 * The native backend against wasm and PyTorch, per workload, interleaved in
 * one run: every repeat times each workload on native, then wasm, then
 * PyTorch (bench/peer/native_ops.py on Debian's /usr/bin/python3, when it
 * imports torch), so the ratios compare like with like on a shared machine.
 * Also the default model's training step and inference on native and wasm.
 * Run: npm run bench:native [-- --repeats 3 --threads 2 --skip-pytorch]
 */
import { parseArgs } from 'node:util';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as tf from '@tensorflow/tfjs';
import { availableBackends, setBackend } from '../src/backend.js';
import { unrollHem } from '../src/em/unroll.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { segmentationCrossEntropy } from '../src/train/loss.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({
  options: { repeats: { type: 'string', default: '3' }, threads: { type: 'string', default: '2' }, 'skip-pytorch': { type: 'boolean', default: false } },
});
const repeats = Number(values.repeats);
const present = await availableBackends();
const backends = ['native', 'wasm'].filter((b) => present.includes(b));
if (!backends.includes('native')) console.log('native backend absent (npm run build:native); timing wasm only');

// ---- PyTorch peer ---------------------------------------------------------
const python = '/usr/bin/python3';
const hasTorch = !values['skip-pytorch'] && spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) console.log('PyTorch peer skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch libopenblas0-pthread)');
const peer = hasTorch ? spawn(python, ['bench/peer/native_ops.py', String(values.threads)], { stdio: ['pipe', 'pipe', 'inherit'] }) : null;
const answers = peer === null ? null : createInterface({ input: peer.stdout! })[Symbol.asyncIterator]();
async function torchMs(workload: string): Promise<number> {
  if (peer === null || answers === null) return NaN;
  peer.stdin!.write(`${JSON.stringify({ workload, repeats: 1 })}\n`);
  const next = await answers.next();
  return (JSON.parse(String(next.value)) as { ms: number[] }).ms[0] as number;
}

// ---- workloads (same shapes as the peer; NHWC here, NCHW there) ------------
type Workload = { name: string; peer: string; flops?: number; make: () => () => void };
const [B, N, C, K, T] = [4, 65 * 65, 512, 64, 3];
const sync = (t: tf.Tensor | tf.Tensor[]): void => {
  for (const x of Array.isArray(t) ? t : [t]) x.dataSync();
  tf.dispose(t);
};
const workloads: Workload[] = [
  {
    name: 'conv 3×3 64→64 [8,32,32,64] fwd', peer: 'conv_fwd', flops: 2 * 8 * 32 * 32 * 9 * 64 * 64,
    make: () => { const x = tf.randomNormal([8, 32, 32, 64]); const w = tf.randomNormal([3, 3, 64, 64]); return () => sync(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')); },
  },
  {
    name: 'conv 3×3 64→64 [8,32,32,64] fwd+bwd', peer: 'conv_fwd_bwd', flops: 3 * 2 * 8 * 32 * 32 * 9 * 64 * 64,
    make: () => {
      const x = tf.randomNormal([8, 32, 32, 64]); const w = tf.randomNormal([3, 3, 64, 64]); const g = tf.randomNormal([8, 32, 32, 64]);
      const f = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), g)));
      return () => sync(f([x, w]));
    },
  },
  {
    name: 'matMul [16900,512]·[512,64]', peer: 'matmul', flops: 2 * 16900 * 512 * 64,
    make: () => { const a = tf.randomNormal([16900, 512]); const b = tf.randomNormal([512, 64]); return () => sync(tf.matMul(a, b)); },
  },
  {
    name: 'batch norm (batch stats) [8,32,32,64] fwd+bwd', peer: 'bn_fwd_bwd',
    make: () => {
      const x = tf.randomNormal([8, 32, 32, 64]); const gamma = tf.ones([64]); const beta = tf.zeros([64]);
      const f = tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => { const m = tf.moments(a, [0, 1, 2]); return tf.sum(tf.batchNorm(a, m.mean, m.variance, o as tf.Tensor1D, s as tf.Tensor1D, 1e-3)); });
      return () => sync(f([x, gamma, beta]));
    },
  },
  { name: 'softmax [4,4225,64]', peer: 'softmax', make: () => { const x = tf.randomNormal([4, 4225, 64]); return () => sync(tf.softmax(x)); } },
  {
    name: 'resizeBilinear [8,8,8,11]→64² fwd+bwd', peer: 'resize_fwd_bwd',
    make: () => {
      const x = tf.randomNormal([8, 8, 8, 11]); const g = tf.randomNormal([8, 64, 64, 11]);
      const f = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(a as tf.Tensor4D, [64, 64], false, true), g)));
      return () => sync(f([x]));
    },
  },
  {
    name: `HEM T=${T} B=${B} N=${N} C=${C} K=${K} fwd`, peer: 'hem_fwd', flops: (2 * T + 1) * 2 * N * K * C * B,
    make: () => {
      const x = tf.randomNormal([B, N, C]) as tf.Tensor3D; const mu = tf.randomNormal([K, C], 0, Math.sqrt(2 / K)) as tf.Tensor2D;
      return () => { const out = unrollHem(x, mu, { stepSize: 0.5, iterations: T }); out.reconstruction.dataSync(); tf.dispose([out.mu, out.gamma, out.reconstruction]); };
    },
  },
  {
    name: `HEM T=${T} B=${B} N=${N} C=${C} K=${K} fwd+bwd`, peer: 'hem_fwd_bwd', flops: 3 * (2 * T + 1) * 2 * N * K * C * B,
    make: () => {
      const x = tf.randomNormal([B, N, C]) as tf.Tensor3D; const mu = tf.randomNormal([K, C], 0, Math.sqrt(2 / K)) as tf.Tensor2D; const up = tf.randomNormal([B, N, C]);
      const f = tf.grads((a: tf.Tensor, m: tf.Tensor) => tf.sum(tf.mul(unrollHem(a as tf.Tensor3D, m as tf.Tensor2D, { stepSize: 0.5, iterations: T }).reconstruction, up)));
      return () => sync(f([x, mu]));
    },
  },
];

// The default model (batch 8, 64×64): a training step (Adam) and inference.
function modelWorkloads(): { train: () => void; infer: () => void } {
  const { model, config } = buildSegmentationModel({ seed: 1 });
  const [H, W] = config.inputSize;
  const images = tf.randomNormal([8, H, W, config.inputChannels]);
  const labels = tf.randomUniform([8, H, W], 0, config.numClasses, 'int32') as tf.Tensor3D;
  const optimizer = tf.train.adam(1e-3);
  return {
    train: () => {
      const loss = optimizer.minimize(() => segmentationCrossEntropy(model.apply(images, { training: true }) as tf.Tensor4D, labels, 255) as tf.Scalar, true);
      loss?.dataSync();
      loss?.dispose();
    },
    infer: () => {
      const y = model.apply(images, { training: false }) as tf.Tensor;
      y.dataSync();
      y.dispose();
    },
  };
}

const runners = new Map<string, Map<string, () => void>>();
for (const backend of backends) {
  await setBackend(backend);
  const map = new Map<string, () => void>();
  for (const w of workloads) map.set(w.name, w.make());
  const m = modelWorkloads();
  map.set('train', m.train);
  map.set('infer', m.infer);
  for (const run of map.values()) run(); // warm-up (primitive creation, wasm compile)
  runners.set(backend, map);
}
for (const w of workloads) await torchMs(w.peer); // warm-up

const samples = new Map<string, number[]>();
const push = (key: string, ms: number): void => { samples.set(key, [...(samples.get(key) ?? []), ms]); };
for (let r = 0; r < repeats; r++) {
  for (const w of workloads) {
    for (const backend of backends) {
      await setBackend(backend);
      push(`${backend}:${w.name}`, timeOnce(runners.get(backend)!.get(w.name)!));
    }
    push(`torch:${w.name}`, await torchMs(w.peer));
  }
  for (const key of ['train', 'infer']) {
    for (const backend of backends) {
      await setBackend(backend);
      const run = runners.get(backend)!.get(key)!;
      push(`${backend}:${key}`, median([timeOnce(run), timeOnce(run), timeOnce(run)]));
    }
  }
}
peer?.stdin!.end();

const ms = (key: string): number => median(samples.get(key) ?? [NaN]);
console.log(`\nnative vs wasm vs PyTorch ${hasTorch ? `(${values.threads} threads)` : '(absent)'}; median of ${repeats}, interleaved`);
console.log('| workload | native ms | wasm ms | PyTorch ms | native ÷ PyTorch (speed) | native ÷ wasm (speed) |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const w of workloads) {
  const [n, wa, t] = [ms(`native:${w.name}`), ms(`wasm:${w.name}`), ms(`torch:${w.name}`)];
  const rate = w.flops === undefined ? '' : ` (${format(w.flops / (n * 1e6), 1)} GFLOP/s)`;
  console.log(`| ${w.name} | ${format(n, 1)}${rate} | ${format(wa, 1)} | ${format(t, 1)} | ${format(t / n)}× | ${format(wa / n)}× |`);
}
for (const key of ['train', 'infer']) {
  const [n, wa] = [ms(`native:${key}`), ms(`wasm:${key}`)];
  console.log(`| default model ${key === 'train' ? 'training step (Adam)' : 'inference'}, batch 8, 64×64 | ${format(n, 1)} = ${format(8000 / n, 0)} img/s | ${format(wa, 1)} = ${format(8000 / wa, 0)} img/s | see bench:train | | ${format(wa / n)}× |`);
}
