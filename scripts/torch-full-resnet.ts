/**
 * A full-width torchvision ResNet-50 (random weights, PyTorch's eval-mode
 * outputs) loaded into hemnet: timings and max |diff| of layer3/layer4.
 *
 *   /usr/bin/python3 scripts/fixtures/torch_fixtures.py --full /tmp/r50full
 *   npx tsx scripts/torch-full-resnet.ts /tmp/r50full
 */
import * as tf from '@tensorflow/tfjs';
import { buildTorchvisionResNet, formatImportReport, importTorchWeights, setBackend, torchvisionResNetMapping, type TorchTensor } from '../src/index.js';
import { readSafetensorsFile } from '../src/node.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: tsx scripts/torch-full-resnet.ts DIR (written by torch_fixtures.py --full DIR)');
await setBackend('wasm');
let t0 = performance.now();
const file = await readSafetensorsFile(`${dir}/resnet50_full_os8.safetensors`);
const io = await readSafetensorsFile(`${dir}/resnet50_full_os8.io.safetensors`);
console.log(`parse: ${(performance.now() - t0).toFixed(0)} ms`);
t0 = performance.now();
const model = buildTorchvisionResNet({ depth: 50, width: 64, outputStride: 8, inputSize: [64, 64] });
console.log(`build: ${(performance.now() - t0).toFixed(0)} ms`);
t0 = performance.now();
const report = importTorchWeights(model, file, torchvisionResNetMapping());
console.log(`import: ${(performance.now() - t0).toFixed(0)} ms; ${formatImportReport(report)}`);
const nhwc = (t: TorchTensor | undefined): tf.Tensor4D => {
  if (t === undefined) throw new Error('fixture tensor missing');
  return tf.transpose(tf.tensor4d(t.data, t.shape as [number, number, number, number]), [0, 2, 3, 1]);
};
const outputs = model.predict(nhwc(io.tensors.get('input'))) as tf.Tensor[];
for (const [i, name] of ['features', 'stage3'].entries()) {
  const expected = nhwc(io.tensors.get(name));
  const diff = tf.max(tf.abs(tf.sub(outputs[i] as tf.Tensor, expected))).dataSync()[0] as number;
  const scale = tf.max(tf.abs(expected)).dataSync()[0] as number;
  console.log(`${name}: max |diff| ${diff.toExponential(2)}, max |expected| ${scale.toFixed(1)}, relative ${(diff / scale).toExponential(2)}`);
}
