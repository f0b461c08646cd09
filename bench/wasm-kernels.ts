/**
 * Single-kernel timings on wasm for the shapes of the default model's
 * training step: the forward conv against hemnet's filter and input
 * gradients (src/kernels/conv2dBackprop*.ts), and BatchMatMul with transpose
 * flags and small batches (src/kernels/batchMatMul.ts). Median and least of
 * N calls; read them against each other (same run), not across runs.
 *
 * Run: npx tsx bench/wasm-kernels.ts [--calls N]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '20' } } });
const calls = Number(values.calls);
await setBackend('wasm');

function time(label: string, f: () => tf.Tensor): void {
  for (let i = 0; i < 3; i++) f().dispose();
  const ts: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const r = f();
    r.dataSync();
    ts.push(performance.now() - t0);
    r.dispose();
  }
  ts.sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} ${ts[calls >> 1]!.toFixed(2).padStart(7)} ms (least ${ts[0]!.toFixed(2)})`);
}

// [size, in channels, out channels, kernel, stride, dilation]
const convs: [number, number, number, number, number, number][] = [
  [8, 128, 128, 3, 1, 2], [8, 64, 64, 3, 1, 1], [32, 16, 16, 3, 1, 1], [16, 32, 32, 3, 1, 1],
  [16, 64, 128, 3, 2, 1], [32, 16, 32, 3, 2, 1], [16, 64, 128, 1, 2, 1], [64, 3, 16, 3, 2, 1],
];
for (const [H, C, Co, k, s, d] of convs) {
  const Ho = Math.ceil(H / s);
  const x = tf.randomNormal([8, H, H, C]);
  const dy = tf.randomNormal([8, Ho, Ho, Co]);
  const w = tf.randomNormal([k, k, C, Co]);
  const attrs = { strides: [s, s], pad: 'same', dataFormat: 'NHWC', dilations: [d, d] };
  console.log(`--- [8, ${H}, ${H}, ${C}] → ${Co}, ${k}×${k}, stride ${s}, dilation ${d}: ${((2 * 8 * Ho * Ho * k * k * C * Co) / 1e6).toFixed(0)} MFLOP per pass`);
  time('forward conv', () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same', 'NHWC', d));
  time('Conv2DBackpropFilter', () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [k, k, C, Co] }) as tf.Tensor);
  time('Conv2DBackpropInput', () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: [8, H, H, C] }) as tf.Tensor);
  tf.dispose([x, dy, w]);
}

console.log('--- BatchMatMul');
// [batch (0: rank 2), m, k, n, transposeA, transposeB]
const products: [number, number, number, number, boolean, boolean][] = [
  [0, 8, 64, 5632, true, false], [0, 8, 64, 5632, false, false], [0, 64, 512, 64, true, false], [0, 512, 64, 64, false, true],
  [8, 64, 16, 64, false, false], [8, 64, 16, 64, true, false], [8, 64, 16, 64, false, true], [8, 64, 64, 16, false, false],
];
for (const [batch, m, k, n, tA, tB] of products) {
  const lead = batch === 0 ? [] : [batch];
  const a = tf.randomNormal([...lead, ...(tA ? [k, m] : [m, k])]);
  const b = tf.randomNormal([...lead, ...(tB ? [n, k] : [k, n])]);
  time(`[${lead.join(',')}] ${m}×${k} · ${k}×${n}${tA ? ' tA' : ''}${tB ? ' tB' : ''}`, () => tf.matMul(a, b, tA, tB));
  tf.dispose([a, b]);
}
