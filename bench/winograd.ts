/**
 * Winograd F(2×2, 3×3) and F(4×4, 3×3) (src/ops/winograd.ts, the wasm
 * kernel src/kernels/winogradConv.ts) against the direct convolution
 * (tf.fused.conv2d on XNNPACK) for 3×3 stride-1 layers with bias and ReLU,
 * as folded inference runs them: the default model's layers (64 × 64
 * input: 16 channels on 32 × 32, 32 on 16 × 16, 64–128 on 8 × 8, the last
 * stage dilated ×2), attention-bench's (128 × 128 input), and a grid of
 * channels × map sizes to place the rule of src/infer/folded.ts. Batch 8;
 * the three interleaved call by call; medians; the largest |difference|
 * from the direct output relative to its largest |output|.
 * With --training, the training step's convolutions instead
 * (src/kernels/winogradTraining.ts, the filter transformed in every call):
 * the forward conv (no bias, as the zoo's conv → BN units), its input
 * gradient (`Conv2DBackpropInput`; with the forward where dilated) and the
 * forward with the filter gradient, each direct (`setWasmWinograd(false)`),
 * with F(2×2, 3×3) (`setWasmWinogradTile(2)`) and with the default (F(4×4,
 * 3×3) where the map allows it), interleaved, at batch 8 and at a
 * data-parallel worker's shard of 4. The channel rules of the kernels
 * apply, so a column equals the direct one where a rule keeps it direct.
 *
 * Run: npx tsx bench/winograd.ts [--repeats 30] [--grid] [--training]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { winogradConv2d, winogradConvAvailable, winogradFilters } from '../src/ops/winograd.js';
import { withWasmWinograd, withWasmWinogradTile } from '../src/kernels/winogradTraining.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '30' }, grid: { type: 'boolean', default: false }, training: { type: 'boolean', default: false } } });
const repeats = Number(values.repeats);
if (!Number.isInteger(repeats) || repeats < 3) throw new Error(`--repeats must be an integer ≥ 3, received '${values.repeats}'`);
await setBackend('wasm');
if (!winogradConvAvailable()) throw new Error('bench:winograd: the wasm backend has no HemnetWinogradConv2D kernel (WebAssembly SIMD unavailable?)');
console.log(`bench:winograd — ${new Date().toISOString()} · wasm · batch 8 · ${repeats} interleaved repeats · load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const training = values.training === true;
console.log(
  training
    ? '| layer | batch | map | C → Co | dilation | forward direct / F(2×2) / default ms | dx direct / F(2×2) / default ms | fwd + dW direct / F(2×2) / default ms | direct ÷ default (fwd, dx, fwd + dW) | F(2×2) ÷ default (fwd, dx, fwd + dW) | max rel. diff default (y, dx, dW) |'
    : '| layer | map | C → Co | dilation | direct ms | F(2×2) ms | F(4×4) ms | direct ÷ F(2×2) | direct ÷ F(4×4) | F(2×2) ÷ F(4×4) | max rel. diff F(2×2), F(4×4) |',
);
console.log(training ? '|---|---:|---|---|---:|---:|---:|---:|---|---|---|' : '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|');

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

function relativeDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => (tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number) / (tf.max(tf.abs(a)).dataSync()[0] as number));
}

if (training) {
  for (const [label, H, C, Co, d] of layers) {
    for (const B of [8, 4]) {
      const x = tf.randomNormal([B, H, H, C]) as tf.Tensor4D;
      const filter = tf.randomNormal([3, 3, C, Co], 0, 0.1) as tf.Tensor4D;
      const dy = tf.randomNormal([B, H, H, Co]) as tf.Tensor4D;
      const forward = () => tf.conv2d(x, filter, 1, 'same', 'NHWC', d);
      const dx = () => tf.conv2dTranspose(dy, filter, x.shape, 1, 'same');
      const dxDilated = () => tf.grad((input: tf.Tensor) => tf.mul(tf.conv2d(input as tf.Tensor4D, filter, 1, 'same', 'NHWC', d), dy).sum())(x);
      const gradient = d === 1 ? dx : dxDilated;
      const filterGradient = () => tf.grad((w: tf.Tensor) => tf.mul(tf.conv2d(x, w as tf.Tensor4D, 1, 'same', 'NHWC', d), dy).sum())(filter);
      const variants = [
        <T>(f: () => T) => withWasmWinograd(false, f),
        <T>(f: () => T) => withWasmWinograd(true, () => withWasmWinogradTile(2, f)),
        <T>(f: () => T) => withWasmWinograd(true, () => withWasmWinogradTile(4, f)),
      ];
      const diffs = [forward, gradient, filterGradient].map((f) => {
        const [a, b] = [variants[0]!(f), variants[2]!(f)];
        const diff = relativeDiff(a, b).toExponential(1);
        tf.dispose([a, b]);
        return diff;
      });
      const reps = H >= 64 ? Math.max(3, Math.floor(repeats / 3)) : repeats;
      const timed = (f: () => tf.Tensor): [number, number, number] => {
        const times: [number[], number[], number[]] = [[], [], []];
        for (let r = -3; r < reps; r++) {
          const round = variants.map((v) => timeOnce(() => v(() => tf.tidy(() => void f().dataSync()))));
          if (r >= 0) round.forEach((t, i) => times[i]?.push(t));
        }
        return times.map(median) as [number, number, number];
      };
      const [tForward, tInput, tFilter] = [timed(forward), timed(gradient), timed(filterGradient)];
      const ms = (t: [number, number, number]) => t.map((v) => format(v, 3)).join(' / ');
      const ratio = (i: number) => [tForward, tInput, tFilter].map((t) => `${format((t[i] as number) / t[2])}×`).join(', ');
      const dxLabel = d === 1 ? '' : ' (fwd + dx)';
      console.log(`| ${label} | ${B} | ${H} × ${H} | ${C} → ${Co} | ${d} | ${ms(tForward)} | ${ms(tInput)}${dxLabel} | ${ms(tFilter)} | ${ratio(0)} | ${ratio(1)} | ${diffs.join(', ')} |`);
      tf.dispose([x, filter, dy]);
    }
  }
  process.exit(0);
}

for (const [label, H, C, Co, d] of layers) {
  const x = tf.randomNormal([8, H, H, C]) as tf.Tensor4D;
  const filter = tf.randomNormal([3, 3, C, Co], 0, 0.1) as tf.Tensor4D;
  const bias = tf.randomNormal([Co]) as tf.Tensor1D;
  const u2 = winogradFilters(filter, 2);
  const u4 = winogradFilters(filter, 4);
  const direct = () => withWasmWinograd(false, () => tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', dilations: d, bias, activation: 'relu' }));
  const winograd2 = () => winogradConv2d(x, u2, bias, true, d);
  const winograd4 = () => winogradConv2d(x, u4, bias, true, d);
  const [a, b2, b4] = [direct(), winograd2(), winograd4()];
  const diffs = [b2, b4].map((b) => relativeDiff(a, b).toExponential(1)).join(', ');
  tf.dispose([a, b2, b4]);
  const times: [number[], number[], number[]] = [[], [], []];
  const reps = H >= 64 ? Math.max(3, Math.floor(repeats / 3)) : repeats;
  for (let r = -3; r < reps; r++) {
    const round = [direct, winograd2, winograd4].map((f) => timeOnce(() => tf.tidy(() => void f().dataSync())));
    if (r < 0) continue;
    round.forEach((t, i) => times[i]?.push(t));
  }
  const [td, t2, t4] = times.map(median) as [number, number, number];
  console.log(`| ${label} | ${H} × ${H} | ${C} → ${Co} | ${d} | ${format(td, 3)} | ${format(t2, 3)} | ${format(t4, 3)} | ${format(td / t2)}× | ${format(td / t4)}× | ${format(t2 / t4)}× | ${diffs} |`);
  tf.dispose([x, filter, bias, ...u2, ...u4]);
}
