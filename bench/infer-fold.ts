/**
 * Folded inference (src/infer/folded.ts) against the plain model, per head,
 * on one backend: kernels per pass (load-independent) and images/s with the
 * two variants interleaved repetition by repetition (so a load change hits
 * both alike). Batch 8, 64×64, the zoo's default models; each pass is
 * completed by reading one logit, as bench/train.ts's inference rows.
 *
 * Run: npx tsx bench/infer-fold.ts [--backend wasm] [--repeats 20] [--heads hem,fcn,ema]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/backend.js';
import { foldInference } from '../src/infer/folded.js';
import { buildSegmentationModel } from '../src/models/zoo.js';
import { format, median } from './timing.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    repeats: { type: 'string', default: '20' },
    heads: { type: 'string', default: 'hem,fcn,ema' },
  },
});
await setBackend(values.backend);
const repeats = Number(values.repeats);
console.log(`bench:infer-fold — ${new Date().toISOString()} · backend ${tf.getBackend()} · repeats ${repeats} · load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log('| head | kernels plain | kernels folded | plain img/s | folded img/s | folded ÷ plain | folds (BN / ReLU / pad) |');
console.log('|---|---:|---:|---:|---:|---:|---|');
for (const head of values.heads.split(',')) {
  const { model } = buildSegmentationModel({ head });
  const folded = foldInference(model);
  const x = tf.randomNormal([8, 64, 64, 3]) as tf.Tensor4D;
  const plain = () => tf.tidy(() => void tf.slice(model.apply(x, { training: false }) as tf.Tensor, [0, 0, 0, 0], [1, 1, 1, 1]).dataSync());
  const fused = () => tf.tidy(() => void tf.slice(folded.logits(x), [0, 0, 0, 0], [1, 1, 1, 1]).dataSync());
  for (let i = 0; i < 3; i++) {
    plain();
    fused();
  }
  const count = async (f: () => void) => (await tf.profile(f)).kernels.filter((k) => !k.name.endsWith('__op') && k.name !== 'unnamed scope').length;
  const [kPlain, kFolded] = [await count(plain), await count(fused)];
  const times = { plain: [] as number[], folded: [] as number[] };
  for (let r = 0; r < repeats; r++) {
    let start = performance.now();
    plain();
    times.plain.push(performance.now() - start);
    start = performance.now();
    fused();
    times.folded.push(performance.now() - start);
  }
  const rate = (ms: number) => 8000 / ms;
  const [p, f] = [rate(median(times.plain)), rate(median(times.folded))];
  const s = folded.summary;
  console.log(`| ${head} | ${kPlain} | ${kFolded} | ${format(p, 1)} | ${format(f, 1)} | ${format(f / p)}× | ${s.foldedBatchNorms} / ${s.fusedRelus} / ${s.foldedPaddings} |`);
  folded.dispose();
  x.dispose();
  model.dispose();
}
console.log(`load average at end ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
