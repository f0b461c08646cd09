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
import { format, matMulRate, medianMs } from './timing.js';

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

async function measure(): Promise<{ forwardMs: number; trainMs: number }> {
  const forwardMs = await medianMs(() => {
    const out = unrollHem(x, mu0, { stepSize: 0.5, iterations: T });
    out.reconstruction.dataSync();
    tf.dispose([out.mu, out.gamma, out.reconstruction]);
  }, repeats);
  const trainMs = await medianMs(() => {
    const grads = tf.grads((xIn: tf.Tensor, muIn: tf.Tensor) =>
      tf.sum(tf.mul(unrollHem(xIn as tf.Tensor3D, muIn as tf.Tensor2D, { stepSize: 0.5, iterations: T }).reconstruction, upstream)),
    )([x, mu0]);
    grads[0]!.dataSync();
    tf.dispose(grads);
  }, repeats);
  return { forwardMs, trainMs };
}

console.log(`backend: ${info.name}; B=${B} N=${N} C=${C} K=${K} T=${T}; median of ${repeats}`);
const plainRate = await matMulRate(N * B, C, K);
console.log(`plain rank-2 matMul [${N * B}, ${C}]·[${C}, ${K}]: ${format(plainRate)} GFLOP/s`);

setDefaultBatchMatMulPath('auto');
const fast = await measure();
setDefaultBatchMatMulPath('stock');
const stock = await measure();
setDefaultBatchMatMulPath('auto');

const rows = [
  ['HEM (hemnet batchMatMul)', fast],
  ['HEM (stock tf.matMul)', stock],
] as const;
for (const [name, m] of rows) {
  const forwardRate = forwardFlops / (m.forwardMs * 1e6);
  const trainRate = trainFlops / (m.trainMs * 1e6);
  console.log(
    `${name}: forward ${format(m.forwardMs, 0)} ms = ${format(forwardRate)} GFLOP/s (${format(forwardRate / plainRate)}× matMul); ` +
      `forward+backward ${format(m.trainMs, 0)} ms = ${format(trainRate)} GFLOP/s (${format(trainRate / plainRate)}× matMul)`,
  );
}
console.log(`speed-up of forward+backward over stock: ${format(stock.trainMs / fast.trainMs, 1)}×`);
tf.dispose([x, mu0, upstream]);
