/**
 * Evaluation's predicted classes on wasm, per batch of 8: `EvaluationRunner.predict`
 * (the arg-max leaves tf.tidy as a tensor, read after it) against the same
 * computation with the typed array returned from inside the tidy, as before
 * 2026-12-05 (tf.tidy walks a returned typed array element by element as a
 * tensor container). Default hem model at 64×64 and the attention-bench
 * model at 128×128; the two variants alternate call by call; medians.
 *
 * Run: npx tsx bench/eval-classes.ts [--repeats 30]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { foldInference } from '../src/infer/folded.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { EvaluationRunner, type EvaluationSettings } from '../src/train/evaluate.js';
import { attentionBench } from '../src/train/presets/attentionBench.js';
import { format, median, timeOnce } from './timing.js';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '30' } } });
const repeats = Number(values.repeats);
if (!Number.isInteger(repeats) || repeats < 3) throw new Error(`--repeats must be an integer ≥ 3, received '${values.repeats}'`);
await setBackend('wasm');
console.log(`wasm, batch 8, ${repeats} alternating repeats, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('| model | predict (tensor out of the tidy) ms | typed array out of the tidy ms | saved ms per batch |');
console.log('|---|---:|---:|---:|');

const settings: EvaluationSettings = { scales: [1], flip: false, sizeMultiple: 8, fold: true, evalIterations: null, inference: null };
const models: Array<[string, tf.LayersModel, number]> = [
  ['default hem, 64 × 64', buildSegmentationModel({ head: 'hem' }).model, 64],
  ['attention-bench hem, 128 × 128', buildSegmentationModel({ ...attentionBench.config.model, inputSize: [128, 128], head: 'hem' }).model, 128],
];
for (const [label, model, size] of models) {
  const images = tf.randomNormal([8, size, size, 3]) as tf.Tensor4D;
  const runner = await EvaluationRunner.create(model, settings);
  const folded = foldInference(model);
  const now: number[] = [];
  const before: number[] = [];
  for (let r = -3; r < repeats; r++) {
    const a = timeOnce(() => void runner.predict(images, settings));
    const b = timeOnce(() => void tf.tidy(() => tf.argMax(folded.logits(images), -1).dataSync()));
    if (r < 0) continue;
    now.push(a);
    before.push(b);
  }
  console.log(`| ${label} | ${format(median(now))} | ${format(median(before))} | ${format(median(before) - median(now))} |`);
  runner.dispose();
  folded.dispose();
  images.dispose();
  model.dispose();
}
