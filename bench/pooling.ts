/**
 * Pooling kernels: hemnet's (src/kernels/pooling.ts on wasm, native/src/pool.cc
 * on native) against the kernels they replace (wasm's own; on native the cpu
 * kernels it inherits), interleaved call by call in one run; then a training
 * step of the GradNets conv net (experiments/gradnets/convNet.ts, batch 50,
 * 28×28, two 2×2 max pools) with hemnet's kernels, on each backend present.
 *
 * Run: npx tsx bench/pooling.ts [--calls N] [--steps N]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { availableBackends, setBackend } from '../src/backend.js';
import { installKernels, uninstallKernels } from '../src/kernels/index.js';
import { buildConvNet, CONV_FULL } from '../experiments/gradnets/convNet.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '20' }, steps: { type: 'string', default: '20' } } });
const calls = Number(values.calls);
const steps = Number(values.steps);
const present = await availableBackends();
const backends = ['wasm', 'native'].filter((b) => present.includes(b));

type Kernel = 'MaxPool' | 'MaxPoolGrad' | 'AvgPool' | 'AvgPoolGrad';
const KERNELS: Kernel[] = ['MaxPool', 'MaxPoolGrad', 'AvgPool', 'AvgPoolGrad'];
// [input shape, window, stride, pad]
const CASES: [[number, number, number, number], number, number, 'valid' | 'same'][] = [
  [[50, 28, 28, 8], 2, 2, 'valid'],
  [[50, 14, 14, 16], 2, 2, 'valid'],
  [[8, 32, 32, 64], 3, 2, 'same'],
];

/** Runs `kernel` either as hemnet registers it or as the kernel it replaced. */
function runner(backend: string, kernel: Kernel, x: tf.Tensor4D, window: number, stride: number, pad: 'valid' | 'same'): { ours: () => tf.TensorInfo; stock: () => tf.TensorInfo } | null {
  const attrs = { filterSize: [window, window], strides: [stride, stride], pad };
  const y = tf.engine().runKernel(kernel.startsWith('Max') ? 'MaxPool' : 'AvgPool', { x }, attrs) as tf.Tensor;
  const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 2);
  const inputs: tf.NamedTensorInfoMap = kernel === 'MaxPool' || kernel === 'AvgPool' ? { x } : kernel === 'MaxPoolGrad' ? { dy, input: x, output: y } : { dy, input: x };
  const run = (config: tf.KernelConfig | undefined): tf.TensorInfo => {
    if (config === undefined) throw new Error(`no ${kernel} kernel`);
    return config.kernelFunc({ inputs, attrs, backend: tf.backend() }) as tf.TensorInfo;
  };
  if (backend === 'native') {
    // The cpu kernel on the native backend (which extends the cpu backend) is what native ran before.
    return { ours: () => run(tf.getKernel(kernel, 'native')), stock: () => run(tf.getKernel(kernel, 'cpu')) };
  }
  if (kernel === 'MaxPool' || kernel === 'AvgPool') return null; // wasm keeps its own forward passes
  return {
    ours: () => run(tf.getKernel(kernel, 'wasm')),
    stock: () => {
      uninstallKernels('wasm');
      try {
        return run(tf.getKernel(kernel, 'wasm'));
      } finally {
        installKernels('wasm');
      }
    },
  };
}

for (const backend of backends) {
  await setBackend(backend);
  console.log(`--- ${backend}: hemnet's pooling kernels against the ones they replace (median of ${calls} calls, ms)`);
  console.log(`${'kernel, input, window/stride/pad'.padEnd(52)} ${'stock'.padStart(8)} ${'hemnet'.padStart(8)}  stock ÷ hemnet`);
  for (const [shape, window, stride, pad] of CASES) {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
    for (const kernel of KERNELS) {
      const r = runner(backend, kernel, x, window, stride, pad);
      if (r === null) continue;
      const time = (f: () => tf.TensorInfo): number =>
        timeOnce(() => {
          const out = f();
          tf.backend().disposeData(out.dataId);
        });
      const ours: number[] = [];
      const stock: number[] = [];
      for (let i = 0; i < calls + 2; i++) {
        const a = time(r.ours);
        const b = time(r.stock);
        if (i >= 2) {
          ours.push(a);
          stock.push(b);
        }
      }
      const label = `${kernel} [${shape.join(', ')}] ${window}×${window}/${stride}/${pad}`;
      console.log(`${label.padEnd(52)} ${format(median(stock), 3).padStart(8)} ${format(median(ours), 3).padStart(8)}  ${format(median(stock) / median(ours), 1)}×`);
    }
    x.dispose();
  }
}

console.log(`--- GradNets conv net (relu variant, batch 50), training step with hemnet's kernels (median of ${steps} steps)`);
for (const backend of backends) {
  await setBackend(backend);
  const model = buildConvNet(CONV_FULL, 'relu', 0);
  const optimizer = tf.train.adam(1e-3);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = tf.randomNormal([50, 28, 28, 1], 0, 1, 'float32', 3);
  const y = tf.oneHot(tf.randomUniform([50], 0, 10, 'int32', 4), 10);
  const step = (): void => {
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor2D) as tf.Scalar, true, variables);
    loss?.dataSync();
    loss?.dispose();
  };
  for (let i = 0; i < 3; i++) step();
  const times = Array.from({ length: steps }, () => timeOnce(step));
  console.log(`${backend.padEnd(8)} ${format(median(times), 1)} ms/step`);
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
}
