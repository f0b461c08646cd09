/**
 * What a training batch of the built-in scenes costs to make (the data
 * worker's share of a step of `npm start`), on a first visit of each scene
 * and once the split's scene cache holds it (src/data/builtinDatasets.ts,
 * `SCENE_CACHE_BYTES`): the default run's training split, batches of 8,
 * drawn in the loop's order (`batchIndices`), augmentation included.
 *
 * It runs the built library (dist/, through the package's own exports):
 * tsx's transform adds a call per closure created, which makes the scene
 * drawing look about twice as slow as it is. Build first.
 *
 * Run: npm run build && npx tsx bench/data-prep.ts [--steps 1000]
 */
import { parseArgs } from 'node:util';
import { batchIndices, batchSamples, defaultRunConfig } from 'hemnet';
import { scenesDataset } from 'hemnet/node';
import { format } from './timing.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '1000' } } });
const steps = Number(values.steps);
const config = defaultRunConfig();
const { batchSize } = config.train;
const { train } = await scenesDataset.create(config, 'both');
const firstEpoch = Math.ceil(train.size / batchSize);
if (!(steps > firstEpoch)) throw new Error(`bench:data-prep: --steps must exceed one epoch (${firstEpoch} steps of ${batchSize} over ${train.size} scenes), received ${values.steps}`);
const batchMs = (from: number, to: number): number => {
  const start = performance.now();
  for (let step = from; step < to; step++) {
    const { indices, epochs } = batchIndices(step, batchSize, train.size, config.train.seed);
    batchSamples(indices.map((index, i) => train.get(index, epochs[i])));
  }
  return (performance.now() - start) / (to - from);
};
const drawn = batchMs(0, firstEpoch);
const cached = batchMs(firstEpoch, steps);
console.log(`bench:data-prep — ${new Date().toISOString()} · default run's training split: ${train.size} scenes, batch ${batchSize}`);
console.log(`steps 0–${firstEpoch - 1} (each scene drawn once): ${format(drawn, 2)} ms per batch`);
console.log(`steps ${firstEpoch}–${steps - 1} (from the scene cache, augmentation still per batch): ${format(cached, 2)} ms per batch`);
console.log(`drawn ÷ cached: ${format(drawn / cached, 1)}× · resident memory ${format(process.memoryUsage().rss / 1e6, 0)} MB`);
