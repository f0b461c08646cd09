/**
 * Winograd F(2×2, 3×3) (src/ops/winograd.ts, the wasm kernel
 * src/kernels/winogradConv.ts) against the direct convolution
 * (tf.fused.conv2d on XNNPACK) for 3×3 stride-1 layers with bias and ReLU,
 * as folded inference runs them: the default model's layers (64 × 64
 * input: 16 channels on 32 × 32, 32 on 16 × 16, 64–128 on 8 × 8, the last
 * stage dilated ×2), attention-bench's (128 × 128 input), and a grid of
 * channels × map sizes to place the rule of src/infer/folded.ts. Batch 8;
 * interleaved call by call; medians; the largest |difference| relative to
 * the largest |output|.
 *
 * Run: npx tsx bench/winograd.ts [--repeats 30] [--grid]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { winogradConv2d, winogradConvAvailable, winogradFilters } from '../src/ops/winograd.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '30' }, grid: { type: 'boolean', default: false } } });
const repeats = Number(values.repeats);
if (!Number.isInteger(repeats) || repeats < 3) throw new Error(`--repeats must be an integer ≥ 3, received '${values.repeats}'`);
await setBackend('wasm');
if (!winogradConvAvailable()) throw new Error('bench:winograd: the wasm backend has no HemnetWinogradConv2D kernel (WebAssembly SIMD unavailable?)');
console.log(`bench:winograd — ${new Date().toISOString()} · wasm · batch 8 · ${repeats} interleaved repeats · load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('| layer | map | C → Co | dilation | direct ms | Winograd ms | direct ÷ Winograd | max rel. diff |');
console.log('|---|---|---|---:|---:|---:|---:|---:|');

type Layer = [string, number, number, number, number];
const layers: Layer[] = [
  ['default stage1', 32, 16, 16, 1],
  ['default stage2', 16, 32, 32, 1],
  ['default stage3', 8, 64, 64, 1],
  ['default stage4 conv1', 8, 64, 128, 2],
  ['default stage4 conv2', 8, 128, 128, 2],
  ['default head conv_in', 8, 128, 64, 1],
  ['attention-bench stage1', 64, 16, 16, 1],
  ['attention-bench stage2', 32, 32, 32, 1],
  ['attention-bench stage3', 16, 64, 64, 1],
  ['attention-bench stage4', 16, 128, 128, 2],
];
if (values.grid === true) {
  for (const H of [16, 32, 64, 128]) for (const C of [16, 32, 64]) layers.push([`grid`, H, C, C, 1]);
}

for (const [label, H, C, Co, d] of layers) {
  const x = tf.randomNormal([8, H, H, C]) as tf.Tensor4D;
  const filter = tf.randomNormal([3, 3, C, Co], 0, 0.1) as tf.Tensor4D;
  const bias = tf.randomNormal([Co]) as tf.Tensor1D;
  const u = winogradFilters(filter);
  const direct = () => tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', dilations: d, bias, activation: 'relu' });
  const winograd = () => winogradConv2d(x, u, bias, true, d);
  const [a, b] = [direct(), winograd()];
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
  const scale = tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0] as number);
  tf.dispose([a, b]);
  const timesDirect: number[] = [];
  const timesWinograd: number[] = [];
  const reps = H >= 64 ? Math.max(3, Math.floor(repeats / 3)) : repeats;
  for (let r = -3; r < reps; r++) {
    const t1 = timeOnce(() => tf.tidy(() => void direct().dataSync()));
    const t2 = timeOnce(() => tf.tidy(() => void winograd().dataSync()));
    if (r < 0) continue;
    timesDirect.push(t1);
    timesWinograd.push(t2);
  }
  const [td, tw] = [median(timesDirect), median(timesWinograd)];
  console.log(`| ${label} | ${H} × ${H} | ${C} → ${Co} | ${d} | ${format(td, 3)} | ${format(tw, 3)} | ${format(td / tw)}× | ${(diff / scale).toExponential(1)} |`);
  tf.dispose([x, filter, bias, ...u]);
}
