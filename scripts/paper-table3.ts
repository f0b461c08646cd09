/**
 * The paper's Table 3 columns for our heads: parameters, FLOPs (counted from
 * the kernels a forward pass runs, `countFlops`), peak tensor memory and
 * step time of the `fcn`, `ema` and `hem` heads, at the paper's head size and
 * at ours.
 *
 *   npx tsx scripts/paper-table3.ts [--backend wasm] [--reps 2] [--skip-timing]
 *
 * Paper size (Table 3): ResNet-101 features at OS 8 of a 513×513 input, i.e.
 * [1, 65, 65, 2048] (the paper pads to 520 = 65·8), C = 256 or 512 channels
 * into the attention module, K = 64, T = 3, a 256-channel 3×3 conv before
 * the 21-class classifier. The paper reports the head's additions to the
 * backbone: EMANet/HEMNet (256) +45.2 GFLOPs, +5.15 M params;
 * (512) +92.3 GFLOPs, +10.6 M params.
 * Ours: the default run's head (compact backbone width 16 → [1, 8, 8, 128]
 * features of a 64×64 scene, C = 64, K = 16, T = 3, 64 mid channels, 11 classes).
 *
 * Writes experiments/results/table3.json and prints a markdown table.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { countFlops } from '../src/metrics/flops.js';
import { segmentationHead, type HeadName } from '../src/models/heads.js';
import { countParameters } from '../src/models/zoo.js';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'wasm' }, reps: { type: 'string', default: '2' }, 'skip-timing': { type: 'boolean' } } });
const backend = await setBackend(String(values.backend) as 'wasm');
const reps = Number(values.reps);

interface Size { name: string; features: [number, number, number]; channels: number; numBases: number; midChannels: number; numClasses: number; upsample: number }
const SIZES: Size[] = [
  { name: 'paper (256)', features: [65, 65, 2048], channels: 256, numBases: 64, midChannels: 256, numClasses: 21, upsample: 8 },
  { name: 'paper (512)', features: [65, 65, 2048], channels: 512, numBases: 64, midChannels: 256, numClasses: 21, upsample: 8 },
  { name: 'ours', features: [8, 8, 128], channels: 64, numBases: 16, midChannels: 64, numClasses: 11, upsample: 8 },
];
const HEADS: HeadName[] = ['fcn', 'ema', 'hem'];

interface Row { size: string; head: HeadName; params: number; gflops: number; emGflops: number; peakMB: number | null; inferenceMs: number | null; trainStepMs: number | null }
const rows: Row[] = [];
for (const size of SIZES) {
  for (const head of HEADS) {
    const input = tf.input({ shape: size.features });
    const out = segmentationHead(head, input, {
      numClasses: size.numClasses, channels: size.channels, midChannels: size.midChannels, upsample: size.upsample,
      hem: { numBases: size.numBases, trainIterations: 3 }, seed: 1,
    });
    const model = tf.model({ inputs: input, outputs: out.logits });
    const x = tf.randomNormal([1, ...size.features]);
    const flops = await countFlops(() => model.predict(x) as tf.Tensor);
    // FLOPs of the EM iterations alone: everything the HemHead layer runs.
    const emFlops = out.hemHead === null ? 0 : (await countFlops(() => (out.hemHead as NonNullable<typeof out.hemHead>).apply(tf.randomNormal([1, size.features[0], size.features[1], size.channels])) as tf.Tensor)).total;
    let peakMB: number | null = null;
    let inferenceMs: number | null = null;
    let trainStepMs: number | null = null;
    if (values['skip-timing'] !== true) {
      const labels = tf.oneHot(tf.zeros([1, size.features[0] * size.upsample, size.features[1] * size.upsample], 'int32') as tf.Tensor3D, size.numClasses);
      const optimizer = tf.train.adam(1e-4);
      const step = () => optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, false);
      const profile = await tf.profile(() => { step(); });
      peakMB = profile.peakBytes / 2 ** 20;
      const infer = () => tf.tidy(() => { (model.predict(x) as tf.Tensor).dataSync(); });
      infer();
      const inferTimes: number[] = [];
      const stepTimes: number[] = [];
      for (let r = 0; r < reps; r++) {
        let t0 = performance.now(); infer(); inferTimes.push(performance.now() - t0);
        t0 = performance.now(); tf.tidy(() => { step(); }); stepTimes.push(performance.now() - t0);
      }
      inferenceMs = Math.min(...inferTimes);
      trainStepMs = Math.min(...stepTimes);
      optimizer.dispose();
      labels.dispose();
    }
    rows.push({ size: size.name, head, params: countParameters(model, 'trainable'), gflops: flops.total / 1e9, emGflops: emFlops / 1e9, peakMB, inferenceMs, trainStepMs });
    process.stderr.write(`${size.name} ${head}: ${(flops.total / 1e9).toFixed(2)} GFLOPs\n`);
    x.dispose();
    model.dispose();
  }
}

const fmt = (v: number | null, d = 1) => (v === null ? '—' : v.toFixed(d));
const lines = [
  `backend ${backend.name}, ${new Date().toISOString().slice(0, 10)}, load ${(await import('node:os')).loadavg()[0]?.toFixed(1)}; head only (features in, logits out), batch 1`,
  '',
  '| size | head | trainable params (M) | + over fcn (M) | GFLOPs | + over fcn | of which EM | peak MB (train step) | inference ms | train step ms |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
];
for (const r of rows) {
  const fcn = rows.find((f) => f.size === r.size && f.head === 'fcn') as Row;
  lines.push(`| ${r.size} | ${r.head} | ${(r.params / 1e6).toFixed(3)} | ${((r.params - fcn.params) / 1e6).toFixed(3)} | ${r.gflops.toPrecision(4)} | ${(r.gflops - fcn.gflops).toPrecision(3)} | ${r.emGflops.toPrecision(3)} | ${fmt(r.peakMB)} | ${fmt(r.inferenceMs, 0)} | ${fmt(r.trainStepMs, 0)} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
writeFileSync('experiments/results/table3.json', `${JSON.stringify({ backend: backend.name, date: new Date().toISOString(), rows }, null, 2)}\n`);
