/**
 * One training step of a GradNets conv net (experiments/gradnets/convNet.ts,
 * batch 50, 28×28) on one backend: its median wall time over 10 steps, then
 * the 15 kernels with the most time in one `tf.profile`d step (ms, calls).
 *
 * Run: npx tsx bench/gradnets-conv-profile.ts [backend = wasm] [variant = relu]
 */
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { buildConvNet, CONV_FULL, CONV_VARIANTS, type ConvVariant } from '../experiments/gradnets/convNet.js';
import { format, median, timeOnce } from './timing.js';

const backend = process.argv[2] ?? 'wasm';
const variant = (process.argv[3] ?? 'relu') as ConvVariant;
if (!CONV_VARIANTS.includes(variant)) throw new Error(`unknown variant '${variant}' (known: ${CONV_VARIANTS.join(', ')})`);
await setBackend(backend);
const model = buildConvNet(CONV_FULL, variant, 0);
const optimizer = tf.train.adam(1e-3);
const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
const x = tf.randomNormal([50, 28, 28, 1], 0, 1, 'float32', 1);
const y = tf.oneHot(tf.randomUniform([50], 0, 10, 'int32', 2), 10);
const step = (): void => {
  const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor2D) as tf.Scalar, true, variables);
  loss?.dataSync();
  loss?.dispose();
};
for (let i = 0; i < 5; i++) step();
console.log(`${backend} ${variant}: ${format(median(Array.from({ length: 10 }, () => timeOnce(step))), 1)} ms/step (median of 10)`);
const profile = await tf.profile(() => step());
const byName = new Map<string, { ms: number; calls: number }>();
for (const k of profile.kernels) {
  const entry = byName.get(k.name) ?? { ms: 0, calls: 0 };
  entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  entry.calls++;
  byName.set(k.name, entry);
}
for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
  console.log(`${name.padEnd(28)} ${format(e.ms).padStart(8)} ms ${String(e.calls).padStart(4)} calls`);
}
