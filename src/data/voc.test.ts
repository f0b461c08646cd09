import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { IMAGENET_MEAN, IMAGENET_STD } from './augment.js';
import { vocColor, vocColorsToLabels } from './palette.js';
import { loadVocDataset } from './voc.js';

const H = 12;
const W = 16;
let root = '';

/** Label map of id k: class k+1 square in the middle, a 255 border ring around it, background elsewhere. */
function labelsFor(k: number): Uint8Array {
  const label = new Uint8Array(H * W);
  for (let y = 2; y < 10; y++) {
    for (let x = 3; x < 13; x++) label[y * W + x] = y === 2 || y === 9 || x === 3 || x === 12 ? 255 : k + 1;
  }
  return label;
}

function colorMask(label: Uint8Array, height = H, width = W): Buffer {
  const rgb = Buffer.alloc(height * width * 3);
  label.forEach((v, p) => rgb.set(vocColor(v), 3 * p));
  return rgb;
}

async function writeMask(path: string, label: Uint8Array, height = H, width = W): Promise<void> {
  await sharp(colorMask(label, height, width), { raw: { width, height, channels: 3 } })
    .png({ palette: true, colours: 256, dither: 0 })
    .toFile(path);
}

async function writeImage(path: string, k: number, height = H, width = W): Promise<void> {
  const rgb = Buffer.alloc(height * width * 3, 40 + 60 * k);
  await sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).toFile(path);
}

async function makeVoc(folder: string): Promise<void> {
  for (const sub of ['JPEGImages', 'SegmentationClass', join('ImageSets', 'Segmentation')]) mkdirSync(join(folder, sub), { recursive: true });
  const ids = ['2007_000001', '2007_000002', '2007_000003'];
  for (const [k, id] of ids.entries()) {
    await writeImage(join(folder, 'JPEGImages', `${id}.jpg`), k);
    await writeMask(join(folder, 'SegmentationClass', `${id}.png`), labelsFor(k));
  }
  writeFileSync(join(folder, 'ImageSets', 'Segmentation', 'train.txt'), `${ids[0]}\n${ids[1]}\n`);
  writeFileSync(join(folder, 'ImageSets', 'Segmentation', 'val.txt'), `${ids[2]}\n`);
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hemnet-voc-'));
  await makeVoc(root);
});

after(() => rmSync(root, { recursive: true, force: true }));

test('voc: the palette masks written by the test are real palette PNGs and round-trip', async () => {
  const path = join(root, 'SegmentationClass', '2007_000002.png');
  const meta = await sharp(path).metadata();
  assert.equal(meta.isPalette, true);
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  const { labels, unknownAt } = vocColorsToLabels(new Uint8Array(data), info.channels);
  assert.equal(unknownAt, -1);
  assert.deepEqual(labels, labelsFor(1));
});

test('voc: loads splits with labels, ignore border and ImageNet normalisation', async () => {
  const train = await loadVocDataset(root, { split: 'train' });
  const val = await loadVocDataset(root, { split: 'val' });
  assert.equal(train.size, 2);
  assert.equal(val.size, 1);
  assert.deepEqual(train.ids, ['2007_000001', '2007_000002']);
  assert.equal(train.numClasses, 21);
  assert.equal(train.classNames[15], 'person');
  const s = train.get(1);
  assert.equal(s.id, '2007_000002');
  assert.equal(s.height, H);
  assert.equal(s.width, W);
  assert.equal(s.channels, 3);
  assert.deepEqual(s.label, labelsFor(1));
  // Flat grey 100 (JPEG keeps flat colour within a level or two) normalised per channel.
  for (let c = 0; c < 3; c++) {
    const expected = (100 / 255 - (IMAGENET_MEAN[c] as number)) / (IMAGENET_STD[c] as number);
    assert.ok(Math.abs((s.image[c] as number) - expected) < 0.05, `channel ${c}: ${s.image[c]} vs ${expected}`);
  }
  assert.deepEqual(val.get(0).label, labelsFor(2));
});

test('voc: augmentation and maxSide', async () => {
  const data = await loadVocDataset(root, { split: 'train', augment: { cropSize: [8, 8], scaleRange: [0.5, 1.5], flip: true, seed: 1 } });
  const a = data.get(0, 3);
  assert.equal(a.height, 8);
  assert.equal(a.width, 8);
  assert.deepEqual(a.label, data.get(0, 3).label);
  for (const v of a.label) assert.ok(v === 0 || v === 1 || v === 255);
  const small = await loadVocDataset(root, { split: 'train', maxSide: 8, limit: 1 });
  assert.equal(small.size, 1);
  assert.equal(small.get(0).width, 8);
  assert.equal(small.get(0).height, 6);
});

test('voc: clear errors for missing files, mismatched sizes, unknown colours and labels out of range', async () => {
  await assert.rejects(loadVocDataset(join(root, 'nope'), { split: 'train' }), /loadVocDataset: folder '.*nope' does not exist/);
  await assert.rejects(loadVocDataset(root, { split: 'test' }), /loadVocDataset: split list '.*test\.txt' does not exist/);
  await assert.rejects(loadVocDataset(root, { split: 'train', numClasses: 2 }), /mask of id '2007_000002' has label 2 at pixel \(3, 4\), outside \[0, 1\] for numClasses 2/);
  await assert.rejects(loadVocDataset(root, { split: 'train', numClasses: 2, classNames: ['a'] }), /'classNames' must have numClasses = 2 names, received 1/);
  await assert.rejects(loadVocDataset(root, { split: 'train', shuffle: true } as never), /unknown option 'shuffle'/);

  const bad = mkdtempSync(join(tmpdir(), 'hemnet-voc-bad-'));
  try {
    await makeVoc(bad);
    const list = join(bad, 'ImageSets', 'Segmentation', 'train.txt');
    writeFileSync(list, 'missing\n');
    await assert.rejects(loadVocDataset(bad, { split: 'train' }), /loadVocDataset: image '.*JPEGImages[/\\]missing\.jpg' does not exist/);
    // Size mismatch.
    await writeImage(join(bad, 'JPEGImages', 'wide.jpg'), 0, H, W + 2);
    await writeMask(join(bad, 'SegmentationClass', 'wide.png'), labelsFor(0));
    writeFileSync(list, 'wide\n');
    await assert.rejects(loadVocDataset(bad, { split: 'train' }), /image 'wide' is 12×18 but its mask is 12×16 \(height×width\)/);
    // Colour outside the VOC map (an RGB PNG).
    await writeImage(join(bad, 'JPEGImages', 'odd.jpg'), 0);
    const rgb = colorMask(labelsFor(0));
    rgb.set([1, 2, 3], 3 * (5 * W + 6));
    await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(join(bad, 'SegmentationClass', 'odd.png'));
    writeFileSync(list, 'odd\n');
    await assert.rejects(loadVocDataset(bad, { split: 'train' }), /mask '.*odd\.png' of id 'odd' has colour \(1, 2, 3\) at pixel \(5, 6\), which is not in the VOC colour map/);
    // Unreadable image.
    writeFileSync(join(bad, 'JPEGImages', 'junk.jpg'), 'not a jpeg');
    await writeMask(join(bad, 'SegmentationClass', 'junk.png'), labelsFor(0));
    writeFileSync(list, 'junk\n');
    await assert.rejects(loadVocDataset(bad, { split: 'train' }), /cannot decode image '.*junk\.jpg' of id 'junk'/);
    // RGB (non-palette) masks with exact VOC colours are accepted.
    const plain = colorMask(labelsFor(1));
    await sharp(plain, { raw: { width: W, height: H, channels: 3 } }).png().toFile(join(bad, 'SegmentationClass', 'odd.png'));
    writeFileSync(list, 'odd\n');
    assert.deepEqual((await loadVocDataset(bad, { split: 'train' })).get(0).label, labelsFor(1));
    // Grey masks holding class indices directly (maskFormat 'index').
    await sharp(Buffer.from(labelsFor(2)), { raw: { width: W, height: H, channels: 1 } }).png().toFile(join(bad, 'SegmentationClass', 'odd.png'));
    assert.deepEqual((await loadVocDataset(bad, { split: 'train', maskFormat: 'index' })).get(0).label, labelsFor(2));
  } finally {
    rmSync(bad, { recursive: true, force: true });
  }
});
