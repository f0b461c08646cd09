/**
 * PASCAL VOC as it comes, through the CLI: a small folder in VOC's exact
 * layout (VOCdevkit/VOC2012/JPEGImages, SegmentationClass palette PNGs,
 * SegmentationClassAug grey index PNGs, ImageSets/Segmentation lists) at
 * VOC's sizes (500×375, 375×500, 500×333) with all 21 labels and 255
 * borders; `hemnet train`, `eval` and `predict` run on it in-process with a
 * tiny model, and evaluation scores every labelled pixel at the original resolution.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { main } from '../src/cli/main.js';
import type { Output } from '../src/cli/command.js';
import { vocColor, VOC_CLASS_NAMES } from '../src/data/palette.js';

const SIZES: Array<[string, number, number]> = [
  // id, height, width: VOC's common shapes
  ['2007_000032', 375, 500],
  ['2007_000033', 500, 375],
  ['2007_000039', 333, 500],
  ['2007_000042', 375, 500],
];
const TRAIN = ['2007_000032', '2007_000033'];
const VAL = ['2007_000039', '2007_000042'];

/** Objects of classes 1..20 as rectangles on background, each ringed by a 3-px 255 border as VOC draws them. */
function labelsFor(index: number, height: number, width: number): Uint8Array {
  const label = new Uint8Array(height * width);
  const classes = Array.from({ length: 10 }, (_, i) => 1 + ((index * 10 + i) % 20));
  classes.forEach((c, i) => {
    const y0 = 20 + Math.floor(i / 5) * Math.floor(height / 2.2);
    const x0 = 10 + (i % 5) * Math.floor(width / 5.2);
    const y1 = y0 + Math.floor(height / 3);
    const x1 = x0 + Math.floor(width / 7);
    for (let y = y0 - 3; y < y1 + 3; y++) {
      for (let x = x0 - 3; x < x1 + 3; x++) {
        if (y < 0 || x < 0 || y >= height || x >= width) continue;
        label[y * width + x] = y < y0 || y >= y1 || x < x0 || x >= x1 ? 255 : c;
      }
    }
  });
  return label;
}

function capture(progress?: NodeJS.WriteStream): Output & { text: () => string } {
  const out: string[] = [];
  const devNull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  return { out: (t) => out.push(t), err: (t) => out.push(t), progressStream: progress ?? devNull, text: () => out.join('') };
}

describe('PASCAL VOC layout through the CLI, at the original resolution', () => {
  let dir: string;
  let root: string;
  let labelledValPixels = 0;
  const seen = new Set<number>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hemnet-voc-cli-'));
    root = join(dir, 'VOCdevkit', 'VOC2012');
    for (const sub of ['JPEGImages', 'SegmentationClass', 'SegmentationClassAug', join('ImageSets', 'Segmentation')]) mkdirSync(join(root, sub), { recursive: true });
    for (const [index, [id, height, width]] of SIZES.entries()) {
      const label = labelsFor(index, height, width);
      const colours = Buffer.alloc(height * width * 3);
      const rgb = Buffer.alloc(height * width * 3);
      label.forEach((v, p) => {
        seen.add(v);
        colours.set(vocColor(v), 3 * p);
        // The photo: a colour per class plus texture, so the classes are visible.
        const [r, g, b] = v === 255 ? [250, 250, 250] : vocColor(v);
        rgb.set([(r + (p % 7) * 3) % 256, (g + (p % 5) * 5) % 256, (b + (p % 3) * 7) % 256], 3 * p);
      });
      if (VAL.includes(id)) labelledValPixels += label.filter((v) => v !== 255).length;
      await sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(root, 'JPEGImages', `${id}.jpg`));
      await sharp(colours, { raw: { width, height, channels: 3 } }).png({ palette: true, colours: 256, dither: 0 }).toFile(join(root, 'SegmentationClass', `${id}.png`));
      await sharp(Buffer.from(label), { raw: { width, height, channels: 1 } }).png().toFile(join(root, 'SegmentationClassAug', `${id}.png`));
    }
    const lists = join(root, 'ImageSets', 'Segmentation');
    await writeFile(join(lists, 'train.txt'), `${TRAIN.join('\n')}\n`);
    await writeFile(join(lists, 'val.txt'), `${VAL.join('\n')}\n`);
    await writeFile(join(lists, 'train_aug.txt'), `${TRAIN.join('\n')}\n`);
  });

  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const TINY = ['--crop-size', '64', '--width', '8', '--channels', '16', '--num-bases', '4', '--steps', '2', '--batch-size', '2', '--checkpoint-every', '0', '--backend', 'wasm'];

  it('the test folder holds all 21 labels and 255 borders', () => {
    for (let c = 0; c <= 20; c++) assert.ok(seen.has(c), `label ${c}`);
    assert.ok(seen.has(255));
  });

  it('trains with VOC defaults (21 classes), evaluates whole images at their own size, writes segmenter.json', async () => {
    const run = join(dir, 'run');
    const io = capture();
    assert.equal(await main(['train', '--data', 'voc', '--voc-root', root, '--out', run, ...TINY], io), 0);
    assert.match(io.text(), /voc 2 train \/ 2 val · 2 steps of 2/);
    assert.match(io.text(), /aeroplane:/);
    const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8')) as { model: { numClasses: number; inputSize: number[] }; train: { optimizer: string; learningRate: number }; data: { augmentScale: number[]; flip: boolean }; eval: { mode: string } };
    assert.equal(config.model.numClasses, 21);
    assert.deepEqual(config.model.inputSize, [64, 64], 'the crop size is the model input');
    assert.equal(config.train.optimizer, 'sgd');
    assert.equal(config.train.learningRate, 9e-3);
    assert.deepEqual(config.data.augmentScale, [0.5, 2]);
    assert.equal(config.eval.mode, 'auto');
    const metrics = JSON.parse(await readFile(join(run, 'metrics.json'), 'utf8')) as { matrix: number[][] };
    assert.equal(metrics.matrix.length, 21);
    const scored = metrics.matrix.flat().reduce((a, b) => a + b, 0);
    assert.equal(scored, labelledValPixels, 'every labelled pixel of the 500×333 and 500×375 images is scored (255 ignored)');
    const segmenter = JSON.parse(await readFile(join(run, 'model', 'segmenter.json'), 'utf8')) as { classNames: string[]; mean: number[]; inputSize: number[] };
    assert.deepEqual(segmenter.classNames, VOC_CLASS_NAMES);
    assert.deepEqual(segmenter.mean, [0.485, 0.456, 0.406]);
    assert.deepEqual(segmenter.inputSize, [64, 64]);

    // Sliding-window evaluation of the same run: the same pixels scored.
    const evalIo = capture();
    assert.equal(await main(['eval', '--run', run, '--eval-mode', 'slide', '--eval-crop-size', '64', '--eval-stride', '48', '--backend', 'wasm'], evalIo), 0);
    assert.match(evalIo.text(), /mIoU \d+\.\d\d .*\(2 images\)/);

    // predict keeps the photo's size.
    const out = join(dir, 'predict');
    const predictIo = capture();
    const photo = join(root, 'JPEGImages', '2007_000033.jpg');
    assert.equal(await main(['predict', '--run', run, '--images', photo, '--out', out, '--backend', 'wasm'], predictIo), 0);
    assert.match(predictIo.text(), /2007_000033\.jpg: 375×500, whole inference/);
    for (const name of ['2007_000033-mask.png', '2007_000033-overlay.png']) {
      const meta = await sharp(join(out, name)).metadata();
      assert.deepEqual([meta.width, meta.height], [375, 500], name);
    }
    const slide = join(dir, 'predict-slide');
    const slideIo = capture();
    assert.equal(await main(['predict', '--run', run, '--images', photo, '--out', slide, '--eval-mode', 'slide', '--backend', 'wasm'], slideIo), 0);
    assert.match(slideIo.text(), /2007_000033\.jpg: 375×500, slide inference/);
    const slideMeta = await sharp(join(slide, '2007_000033-mask.png')).metadata();
    assert.deepEqual([slideMeta.width, slideMeta.height], [375, 500]);
  });

  it('reads SegmentationClassAug index masks and split names from flags; --quiet draws no progress', async () => {
    const run = join(dir, 'run-aug');
    const lines: string[] = [];
    const tty = { isTTY: true, columns: 80, write: (t: string) => lines.push(t) > 0 } as unknown as NodeJS.WriteStream;
    const io = capture(tty);
    const args = ['train', '--data', 'voc', '--voc-root', root, '--mask-format', 'index', '--train-split', 'train_aug', '--val-split', 'val', '--eval-limit', '1', '--out', run, ...TINY];
    assert.equal(await main([...args, '--quiet'], io), 0);
    assert.deepEqual(lines, []);
    assert.match(io.text(), /mIoU \d+\.\d\d .*\(1 images\)/);
    // Wrong class count for the data: the loader names the label and the flag's value.
    await assert.rejects(main([...args, '--overwrite', '--num-classes', '10'], capture()), /label 1\d at pixel \(\d+, \d+\), outside \[0, 9\] for 10 classes/);
    await assert.rejects(main([...args, '--overwrite', '--class-names', 'a,b'], capture()), /'data.classNames' must have 'model.numClasses' = 21 names, received 2/);
  });
});
