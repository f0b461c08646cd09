/**
 * HEM at the paper's head size, T = 3: forward and forward+backward rates,
 * against a plain rank-2 matMul on the same backend, and against HEM on the
 * stock batched/transposed tf.matMul. Run: npm run bench:hem
 * Options: --backend NAME (default wasm), --repeats N (default 3).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { setDefaultBatchMatMulPath } from '../src/ops/batchMatMul.js';
import { unrollHem } from '../src/em/unroll.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'wasm' }, repeats: { type: 'string', default: '3' } } });
const info = await setBackend(values.backend ?? 'wasm');
const repeats = Number(values.repeats);
const [B, N, C, K, T] = [4, 65 * 65, 512, 64, 3];

// Matrix products per HEM unroll: T × (E-step x·μᵀ + N-step γ̄ᵀ·x) + R-step γ·μ,
// each 2·N·K·C flops per batch item. The backward pass of each product is two
// products of the same size, so forward+backward is 3× the forward count.
const productFlops = 2 * N * K * C * B;
const forwardFlops = (2 * T + 1) * productFlops;
const trainFlops = 3 * forwardFlops;

const x = tf.randomNormal([B, N, C]) as tf.Tensor3D;
const mu0 = tf.randomNormal([K, C], 0, Math.sqrt(2 / K)) as tf.Tensor2D;
const upstream = tf.randomNormal([B, N, C]);

const a = tf.randomNormal([N * B, C]);
const b = tf.randomNormal([C, K]);
const plainMatMul = () => {
  const c = tf.matMul(a, b);
  c.dataSync();
  c.dispose();
};
const hemForward = () => {
  const out = unrollHem(x, mu0, { stepSize: 0.5, iterations: T });
  out.reconstruction.dataSync();
  tf.dispose([out.mu, out.gamma, out.reconstruction]);
};
const hemTrain = () => {
  const grads = tf.grads((xIn: tf.Tensor, muIn: tf.Tensor) =>
    tf.sum(tf.mul(unrollHem(xIn as tf.Tensor3D, muIn as tf.Tensor2D, { stepSize: 0.5, iterations: T }).reconstruction, upstream)),
  )([x, mu0]);
  grads[0]!.dataSync();
  tf.dispose(grads);
};

// The machine may be shared: every repeat times the plain matMul, then each
// HEM variant, back to back, so that each ratio compares like with like.
const samples = { matMul: [] as number[], fastForward: [] as number[], fastTrain: [] as number[], stockForward: [] as number[], stockTrain: [] as number[] };
for (const path of ['auto', 'stock'] as const) {
  setDefaultBatchMatMulPath(path);
  hemForward(); // warm-up
  hemTrain();
}
for (let r = 0; r < repeats; r++) {
  samples.matMul.push(median([timeOnce(plainMatMul), timeOnce(plainMatMul), timeOnce(plainMatMul)]));
  setDefaultBatchMatMulPath('auto');
  samples.fastForward.push(timeOnce(hemForward));
  samples.fastTrain.push(timeOnce(hemTrain));
  setDefaultBatchMatMulPath('stock');
  samples.stockForward.push(timeOnce(hemForward));
  samples.stockTrain.push(timeOnce(hemTrain));
}
setDefaultBatchMatMulPath('auto');

console.log(`backend: ${info.name}; B=${B} N=${N} C=${C} K=${K} T=${T}; median of ${repeats}`);
const plainRate = (2 * N * B * C * K) / (median(samples.matMul) * 1e6);
console.log(`plain rank-2 matMul [${N * B}, ${C}]·[${C}, ${K}]: ${format(plainRate)} GFLOP/s`);
const rows = [
  ['HEM (hemnet batchMatMul)', median(samples.fastForward), median(samples.fastTrain)],
  ['HEM (stock tf.matMul)', median(samples.stockForward), median(samples.stockTrain)],
] as const;
for (const [name, forwardMs, trainMs] of rows) {
  const forwardRate = forwardFlops / (forwardMs * 1e6);
  const trainRate = trainFlops / (trainMs * 1e6);
  console.log(
    `${name}: forward ${format(forwardMs, 0)} ms = ${format(forwardRate)} GFLOP/s (${format(forwardRate / plainRate)}× matMul); ` +
      `forward+backward ${format(trainMs, 0)} ms = ${format(trainRate)} GFLOP/s (${format(trainRate / plainRate)}× matMul)`,
  );
}
console.log(`speed-up of forward+backward over stock: ${format(median(samples.stockTrain) / median(samples.fastTrain), 1)}×`);
tf.dispose([a, b]);
tf.dispose([x, mu0, upstream]);
