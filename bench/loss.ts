/**
 * The segmentation loss and its gradient on wasm at the default model's
 * logits ([8, 64, 64, 11], batch 8): hemnet's one-kernel loss
 * (src/kernels/crossEntropy.ts, `HemnetSoftmaxCrossEntropy`) against the
 * tfjs composition it replaces (`setFusedCrossEntropy(false)`), and the
 * kernel in plain JS (Math.exp, no WebAssembly passes:
 * `setSimdCrossEntropy(false)`), interleaved round by round in one process.
 *
 * Run: npx tsx bench/loss.ts [--rounds N] [--calls N]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { setFusedCrossEntropy } from '../src/backends/native/crossEntropy.js';
import { setSimdCrossEntropy } from '../src/kernels/crossEntropy.js';
import { segmentationCrossEntropy } from '../src/train/loss.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, calls: { type: 'string', default: '40' } } });
const rounds = Number(values.rounds);
const calls = Number(values.calls);
await setBackend('wasm');
const logits = tf.mul(tf.randomNormal([8, 64, 64, 11], 0, 1, 'float32', 1), 3) as tf.Tensor4D;
// 10 % of the pixels ignored, as the scenes' label borders are.
const labels = tf.tidy(() => tf.where(tf.less(tf.randomUniform([8, 64, 64], 0, 1, 'float32', 2), 0.1), tf.fill([8, 64, 64], 255, 'int32'), tf.randomUniform([8, 64, 64], 0, 11, 'int32', 3))) as tf.Tensor3D;
const lossGradient = tf.valueAndGrad((x: tf.Tensor) => segmentationCrossEntropy(x as tf.Tensor4D, labels));
const variants: { name: string; set: () => void }[] = [
  { name: 'one kernel, WebAssembly', set: () => { setFusedCrossEntropy(true); setSimdCrossEntropy(true); } },
  { name: 'one kernel, plain JS', set: () => { setFusedCrossEntropy(true); setSimdCrossEntropy(false); } },
  { name: 'tfjs composition', set: () => { setFusedCrossEntropy(false); setSimdCrossEntropy(true); } },
];
const call = (): void => {
  const { value, grad } = lossGradient(logits);
  grad.dataSync();
  tf.dispose([value, grad]);
};
const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
const before = tf.memory().numTensors;
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    v.set();
    for (let i = 0; i < 10; i++) call(); // warm-up (JIT, tier-up) after the switch
    const list = times.get(v.name) as number[];
    for (let i = 0; i < calls; i++) list.push(timeOnce(call));
  }
}
setFusedCrossEntropy(true);
setSimdCrossEntropy(true);
if (tf.memory().numTensors !== before) throw new Error(`bench/loss: tensors ${before} → ${tf.memory().numTensors}`);
console.log(`loss + gradient, logits [8, 64, 64, 11], wasm, ${rounds} rounds × ${calls} calls, medians (ms)`);
const composed = median(times.get('tfjs composition') as number[]);
for (const v of variants) {
  const ms = median(times.get(v.name) as number[]);
  console.log(`${v.name.padEnd(22)} ${format(ms)} ms   composition ÷ this ${format(composed / ms)}×`);
}
tf.dispose([logits, labels]);
