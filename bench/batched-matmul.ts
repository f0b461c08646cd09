/**
 * The HEM head's batched products on wasm: hemnet's BatchMatMul (the SIMD
 * block kernels of src/kernels/batchMatMulSimd.ts for batched products whose
 * column count is a multiple of 4) against tfjs-backend-wasm's stock kernel,
 * and both against a plain rank-2 matMul of the same multiply-adds
 * ([batch·m, k]·[k, n] on XNNPACK, the fastest product wasm has). Shapes:
 * the E-step X·μᵀ, the M-step γᵀ·X and the reconstruction γ·μ of the
 * default model (B 8, N 64, C 64, K 16) and of the attention-bench preset
 * (N 256, C 128, K 32), plus the paper's head (N 4225, C 512, K 64) at
 * batch 4. Interleaved repetition by repetition; medians.
 *
 * Run: npx tsx bench/batched-matmul.ts [--repeats 30]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { installKernels, uninstallKernels } from '../src/kernels/index.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '30' } } });
const repeats = Number(values.repeats);
if (!Number.isInteger(repeats) || repeats < 3) throw new Error(`--repeats must be an integer ≥ 3, received '${values.repeats}'`);
await setBackend('wasm');
console.log(`bench:batched-matmul — ${new Date().toISOString()} · wasm · ${repeats} interleaved repeats · load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('| product | shapes (flags) | stock ms | hemnet ms | rank-2 matMul ms | stock ÷ hemnet | hemnet GFLOP/s | hemnet ÷ matMul time |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');

interface Product { label: string; batch: number; m: number; k: number; n: number; transposeA: boolean; transposeB: boolean }
const heads: Array<[string, number, number, number, number]> = [['default', 8, 64, 64, 16], ['attention-bench', 8, 256, 128, 32], ['paper', 4, 4225, 512, 64]];
const products: Product[] = heads.flatMap(([name, B, N, C, K]) => [
  { label: `${name} E-step X·μᵀ`, batch: B, m: N, k: C, n: K, transposeA: false, transposeB: true },
  { label: `${name} M-step γᵀ·X`, batch: B, m: K, k: N, n: C, transposeA: true, transposeB: false },
  { label: `${name} γ·μ`, batch: B, m: N, k: K, n: C, transposeA: false, transposeB: false },
]);

const run = (f: () => tf.Tensor): number => timeOnce(() => {
  const out = f();
  out.dataSync();
  out.dispose();
});

for (const p of products) {
  const a = tf.randomNormal([p.batch, ...(p.transposeA ? [p.k, p.m] : [p.m, p.k])]);
  const b = tf.randomNormal([p.batch, ...(p.transposeB ? [p.n, p.k] : [p.k, p.n])]);
  const a2 = tf.randomNormal([p.batch * p.m, p.k]) as tf.Tensor2D;
  const b2 = tf.randomNormal([p.k, p.n]) as tf.Tensor2D;
  const batched = () => tf.matMul(a, b, p.transposeA, p.transposeB);
  const plain = () => tf.matMul(a2, b2);
  // The stock kernel is slow at the paper's size: fewer repetitions there.
  const reps = p.m * p.k * p.n > 1e8 ? Math.min(repeats, 5) : repeats;
  const stock: number[] = [];
  const hemnet: number[] = [];
  const matMul: number[] = [];
  for (let r = -2; r < reps; r++) {
    uninstallKernels('wasm');
    const s = run(batched);
    installKernels('wasm');
    const h = run(batched);
    const q = run(plain);
    if (r < 0) continue;
    stock.push(s);
    hemnet.push(h);
    matMul.push(q);
  }
  const flops = 2 * p.batch * p.m * p.k * p.n;
  const [s, h, q] = [median(stock), median(hemnet), median(matMul)];
  const shapes = `[${p.batch}, ${p.m}, ${p.k}]·[${p.batch}, ${p.k}, ${p.n}] (${p.transposeA ? 'Aᵀ' : 'A'}, ${p.transposeB ? 'Bᵀ' : 'B'})`;
  console.log(`| ${p.label} | ${shapes} | ${format(s, 3)} | ${format(h, 3)} | ${format(q, 3)} | ${format(s / h, 1)}× | ${format(flops / h / 1e6, 1)} | ${format(h / q)} |`);
  tf.dispose([a, b, a2, b2]);
}
