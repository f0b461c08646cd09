/**
 * The extension points work end to end: a toy head, backbone, dataset and optimizer,
 * registered from outside the library (as docs/design.md shows), train and
 * evaluate through the CLI (`main([...])`), and appear in help and in
 * the error messages that list registered names.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { main } from '../src/cli/main.js';
import type { Output } from '../src/cli/command.js';
import { DATASETS, type DatasetSpec } from '../src/data/registry.js';
import type { SegmentationDataset, SegmentationSample } from '../src/data/types.js';
import { BilinearUpsample } from '../src/layers/resize.js';
import { BACKBONES, type BackboneSpec } from '../src/models/backbones.js';
import { convBnRelu, SeedSequence } from '../src/models/builders.js';
import { HEADS, type HeadSpec } from '../src/models/heads.js';
import { OPTIMIZERS, type OptimizerSpec } from '../src/train/optimizer.js';

/** Features → 1×1 classifier → bilinear ×OS: the smallest head there is. */
const toyHead: HeadSpec = {
  name: 'toy-linear',
  summary: 'a 1×1 classifier on the backbone features (test only)',
  hemPreset: null,
  build: (features, options) => {
    const logits = tf.layers.conv2d({ name: 'toy/classifier', filters: options.numClasses, kernelSize: 1 }).apply(features) as tf.SymbolicTensor;
    return { logits: new BilinearUpsample({ name: 'toy/logits', factor: options.upsample }).apply(logits) as tf.SymbolicTensor, hemHead: null };
  },
};

/** Two strided 3×3 convs: OS 4. */
const toyBackbone: BackboneSpec = {
  name: 'toy-two-conv',
  summary: 'two strided convs (test only)',
  outputStrides: [4],
  build: (input, { width, seed }) => {
    const seeds = new SeedSequence(seed, 'backbone');
    const a = convBnRelu(input, 'backbone/stem', { filters: width, kernelSize: 3, strides: 2 }, seeds);
    const b = convBnRelu(a, 'backbone/stage2', { filters: 2 * width, kernelSize: 3, strides: 2 }, seeds);
    return { features: b, stage3: b, outputStride: 4 };
  },
};

/** Plain SGD (tfjs's SGDOptimizer already has setLearningRate). */
const toyOptimizer: OptimizerSpec = { name: 'plain-sgd', summary: 'SGD without momentum (test only)', className: 'SGD', create: (lr) => tf.train.sgd(lr) };

const SIDE = 16;
const MEAN = [0.4, 0.4, 0.4];
const STD = [0.25, 0.25, 0.25];
const PALETTE: [number, number, number][] = [[250, 10, 10], [10, 250, 10], [10, 10, 250]];

/** Vertical stripes: class = column band (3 bands), the image shows the band by its brightness. */
function stripes(size: number, offset: number): SegmentationDataset {
  return {
    numClasses: 3,
    ignoreLabel: 255,
    classNames: ['left', 'middle', 'right'],
    size,
    get: (index: number): SegmentationSample => {
      const image = new Float32Array(SIDE * SIDE * 3);
      const label = new Uint8Array(SIDE * SIDE);
      for (let y = 0; y < SIDE; y++) {
        for (let x = 0; x < SIDE; x++) {
          const band = Math.min(2, Math.floor(((x + index + offset) % SIDE) / (SIDE / 3)));
          label[y * SIDE + x] = band;
          for (let c = 0; c < 3; c++) image[(y * SIDE + x) * 3 + c] = (band / 2 - (MEAN[c] as number)) / (STD[c] as number);
        }
      }
      return { image, label, height: SIDE, width: SIDE, channels: 3, id: `stripes-${index}` };
    },
  };
}

const toyDataset: DatasetSpec = {
  name: 'toy-stripes',
  summary: 'three vertical bands (test only)',
  metadata: () => ({ numClasses: 3, classNames: ['left', 'middle', 'right'], ignoreLabel: 255, mean: MEAN, std: STD, palette: (c) => PALETTE[c] ?? [0, 0, 0] }),
  check: ({ model }, where) => {
    if (model.numClasses !== 3) throw new Error(`${where}: 'model.numClasses' must be 3 for 'toy-stripes', received ${model.numClasses}`);
  },
  create: async ({ data }, which) => ({ train: stripes(which === 'both' ? data.trainSize : 4, 0), val: stripes(4, 5) }),
};

function capture(): Output & { text: () => string } {
  const out: string[] = [];
  const devNull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  return { out: (t) => out.push(t), err: (t) => out.push(t), progressStream: devNull, text: () => out.join('') };
}

describe('registering a head, a backbone, a dataset and an optimizer', () => {
  it('trains them for a few steps through the CLI, resumes and evaluates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-extension-'));
    HEADS.register(toyHead);
    DATASETS.register(toyDataset);
    BACKBONES.register(toyBackbone);
    OPTIMIZERS.register(toyOptimizer);
    try {
      const help = capture();
      assert.equal(await main(['train', '--help'], help), 0);
      assert.match(help.text(), /--head S .*\[now: hem \| ema \| fcn \| toy-linear\]/);
      assert.match(help.text(), /--data S .*\[now: scenes \| voc \| cityscapes \| ade20k \| folder \| toy-stripes\]/);

      const configPath = join(dir, 'run.json');
      await writeFile(configPath, JSON.stringify({ model: { numClasses: 3 } }));
      const run = join(dir, 'run');
      const io = capture();
      const args = ['train', '--config', configPath, '--out', run, '--data', 'toy-stripes', '--head', 'toy-linear', '--canvas-size', String(SIDE),
        '--train-size', '8', '--steps', '3', '--batch-size', '2', '--width', '4', '--backend', 'wasm', '--checkpoint-every', '2',
        '--backbone', 'toy-two-conv', '--output-stride', '4', '--optimizer', 'plain-sgd', '--lr', '0.05'];
      assert.equal(await main(args, io), 0);
      assert.match(io.text(), /model hemnet_toy-two-conv_toy-linear: [\d,]+ trainable parameters · toy-stripes 8 train \/ 4 val · 3 steps of 2/);
      // The checkpoint names the toy optimizer, and resuming restores it by that name.
      const manifests = (await readdir(join(run, 'checkpoints'))).filter((f) => /^step-\d+\.json$/.test(f)).sort();
      const manifest = JSON.parse(await readFile(join(run, 'checkpoints', manifests[manifests.length - 1] as string), 'utf8')) as { step: number; optimizer: { kind: string } };
      assert.deepEqual([manifest.step, manifest.optimizer.kind], [3, 'plain-sgd']);
      const resumed = capture();
      assert.equal(await main(['train', '--out', run, '--resume', '--steps', '4', '--backend', 'wasm'], resumed), 0);
      assert.match(resumed.text(), /resuming at step 3/);
      // The class names come from the dataset.
      assert.match(io.text(), /per-class IoU {2}left:[\d.—]+ {2}middle:[\d.—]+ {2}right:/);
      const metrics = JSON.parse(await readFile(join(run, 'metrics.json'), 'utf8')) as { matrix: number[][] };
      assert.equal(metrics.matrix.length, 3);
      const steps = (await readFile(join(run, 'train-log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number }).filter((e) => e.type === 'step');
      assert.deepEqual(steps.map((e) => e.step), [1, 2, 3, 4]);
      assert.ok(existsSync(join(run, 'predictions.png')) && existsSync(join(run, 'model', 'model.json')));
      assert.ok(!existsSync(join(run, 'attention.png')), 'a head without HemHead draws no attention maps');
      // The saved run reloads (eval goes through the dataset registry again).
      const evalIo = capture();
      assert.equal(await main(['eval', '--run', run, '--backend', 'wasm'], evalIo), 0);
      assert.match(evalIo.text(), /mIoU \d+\.\d\d .*\(4 images\)/);
      // predict draws masks in the dataset's palette.
      assert.equal(await main(['predict', '--run', run, '--out', join(dir, 'predict'), '--count', '1', '--backend', 'wasm'], capture()), 0);
      const { data, info } = await sharp(join(dir, 'predict', 'stripes-0-mask.png')).raw().toBuffer({ resolveWithObject: true });
      const colours = new Set<string>();
      for (let i = 0; i < data.length; i += info.channels) colours.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
      for (const colour of colours) assert.ok(PALETTE.some((p) => p.join(',') === colour), `mask colour ${colour} is not in the dataset's palette`);

      // The dataset's own check runs on the merged config; unknown names list the registered ones.
      await assert.rejects(main(['train', '--out', join(dir, 'bad'), '--data', 'toy-stripes', '--canvas-size', '16'], capture()), /flags: 'model\.numClasses' must be 3 for 'toy-stripes', received 11/);
      await assert.rejects(main(['train', '--out', join(dir, 'bad'), '--head', 'nope'], capture()), /'head' must be one of 'hem', 'ema', 'fcn', 'toy-linear', received 'nope'/);
      await assert.rejects(main(['train', '--out', join(dir, 'bad'), '--backbone', 'toy-two-conv', '--output-stride', '8'], capture()), /flags: 'outputStride' must be one of 4, received 8/);
      assert.throws(() => HEADS.register(toyHead), /Registry\(head\)\.register: 'toy-linear' is already registered/);
    } finally {
      HEADS.unregister(toyHead.name);
      DATASETS.unregister(toyDataset.name);
      BACKBONES.unregister(toyBackbone.name);
      OPTIMIZERS.unregister(toyOptimizer.name);
      await rm(dir, { recursive: true, force: true });
    }
    assert.throws(() => HEADS.get('toy-linear', 'buildSegmentationModel'), /^Error: buildSegmentationModel: unknown head 'toy-linear' \(registered: hem, ema, fcn\)$/);
  });
});
