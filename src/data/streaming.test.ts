import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { vocColor } from './palette.js';
import { loadVocDataset } from './voc.js';
import { vocLayout } from './vocLayout.js';
import { createStreamingDataset } from './streaming.js';
import { augmentDataset } from './augment.js';
import type { SegmentationDataset, SegmentationSample } from './types.js';
import { trainSegmentation, DEFAULT_TRAIN_OPTIONS } from '../train/loop.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { useBackend } from '../../test/helpers.js';

const H = 20;
const W = 24;
const COUNT = 10;
let root = '';

function labelsFor(k: number): Uint8Array {
  const label = new Uint8Array(H * W);
  for (let y = 3; y < 15; y++) for (let x = 2 + (k % 5); x < 18; x++) label[y * W + x] = y === 3 ? 255 : 1 + (k % 4);
  return label;
}

async function writePair(folder: string, id: string, k: number): Promise<void> {
  const rgb = Buffer.alloc(H * W * 3);
  for (let p = 0; p < H * W; p++) rgb.set([(p * 7 + 30 * k) % 256, (p * 3) % 256, 20 * k], 3 * p);
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(folder, 'JPEGImages', `${id}.jpg`));
  const mask = Buffer.alloc(H * W * 3);
  labelsFor(k).forEach((v, p) => mask.set(vocColor(v), 3 * p));
  await sharp(mask, { raw: { width: W, height: H, channels: 3 } }).png({ palette: true, colours: 256, dither: 0 }).toFile(join(folder, 'SegmentationClass', `${id}.png`));
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hemnet-stream-'));
  for (const sub of ['JPEGImages', 'SegmentationClass', join('ImageSets', 'Segmentation')]) mkdirSync(join(root, sub), { recursive: true });
  const ids = Array.from({ length: COUNT }, (_, k) => `img_${k}`);
  for (const [k, id] of ids.entries()) await writePair(root, id, k);
  writeFileSync(join(root, 'ImageSets', 'Segmentation', 'train.txt'), `${ids.join('\n')}\n`);
});

after(() => rmSync(root, { recursive: true, force: true }));

test('streaming: nothing decodes up front; load equals the in-memory VOC loader, with and without augmentation', async () => {
  const layout = vocLayout(root, { split: 'train' });
  assert.equal(layout.pairs.length, COUNT);
  assert.equal(layout.name, 'voc');
  const streaming = createStreamingDataset(layout);
  assert.equal(streaming.stats().decoded, 0);
  assert.equal(streaming.size, COUNT);
  const memory = await loadVocDataset(root, { split: 'train' });
  const samples = await streaming.load(Array.from({ length: COUNT }, (_, index) => ({ index })));
  for (let i = 0; i < COUNT; i++) {
    const expected = memory.get(i);
    assert.equal(samples[i]?.id, expected.id);
    assert.deepEqual(samples[i]?.label, expected.label);
    assert.deepEqual(samples[i]?.image, expected.image);
  }
  assert.equal(streaming.stats().decoded, COUNT);
  // Once cached, `get` answers synchronously.
  assert.deepEqual(streaming.get(3).label, memory.get(3).label);

  const augment = { cropSize: [16, 16] as [number, number], scaleRange: [0.7, 1.3] as [number, number], flip: true, seed: 4 };
  const augmentedStream = createStreamingDataset(layout, { augment });
  const augmentedMemory = await loadVocDataset(root, { split: 'train', augment });
  const drawn = await augmentedStream.load([{ index: 2, epoch: 5 }, { index: 7, epoch: 1 }]);
  assert.deepEqual(drawn[0]?.label, augmentedMemory.get(2, 5).label);
  assert.deepEqual(drawn[1]?.image, augmentedMemory.get(7, 1).image);
  // augmentDataset forwards load.
  const wrapped = augmentDataset(createStreamingDataset(layout), { cropSize: 8, seed: 1 });
  assert.ok(wrapped.load !== undefined);
  const [one] = await wrapped.load([{ index: 0 }]);
  assert.equal(one?.height, 8);
});

test('streaming: the cache stays within cacheBytes and decodes again after eviction', async () => {
  const itemBytes = H * W * 3 + H * W;
  const streaming = createStreamingDataset(vocLayout(root, { split: 'train' }), { cacheBytes: 3 * itemBytes, concurrency: 2 });
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < COUNT; i += 2) await streaming.load([{ index: i }, { index: i + 1 }]);
  }
  const stats = streaming.stats();
  assert.ok(stats.peakCachedBytes <= 3 * itemBytes, `peak ${stats.peakCachedBytes} > ${3 * itemBytes}`);
  assert.ok(stats.cachedItems <= 3);
  assert.equal(stats.decoded, 3 * COUNT, 'every sample decodes again after it was evicted');
  assert.throws(() => createStreamingDataset(vocLayout(root, { split: 'train' })).get(1), /StreamingDataset\.get: sample 1 \('img_1'\) is not decoded; 'await dataset\.load\(\[\{ index: 1 \}\]\)' first/);
  await assert.rejects(streaming.load([{ index: COUNT }]), /StreamingDataset\.load: 'index' must be an integer in \[0, 9\], received 10/);
  assert.throws(() => createStreamingDataset(vocLayout(root, { split: 'train' }), { concurrency: 0 }), /'concurrency' must be an integer in \[1, 64\], received 0/);
});

test('streaming: training on the streaming dataset equals training on the in-memory one; batches are requested ahead', async () => {
  await useBackend('wasm');
  const augment = { cropSize: [16, 16] as [number, number], seed: 2 };
  const options = { ...DEFAULT_TRAIN_OPTIONS, optimizer: 'adam' as const, steps: 4, batchSize: 2, learningRate: 1e-3, checkpointEvery: 0 };
  const config = { backbone: 'compact' as const, head: 'hem' as const, numClasses: 21, inputSize: [16, 16] as [number, number], width: 4, channels: 8, outputStride: 4, hem: { numBases: 2 }, seed: 3 };
  const run = async (dataset: SegmentationDataset): Promise<number[]> => {
    const { model } = buildSegmentationModel(config);
    const result = await trainSegmentation({ model, dataset, options });
    result.optimizer.dispose();
    model.dispose();
    return result.losses;
  };
  const memory = await run(await loadVocDataset(root, { split: 'train', augment }));
  const streamed = await run(createStreamingDataset(vocLayout(root, { split: 'train' }), { augment }));
  assert.deepEqual(streamed, memory);

  // A recording dataset: by the time step s runs, batches up to s + readAhead were requested.
  const base = await loadVocDataset(root, { split: 'train', augment });
  const requested: number[] = [];
  let loads = 0;
  const recording: SegmentationDataset = {
    numClasses: base.numClasses,
    ignoreLabel: base.ignoreLabel,
    classNames: base.classNames,
    size: base.size,
    get: () => {
      throw new Error('get must not be called when load exists');
    },
    load: async (requests): Promise<SegmentationSample[]> => {
      loads++;
      requested.push(loads);
      return requests.map((r) => base.get(r.index, r.epoch));
    },
  };
  const { model } = buildSegmentationModel(config);
  const seenAtStep: number[] = [];
  await trainSegmentation({ model, dataset: recording, options: { ...options, steps: 6 }, readAhead: 2, beforeStep: () => seenAtStep.push(loads) });
  model.dispose();
  assert.equal(loads, 6, 'each batch is loaded once');
  // beforeStep(s) runs before the requests of step s: then 0, 3, 4, 5, 6, 6 loads were made.
  assert.deepEqual(seenAtStep, [0, 3, 4, 5, 6, 6]);
});
