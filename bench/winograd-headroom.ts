/**
 * How much a Winograd F(2×2, 3×3) convolution could gain on wasm, before
 * writing one: the direct 3×3 stride-1 convolution (tfjs's FusedConv2D on
 * XNNPACK, bias + ReLU, as folded inference runs it) against the product
 * stage alone of Winograd's algorithm for the same layer: 16 rank-2 products
 * [tiles, C]·[C, Co] (one per position of the 4×4 transformed tile, each
 * transformed filter its own constant tensor so XNNPACK keeps its packed
 * weights, as inference would), and the same as one batched product. The
 * input and output transforms are not included, so the ratio is an upper
 * bound of the gain. Shapes: the default model's 3×3 layers at batch 8.
 * Interleaved call by call; medians.
 *
 * Run: npx tsx bench/winograd-headroom.ts [--repeats 40]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '40' } } });
const repeats = Number(values.repeats);
if (!Number.isInteger(repeats) || repeats < 3) throw new Error(`--repeats must be an integer ≥ 3, received '${values.repeats}'`);
await setBackend('wasm');
console.log(`wasm, ${repeats} interleaved repeats, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('| layer (batch 8) | direct conv ms | 16 products ms | batched ms | direct ÷ 16 products |');
console.log('|---|---:|---:|---:|---:|');

function readAndDispose(outputs: tf.Tensor[]): void {
  for (const output of outputs) output.dataSync();
  tf.dispose(outputs);
}

// [batch, map size, in channels, out channels]
const layers: [number, number, number, number][] = [[8, 8, 128, 128], [8, 8, 64, 64], [8, 8, 128, 64], [8, 16, 32, 32], [8, 32, 16, 16]];
for (const [B, H, C, Co] of layers) {
  const x = tf.randomNormal([B, H, H, C]) as tf.Tensor4D;
  const filter = tf.randomNormal([3, 3, C, Co]) as tf.Tensor4D;
  const bias = tf.randomNormal([Co]) as tf.Tensor1D;
  const tiles = B * (H / 2) * (H / 2);
  const v = Array.from({ length: 16 }, () => tf.randomNormal([tiles, C]) as tf.Tensor2D);
  const u = Array.from({ length: 16 }, () => tf.randomNormal([C, Co]) as tf.Tensor2D);
  const vBatched = tf.stack(v) as tf.Tensor3D;
  const uBatched = tf.stack(u) as tf.Tensor3D;
  const direct: number[] = [];
  const products: number[] = [];
  const batched: number[] = [];
  for (let r = -3; r < repeats; r++) {
    // Each output is read and disposed outside any tf.tidy: a typed array returned from a tidy
    // is walked element by element (milliseconds at these sizes).
    const d = timeOnce(() => readAndDispose([tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias, activation: 'relu' })]));
    const p = timeOnce(() => readAndDispose(v.map((vi, i) => tf.matMul(vi, u[i] as tf.Tensor2D))));
    const b = timeOnce(() => readAndDispose([tf.matMul(vBatched, uBatched)]));
    if (r < 0) continue; // warm-up: operator creation and packing
    direct.push(d);
    products.push(p);
    batched.push(b);
  }
  console.log(`| [${B}, ${H}, ${H}, ${C}] · [3, 3, ${C}, ${Co}] | ${format(median(direct), 3)} | ${format(median(products), 3)} | ${format(median(batched), 3)} | ${format(median(direct) / median(products))}× |`);
  tf.dispose([x, filter, bias, ...v, ...u, vBatched, uBatched]);
}
