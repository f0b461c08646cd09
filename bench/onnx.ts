/**
 * Inference of the default hemnet model (compact backbone, hem head, 64×64,
 * 11 classes) in hemnet (tfjs wasm) and in ONNX Runtime (onnxruntime-web's
 * wasm build, 1 thread) on the exported file, interleaved in one run, with
 * the outputs' max |diff|. Run: npx tsx bench/onnx.ts [--batch 8] [--repeats 5]
 * With --large: export time, file size and ORT load time of a full-size
 * ResNet-50 (width 64) + hem head (C 512, K 64), 21 classes, 256×256.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { setBackend } from '../src/backend.js';
import { exportOnnx } from '../src/interop/onnx/export.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { format, median } from './timing.js';

const { values } = parseArgs({ options: { batch: { type: 'string', default: '8' }, repeats: { type: 'string', default: '5' }, large: { type: 'boolean', default: false } } });
if (values.large === true) {
  await setBackend('wasm');
  const { model: large } = buildSegmentationModel({ backbone: 'resnet50', head: 'hem', width: 64, channels: 512, midChannels: 256, numClasses: 21, inputSize: [256, 256], outputStride: 8, hem: { numBases: 64 } });
  let start = performance.now();
  const file = exportOnnx(large);
  const exportMs = performance.now() - start;
  ort.env.wasm.numThreads = 1;
  start = performance.now();
  const loaded = await ort.InferenceSession.create(file.bytes);
  const loadMs = performance.now() - start;
  console.log(`resnet50 + hem, 256×256: ${(file.parameters / 1e6).toFixed(1)} M parameters, ${(file.bytes.length / 1e6).toFixed(0)} MB, export ${(exportMs / 1000).toFixed(1)} s, ORT load ${(loadMs / 1000).toFixed(1)} s`);
  await loaded.release();
  process.exit(0);
}
const batch = Number(values.batch);
const repeats = Number(values.repeats);
ort.env.wasm.numThreads = 1;
const info = await setBackend('wasm');
const { model } = buildSegmentationModel();
const exported = exportOnnx(model);
const session = await ort.InferenceSession.create(exported.bytes);
const images = tf.randomNormal([batch, 64, 64, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const nchw = tf.transpose(images, [0, 3, 1, 2]);
const feed = { image: new ort.Tensor('float32', nchw.dataSync() as Float32Array, [batch, 3, 64, 64]) };

const runHemnet = (): Float32Array => {
  const out = model.predict(images) as tf.Tensor;
  const moved = tf.transpose(out, [0, 3, 1, 2]);
  const data = moved.dataSync() as Float32Array;
  tf.dispose([out, moved]);
  return data;
};
const runOrt = async (): Promise<Float32Array> => (await session.run(feed))['logits']?.data as Float32Array;

const a = runHemnet();
const b = await runOrt();
let diff = 0;
for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));

const hemnetTimes: number[] = [];
const ortTimes: number[] = [];
for (let r = 0; r < repeats; r++) {
  let start = performance.now();
  runHemnet();
  hemnetTimes.push(performance.now() - start);
  start = performance.now();
  await runOrt();
  ortTimes.push(performance.now() - start);
}
const hemnetRate = (1000 * batch) / median(hemnetTimes);
const ortRate = (1000 * batch) / median(ortTimes);
console.log(`backend ${info.name} · batch ${batch} · ${repeats} repeats · file ${(exported.bytes.length / 1024).toFixed(0)} KiB · max |diff| ${diff.toExponential(1)}`);
console.log(`hemnet (tfjs wasm) predict: ${format(hemnetRate, 1)} img/s`);
console.log(`ONNX Runtime web (wasm, 1 thread): ${format(ortRate, 1)} img/s`);
console.log(`ratio ORT / hemnet: ${format(ortRate / hemnetRate)}`);
await session.release();
