/**
 * Conv2d forward / backward throughput on the wasm backend, with hemnet's
 * kernels (src/kernels/) against the rank-2 matMul rate and the stock kernels.
 * Run: npm run bench:conv   (= tsx bench/conv.ts)
 */
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { installKernels, uninstallKernels } from '../src/kernels/index.js';

const REPEATS = 5;
const WARMUP = 2;

function medianMs(run: () => tf.Tensor): number {
  const once = (): number => {
    const start = performance.now();
    const out = run();
    out.dataSync();
    const elapsed = performance.now() - start;
    out.dispose();
    return elapsed;
  };
  for (let i = 0; i < WARMUP; i++) once();
  const times = Array.from({ length: REPEATS }, once).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

const rate = (flops: number, ms: number): number => flops / (ms * 1e6);
const f1 = (value: number): string => value.toFixed(1);
const f2 = (value: number): string => value.toFixed(2);

await setBackend('wasm');
const [B, H, W, C, K] = [8, 64, 64, 64, 3];
const x = tf.randomNormal([B, H, W, C], 0, 1, 'float32', 1) as tf.Tensor4D;
const filter = tf.randomNormal([K, K, C, C], 0, 0.1, 'float32', 2) as tf.Tensor4D;
const dy = tf.randomNormal([B, H, W, C], 0, 1, 'float32', 3) as tf.Tensor4D;
const flops = 2 * B * H * W * K * K * C * C;

// The same multiply-adds as one conv pass, as a plain rank-2 matMul (im2col shape).
const a = tf.randomNormal([B * H * W, K * K * C]) as tf.Tensor2D;
const b = tf.randomNormal([K * K * C, C]) as tf.Tensor2D;
const matMulMs = medianMs(() => tf.matMul(a, b));
const matMulRate = rate(flops, matMulMs);
tf.dispose([a, b]);

console.log(`conv2d ${K}x${K} ${C}->${C} on [${B}, ${H}, ${W}, ${C}], padding 'same', wasm, tfjs ${tf.version_core}`);
console.log(`median of ${REPEATS} after ${WARMUP} warm-ups; ${f2(flops / 1e9)} GFLOP per pass`);
console.log(`rank-2 matMul [${B * H * W}, ${K * K * C}]x[${K * K * C}, ${C}]: ${f1(matMulMs)} ms, ${f1(matMulRate)} GFLOP/s`);
console.log('');
console.log('| case | pass | ms | GFLOP/s | / matMul |');
console.log('|---|---|---:|---:|---:|');
const row = (label: string, pass: string, ms: number, passes = 1): void => {
  const r = rate(flops * passes, ms);
  console.log(`| ${label} | ${pass} | ${f1(ms)} | ${f1(r)} | ${f2(r / matMulRate)} |`);
};

const engine = tf.engine();
for (const dilation of [1, 2]) {
  const label = dilation === 1 ? 'd=1' : `d=${dilation}`;
  const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [dilation, dilation] };
  const forwardMs = medianMs(() => tf.conv2d(x, filter, 1, 'same', 'NHWC', dilation));
  const inputMs = medianMs(() => engine.runKernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: x.shape }) as tf.Tensor);
  const filterMs = medianMs(() => engine.runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: filter.shape }) as tf.Tensor);
  // End to end through the registered Conv2D gradient (both gradients, one call).
  const gradients = tf.grads((input: tf.Tensor, weights: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2d(input as tf.Tensor4D, weights as tf.Tensor4D, 1, 'same', 'NHWC', dilation), dy)),
  );
  const stepMs = medianMs(() => {
    const [gx, gw] = gradients([x, filter]);
    gw?.dataSync();
    gw?.dispose();
    return gx as tf.Tensor;
  });
  row(label, 'forward', forwardMs);
  row(label, 'input gradient', inputMs);
  row(label, 'filter gradient', filterMs);
  row(label, 'backward total (input + filter)', inputMs + filterMs, 2);
  row(label, 'tf.grads forward + backward', stepMs, 3);
}

uninstallKernels('wasm');
const stockInputMs = medianMs(() =>
  engine.runKernel('Conv2DBackpropInput', { dy, filter }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', inputShape: x.shape }) as tf.Tensor,
);
installKernels('wasm');
row('d=1 stock wasm', 'input gradient', stockInputMs);
console.log('| d=1 stock wasm | filter gradient | (kernel not registered) | | |');
tf.dispose([x, filter, dy]);

// The filter gradient at the default model's smaller maps (batch 8, 64×64 input at output stride 8),
// where rows are short: each against the rank-2 matMul of its own im2col product.
console.log('');
console.log("filter gradient, 3×3 'same', batch 8, at the default model's map sizes (ms; GFLOP/s ÷ the matMul [B·H·W, 9C]ᵀ·[B·H·W, C])");
console.log('| map | filter gradient ms | GFLOP/s | matMul ms | / matMul |');
console.log('|---|---:|---:|---:|---:|');
for (const [h, w, c] of [[32, 32, 32], [16, 16, 64], [8, 8, 128]] as const) {
  const xs = tf.randomNormal([B, h, w, c], 0, 1, 'float32', 6) as tf.Tensor4D;
  const dys = tf.randomNormal([B, h, w, c], 0, 1, 'float32', 7) as tf.Tensor4D;
  const cols = tf.randomNormal([B * h * w, K * K * c]) as tf.Tensor2D;
  const dy2 = tf.randomNormal([B * h * w, c]) as tf.Tensor2D;
  const smallFlops = 2 * B * h * w * K * K * c * c;
  const gradMs = medianMs(() => engine.runKernel('Conv2DBackpropFilter', { x: xs, dy: dys }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], filterShape: [K, K, c, c] }) as tf.Tensor);
  const productMs = medianMs(() => tf.matMul(cols, dy2, true, false));
  console.log(`| ${h}×${w}×${c} | ${f2(gradMs)} | ${f1(rate(smallFlops, gradMs))} | ${f2(productMs)} | ${f2(productMs / gradMs)} |`);
  tf.dispose([xs, dys, cols, dy2]);
}

// Other ops a segmentation net trains through, same activation size (ms, fwd + grad).
console.log('');
console.log(`other training ops on [${B}, ${H}, ${W}, ${C}] (forward + gradient, ms)`);
const input = tf.randomNormal([B, H, W, C], 0, 1, 'float32', 4) as tf.Tensor4D;
const upstream = tf.randomNormal([B, H, W, C], 0, 1, 'float32', 5);
const batchNorm = tf.layers.batchNormalization();
batchNorm.apply(input);
const timeGrad = (label: string, loss: (t: tf.Tensor) => tf.Tensor): void => {
  const ms = medianMs(() => tf.grad(loss)(input));
  console.log(`| ${label} | ${f1(ms)} |`);
};
console.log('| op | ms |');
console.log('|---|---:|');
console.log(`| elementwise mul (memory-bound reference, forward only) | ${f1(medianMs(() => tf.mul(input, upstream)))} |`);
timeGrad('tf.layers.batchNormalization, training', (t) => tf.sum(tf.mul(batchNorm.apply(t, { training: true }) as tf.Tensor, upstream)));
timeGrad('tf.batchNorm with fixed statistics', (t) => tf.sum(tf.mul(tf.batchNorm(t, tf.zeros([C]), tf.ones([C]), tf.zeros([C]), tf.ones([C]), 1e-3), upstream)));
timeGrad('tf.moments over [0, 1, 2]', (t) => { const m = tf.moments(t, [0, 1, 2]); return tf.add(tf.sum(m.mean), tf.sum(m.variance)); });
timeGrad(`resizeBilinear ${H}->${2 * H}`, (t) => tf.sum(tf.image.resizeBilinear(t as tf.Tensor4D, [2 * H, 2 * W])));
timeGrad('maxPool 2x2 stride 2', (t) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'same')));
timeGrad('avgPool 2x2 stride 2', (t) => tf.sum(tf.avgPool(t as tf.Tensor4D, 2, 2, 'same')));
const logits = tf.randomNormal([B * H * W, 21], 0, 1, 'float32', 6);
const onehot = tf.oneHot(tf.randomUniform([B * H * W], 0, 21, 'int32', 7), 21);
console.log(`| softmaxCrossEntropy [${B * H * W}, 21] | ${f1(medianMs(() => tf.grad((t: tf.Tensor) => tf.losses.softmaxCrossEntropy(onehot, t))(logits)))} |`);
batchNorm.dispose();
tf.dispose([input, upstream, logits, onehot]);
