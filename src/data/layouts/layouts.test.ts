/**
 * The dataset layouts on small folders written here in each exact layout
 * (a few 4×3 images): listing, class lookups, the errors, and one sample
 * decoded with sharp through the layout's mask encoding.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import type { DatasetLayout } from '../pairs.js';
import { ade20kLayout, ADE20K_CLASS_NAMES, ADE20K_PALETTE, ade20kLookup } from './ade20k.js';
import { cityscapesLayout, cityscapesLabelIdLookup, CITYSCAPES_CLASS_NAMES, CITYSCAPES_PALETTE } from './cityscapes.js';
import { folderLayout, parseClassList } from './folder.js';

const W = 4;
const H = 3;

async function writeGrey(path: string, values: readonly number[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await sharp(Buffer.from(values), { raw: { width: W, height: H, channels: 1 } }).png().toFile(path);
}

async function writeRgb(path: string, fill: number, format: 'png' | 'jpeg' = 'png'): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const image = sharp(Buffer.alloc(W * H * 3, fill), { raw: { width: W, height: H, channels: 3 } });
  await (format === 'png' ? image.png() : image.jpeg()).toFile(path);
}

async function writeColorMask(path: string, colors: readonly (readonly [number, number, number])[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await sharp(Buffer.from(colors.flat()), { raw: { width: W, height: H, channels: 3 } }).png().toFile(path);
}

/** Decodes a pair's mask with sharp and applies the layout's encoding (what a reader does). */
async function decodeLabels(layout: DatasetLayout, index: number): Promise<number[]> {
  const pair = layout.pairs[index];
  assert.ok(pair !== undefined);
  const { data, info } = await sharp(pair.maskPath).raw().toBuffer({ resolveWithObject: true });
  const labels: number[] = [];
  for (let p = 0; p < info.width * info.height; p++) {
    const at = p * info.channels;
    if (layout.mask.kind === 'index') {
      const v = data[at] as number;
      labels.push(layout.mask.lookup === undefined ? v : (layout.mask.lookup[v] as number));
    } else {
      const rgb = [data[at], data[at + 1], data[at + 2]].join(',');
      const found = layout.mask.palette.findIndex((c) => c.join(',') === rgb);
      assert.ok(found >= 0, `colour ${rgb} not in the palette`);
      labels.push(found);
    }
  }
  return labels;
}

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hemnet-layouts-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('cityscapesLayout', () => {
  // label ids: 7 road → 0, 26 car → 13, 33 bicycle → 18, 0 unlabeled / 9 parking / 4 static → 255
  const labelIds = [7, 7, 26, 33, 0, 9, 4, 24, 23, 11, 21, 255];
  const trainIds = [0, 0, 13, 18, 255, 255, 255, 11, 10, 2, 8, 255];
  let dir = '';
  before(async () => {
    dir = join(root, 'cityscapes');
    for (const [split, city, frames] of [['train', 'aachen', ['000000_000019', '000001_000019']], ['train', 'bremen', ['000002_000019']], ['val', 'frankfurt', ['000000_000294']]] as const) {
      for (const frame of frames) {
        const stem = `${city}_${frame}`;
        await writeRgb(join(dir, 'leftImg8bit', split, city, `${stem}_leftImg8bit.png`), 100);
        await writeGrey(join(dir, 'gtFine', split, city, `${stem}_gtFine_labelIds.png`), labelIds);
        await writeGrey(join(dir, 'gtFine', split, city, `${stem}_gtFine_labelTrainIds.png`), trainIds);
        await writeColorMask(join(dir, 'gtFine', split, city, `${stem}_gtFine_color.png`), Array(W * H).fill([1, 2, 3]));
        await writeFile(join(dir, 'gtFine', split, city, `${stem}_gtFine_polygons.json`), '{}');
      }
    }
  });

  it('lists every city of a split, pairs by frame, maps label ids to the 19 train ids', async () => {
    const layout = await cityscapesLayout(dir, { split: 'train' });
    assert.equal(layout.name, 'cityscapes');
    assert.deepEqual(layout.pairs.map((p) => p.id), ['aachen_000000_000019', 'aachen_000001_000019', 'bremen_000002_000019']);
    assert.match(layout.pairs[2]?.maskPath ?? '', /gtFine\/train\/bremen\/bremen_000002_000019_gtFine_labelIds\.png$/);
    assert.equal(layout.numClasses, 19);
    assert.deepEqual(layout.classNames, CITYSCAPES_CLASS_NAMES);
    assert.equal(layout.classNames[13], 'car');
    assert.deepEqual(CITYSCAPES_PALETTE[0], [128, 64, 128]);
    assert.equal(layout.palette.length, 19);
    assert.equal(layout.ignoreLabel, 255);
    assert.deepEqual(await decodeLabels(layout, 0), trainIds);
    const val = await cityscapesLayout(dir, { split: 'val' });
    assert.deepEqual(val.pairs.map((p) => p.id), ['frankfurt_000000_000294']);
  });

  it('the lookup: exactly 19 ids map to train ids 0..18, everything else to 255', () => {
    const lookup = cityscapesLabelIdLookup();
    const mapped = [...lookup.entries()].filter(([, v]) => v !== 255);
    assert.deepEqual(mapped.map(([, v]) => v), Array.from({ length: 19 }, (_, i) => i));
    assert.deepEqual(mapped.map(([id]) => id), [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]);
  });

  it("labels: 'trainIds' reads the *_labelTrainIds masks", async () => {
    const layout = await cityscapesLayout(dir, { split: 'train', labels: 'trainIds' });
    assert.match(layout.pairs[0]?.maskPath ?? '', /_gtFine_labelTrainIds\.png$/);
    assert.deepEqual(await decodeLabels(layout, 0), trainIds);
  });

  it('errors: missing folders, unknown split, unmatched image or mask', async () => {
    await assert.rejects(cityscapesLayout(join(root, 'nowhere'), { split: 'train' }), /cityscapesLayout: folder '.*nowhere\/leftImg8bit' does not exist \(expected Cityscapes' leftImg8bit\/<split>\/<city>\/\*_leftImg8bit\.png\)/);
    await assert.rejects(cityscapesLayout(dir, { split: 'test' }), /cityscapesLayout: unknown split "test" \(splits in '.*leftImg8bit': 'train', 'val'\)/);
    await assert.rejects(cityscapesLayout(dir, { split: 'train', labels: 'ids' as 'trainIds' }), /cityscapesLayout: 'labels' must be 'labelIds' or 'trainIds', received "ids"/);
    const broken = join(root, 'cityscapes-broken');
    await writeRgb(join(broken, 'leftImg8bit', 'val', 'lindau', 'lindau_000000_000019_leftImg8bit.png'), 5);
    await writeRgb(join(broken, 'leftImg8bit', 'val', 'lindau', 'lindau_000001_000019_leftImg8bit.png'), 5);
    await writeGrey(join(broken, 'gtFine', 'val', 'lindau', 'lindau_000000_000019_gtFine_labelIds.png'), labelIds);
    await assert.rejects(cityscapesLayout(broken, { split: 'val' }), /cityscapesLayout: 1 image\(s\) in '.*leftImg8bit\/val' have no mask: 'lindau_000001_000019' \(expected e\.g\. '.*gtFine\/val\/lindau\/lindau_000001_000019_gtFine_labelIds\.png'\)/);
    await writeGrey(join(broken, 'gtFine', 'val', 'lindau', 'lindau_000001_000019_gtFine_labelIds.png'), labelIds);
    await writeGrey(join(broken, 'gtFine', 'val', 'lindau', 'lindau_000009_000019_gtFine_labelIds.png'), labelIds);
    await assert.rejects(cityscapesLayout(broken, { split: 'val' }), /cityscapesLayout: 1 mask\(s\) in '.*gtFine\/val' have no image: 'lindau_000009_000019'/);
    await mkdir(join(broken, 'leftImg8bit', 'train'), { recursive: true });
    await assert.rejects(cityscapesLayout(broken, { split: 'train' }), /cityscapesLayout: folder '.*gtFine\/train' does not exist \(expected the masks of split 'train'\)/);
  });
});

describe('ade20kLayout', () => {
  // 0 → ignore, v → v − 1; 151 and above are not classes
  const values = [0, 1, 2, 150, 13, 13, 0, 151, 255, 3, 4, 5];
  const expected = [255, 0, 1, 149, 12, 12, 255, 255, 255, 2, 3, 4];
  let parent = '';
  before(async () => {
    parent = join(root, 'ade');
    const base = join(parent, 'ADEChallengeData2016');
    for (const [split, ids] of [['training', ['00000001', '00000002']], ['validation', ['00000001']]] as const) {
      for (const id of ids) {
        const stem = `ADE_${split === 'training' ? 'train' : 'val'}_${id}`;
        await writeRgb(join(base, 'images', split, `${stem}.jpg`), 128, 'jpeg');
        await writeGrey(join(base, 'annotations', split, `${stem}.png`), values);
      }
    }
  });

  it('accepts the parent or the ADEChallengeData2016 folder, train/training and val/validation; 0 → ignore, v → v − 1', async () => {
    const a = await ade20kLayout(parent, { split: 'train' });
    const b = await ade20kLayout(join(parent, 'ADEChallengeData2016'), { split: 'training' });
    assert.deepEqual(a.pairs, b.pairs);
    assert.deepEqual(a.pairs.map((p) => p.id), ['ADE_train_00000001', 'ADE_train_00000002']);
    assert.match(a.pairs[0]?.imagePath ?? '', /images\/training\/ADE_train_00000001\.jpg$/);
    assert.equal(a.split, 'training');
    assert.equal(a.numClasses, 150);
    assert.equal(new Set(ADE20K_CLASS_NAMES).size, 150);
    assert.deepEqual([a.classNames[0], a.classNames[12], a.classNames[149]], ['wall', 'person', 'flag']);
    assert.equal(new Set(ADE20K_PALETTE.map((c) => c.join(','))).size, 150, 'distinct colours');
    assert.deepEqual(await decodeLabels(a, 1), expected);
    const val = await ade20kLayout(parent, { split: 'val' });
    assert.deepEqual(val.pairs.map((p) => p.id), ['ADE_val_00000001']);
    assert.equal(ade20kLookup()[0], 255);
  });

  it('errors: missing folders, unknown split, unmatched pairs', async () => {
    await assert.rejects(ade20kLayout(join(root, 'nothing'), { split: 'train' }), /ade20kLayout: folder '.*nothing\/images' does not exist \(expected ADEChallengeData2016\/images\/\{training,validation\}\/\*\.jpg\)/);
    await assert.rejects(ade20kLayout(parent, { split: 'test' }), /ade20kLayout: unknown split "test" \(valid: 'train', 'training', 'val', 'validation'\)/);
    const broken = join(root, 'ade-broken');
    await writeRgb(join(broken, 'images', 'validation', 'ADE_val_00000001.jpg'), 1, 'jpeg');
    await mkdir(join(broken, 'annotations', 'validation'), { recursive: true });
    await assert.rejects(ade20kLayout(broken, { split: 'train' }), /ade20kLayout: folder '.*images\/training' does not exist \(split 'train'; folders in images\/: 'validation'\)/);
    await assert.rejects(ade20kLayout(broken, { split: 'val' }), /ade20kLayout: 1 image\(s\) in '.*images\/validation' have no mask: 'ADE_val_00000001' \(expected e\.g\. '.*annotations\/validation\/ADE_val_00000001\.png'\)/);
  });
});

describe('folderLayout', () => {
  it('images/ + masks/ matched by stem, classes.txt, index masks', async () => {
    const dir = join(root, 'folder-txt');
    await writeRgb(join(dir, 'images', 'b.jpg'), 9, 'jpeg');
    await writeRgb(join(dir, 'images', 'a.png'), 9);
    await writeGrey(join(dir, 'masks', 'a.png'), [0, 1, 2, 255, 0, 1, 2, 255, 0, 1, 2, 255]);
    await writeGrey(join(dir, 'masks', 'b.png'), Array(12).fill(1));
    await writeFile(join(dir, 'classes.txt'), '# my classes\nbackground\ncat\n\ndog  # the last\n');
    const layout = await folderLayout(dir);
    assert.deepEqual(layout.pairs.map((p) => [p.id, p.imagePath.slice(dir.length)]), [['a', '/images/a.png'], ['b', '/images/b.jpg']]);
    assert.deepEqual(layout.classNames, ['background', 'cat', 'dog']);
    assert.equal(layout.numClasses, 3);
    assert.equal(layout.mask.kind, 'index');
    assert.equal(layout.split, 'all');
    assert.equal(layout.palette.length, 3);
    assert.deepEqual(await decodeLabels(layout, 0), [0, 1, 2, 255, 0, 1, 2, 255, 0, 1, 2, 255]);
  });

  it('splits, a mask suffix, and classes.json with colours for RGB masks', async () => {
    const dir = join(root, 'folder-json');
    const palette: [number, number, number][] = [[0, 0, 0], [200, 10, 10], [10, 200, 10]];
    for (const split of ['train', 'val']) {
      await writeRgb(join(dir, 'images', split, `${split}1.png`), 50);
      await writeColorMask(join(dir, 'masks', split, `${split}1_mask.png`), Array.from({ length: W * H }, (_, i) => palette[i % 3] as [number, number, number]));
    }
    await writeFile(join(dir, 'classes.json'), JSON.stringify({ classes: ['bg', 'red', 'green'], palette, maskEncoding: 'color' }));
    const layout = await folderLayout(dir, { split: 'val', maskSuffix: '_mask' });
    assert.deepEqual(layout.pairs.map((p) => p.id), ['val1']);
    assert.equal(layout.split, 'val');
    assert.equal(layout.mask.kind, 'color');
    assert.deepEqual(layout.palette, palette);
    assert.deepEqual(await decodeLabels(layout, 0), Array.from({ length: W * H }, (_, i) => i % 3));
    await assert.rejects(folderLayout(dir, { split: 'test', maskSuffix: '_mask' }), /folderLayout: unknown split "test" \(splits in '.*images': 'train', 'val'\)/);
    // Without the suffix, no mask name matches an image.
    await assert.rejects(folderLayout(dir, { split: 'train' }), /folderLayout: 1 image\(s\) in '.*images\/train' have no mask: 'train1' \(expected e\.g\. '.*masks\/train\/train1\.png'\)/);
  });

  it('class lists: the JSON forms parse; bad lists are errors naming the file', () => {
    assert.deepEqual(parseClassList('c.json', '["a", "b"]').classNames, ['a', 'b']);
    const objects = parseClassList('c.json', '[{"name": "a", "color": [1, 2, 3]}, {"name": "b"}]');
    assert.deepEqual(objects.palette[0], [1, 2, 3]);
    assert.equal(objects.maskEncoding, 'index');
    assert.equal(parseClassList('c.json', '{"classes": ["a"], "ignoreLabel": 9}').ignoreLabel, 9);
    assert.throws(() => parseClassList('c.json', '["a", '), /folderLayout: class list 'c\.json' is not valid JSON/);
    assert.throws(() => parseClassList('c.txt', '\n# nothing\n'), /folderLayout: class list 'c\.txt' is empty/);
    assert.throws(() => parseClassList('c.json', '["a", "a"]'), /folderLayout: class list 'c\.json' names 'a' twice/);
    assert.throws(() => parseClassList('c.json', '["a", 3]'), /folderLayout: class list 'c\.json': class 1 must be a non-empty name, received 3/);
    assert.throws(() => parseClassList('c.json', '{"classes": ["a"], "colours": []}'), /folderLayout: class list 'c\.json' has unknown key 'colours' \(valid: classes, palette, ignoreLabel, maskEncoding\)/);
    assert.throws(() => parseClassList('c.json', '{"classes": ["a", "b"], "palette": [[0, 0, 0]]}'), /folderLayout: class list 'c\.json': 'palette' must have one colour per class \(2\)/);
    assert.throws(() => parseClassList('c.json', '{"classes": ["a"], "palette": [[0, 0, 256]]}'), /folderLayout: class list 'c\.json': palette\[0\] must be \[r, g, b\] with integers 0\.\.255, received \[0,0,256\]/);
    assert.throws(() => parseClassList('c.json', '{"classes": ["a", "b"], "maskEncoding": "color"}'), /folderLayout: class list 'c\.json': 'color' masks need a colour for every class/);
    assert.throws(() => parseClassList('c.json', '{"classes": ["a", "b"], "palette": [[1, 1, 1], [1, 1, 1]], "maskEncoding": "color"}'), /folderLayout: class list 'c\.json': classes 0 and 1 share the colour \[1,1,1\]/);
    assert.throws(() => parseClassList('c.json', '{"classes": ["a", "b", "c"], "ignoreLabel": 2}'), /folderLayout: class list 'c\.json' has 3 classes; at most 2 fit below the ignore label 2/);
    assert.throws(() => parseClassList('c.json', '{"classes": ["a"], "maskEncoding": "rgb"}'), /folderLayout: class list 'c\.json': 'maskEncoding' must be 'index' or 'color', received "rgb"/);
  });

  it('errors: missing folders or class list, unmatched pairs, duplicate stems, unknown options', async () => {
    await assert.rejects(folderLayout(join(root, 'absent')), /folderLayout: folder '.*absent' does not exist \(expected a dataset folder with images\/, masks\/ and a class list\)/);
    const dir = join(root, 'folder-bad');
    await writeRgb(join(dir, 'images', 'x.png'), 1);
    await assert.rejects(folderLayout(dir), /folderLayout: folder '.*folder-bad\/masks' does not exist \(expected the masks \(<stem>\.png\)\)/);
    await writeGrey(join(dir, 'masks', 'y.png'), Array(12).fill(0));
    await assert.rejects(folderLayout(dir), /folderLayout: no class list in '.*folder-bad' \(expected classes\.json or classes\.txt, or pass 'classes'\)/);
    await assert.rejects(folderLayout(dir, { classes: 'labels.txt' }), /folderLayout: class list '.*folder-bad\/labels\.txt' does not exist/);
    await writeFile(join(dir, 'classes.txt'), 'a\nb\n');
    await assert.rejects(folderLayout(dir), /folderLayout: 1 image\(s\) in '.*images' have no mask: 'x'/);
    await writeGrey(join(dir, 'masks', 'x.png'), Array(12).fill(0));
    await assert.rejects(folderLayout(dir), /folderLayout: 1 mask\(s\) in '.*masks' have no image: 'y'/);
    await writeRgb(join(dir, 'images', 'y.png'), 1);
    assert.equal((await folderLayout(dir)).pairs.length, 2);
    await writeRgb(join(dir, 'images', 'y.jpg'), 1, 'jpeg');
    await assert.rejects(folderLayout(dir), /folderLayout: two files share the name 'y': '.*y\.jpg' and '.*y\.png'/);
    await assert.rejects(folderLayout(dir, { splitt: 'a' } as never), /folderLayout: unknown option 'splitt' \(valid: split, images, masks, classes, maskSuffix\)/);
  });
});
