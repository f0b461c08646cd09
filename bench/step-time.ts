/**
 * The wasm step times of the default hem model, one process, no peer: a
 * training step through `trainSegmentation` at batch 8 and at a worker's
 * shard of 4 (fastest of 8 calls of 4 steps, after 2 untimed), and folded
 * inference of a batch of 8 (fastest of 50 passes). Short enough to run
 * alternately in two checkouts (a `git worktree` of an earlier commit and
 * this one), so that a change's gain is measured under the same load:
 *
 *   git worktree add /tmp/before <commit> && ln -s $PWD/node_modules /tmp/before/node_modules
 *   for i in 1 2 3; do (cd /tmp/before && npx tsx bench/step-time.ts); npx tsx bench/step-time.ts; done
 *
 * (bench/step-time.ts must exist in the earlier checkout too: copy it there.)
 */
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { foldInference } from '../src/infer/folded.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { trainLoopStepper } from './trainStep.js';

await setBackend('wasm');
const parts: string[] = [];
for (const batch of [8, 4]) {
  const stepper = trainLoopStepper('hem', batch, 64, 4);
  const times: number[] = [];
  for (let r = 0; r < 10; r++) {
    const ms = await stepper.step();
    if (r >= 2) times.push(ms);
  }
  stepper.dispose();
  parts.push(`train b${batch} ${Math.min(...times).toFixed(2)} ms`);
}
const { model } = buildSegmentationModel({ head: 'hem' });
const folded = foldInference(model);
const x = tf.randomNormal([8, 64, 64, 3]) as tf.Tensor4D;
const passes: number[] = [];
for (let r = 0; r < 60; r++) {
  const start = performance.now();
  tf.tidy(() => {
    tf.slice(folded.logits(x), [0, 0, 0, 0], [1, 1, 1, 1]).dataSync();
  });
  if (r >= 10) passes.push(performance.now() - start);
}
parts.push(`infer b8 ${Math.min(...passes).toFixed(2)} ms`);
folded.dispose();
x.dispose();
model.dispose();
console.log(`${new Date().toISOString()} ${process.cwd()}: ${parts.join(' | ')}`);
