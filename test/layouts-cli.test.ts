/**
 * The dataset layouts as `--data` sources through the CLI: a generic folder
 * of image/mask pairs trains, checkpoints and evaluates at the images' own
 * size (streaming reader); Cityscapes and ADE20K are registered with their
 * class counts and name what is missing.
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

function capture(): Output & { text: () => string } {
  const out: string[] = [];
  const devNull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  return { out: (t) => out.push(t), err: () => undefined, progressStream: devNull, text: () => out.join('') };
}

const W = 48;
const H = 40;

/** Image i: a bright square on a dark ground; mask: the square is class 1 + (i % 2), the ground 0, a 255 border. */
async function writePair(root: string, split: string, i: number): Promise<void> {
  const rgb = Buffer.alloc(W * H * 3, 20);
  const mask = Buffer.alloc(W * H, 0);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inside = x >= 10 + i && x < 30 + i && y >= 8 && y < 28;
      if (inside) rgb.fill(200 + 20 * (i % 2), 3 * (y * W + x), 3 * (y * W + x) + 3);
      mask[y * W + x] = y === 0 || x === 0 ? 255 : inside ? 1 + (i % 2) : 0;
    }
  }
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(join(root, 'images', split, `s${i}.png`));
  await sharp(mask, { raw: { width: W, height: H, channels: 1 } }).png().toFile(join(root, 'masks', split, `s${i}.png`));
}

describe('dataset layouts through the CLI', () => {
  let dir = '';
  let root = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hemnet-layouts-cli-'));
    root = join(dir, 'pairs');
    for (const split of ['train', 'val']) {
      mkdirSync(join(root, 'images', split), { recursive: true });
      mkdirSync(join(root, 'masks', split), { recursive: true });
    }
    for (let i = 0; i < 4; i++) await writePair(root, 'train', i);
    for (let i = 0; i < 2; i++) await writePair(root, 'val', i);
    await writeFile(join(root, 'classes.txt'), 'ground\nsquare-a\nsquare-b\n');
  });
  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('--data folder trains, checkpoints and evaluates at the images\' own size, with the class list\'s names', async () => {
    const run = join(dir, 'run');
    const tiny = ['--crop-size', '32', '--width', '8', '--channels', '16', '--num-bases', '4', '--steps', '2', '--batch-size', '2', '--checkpoint-every', '0', '--backend', 'wasm', '--workers', '1', '--monitor-every', '0'];
    const io = capture();
    assert.equal(await main(['train', '--data', 'folder', '--data-root', root, '--num-classes', '3', '--out', run, ...tiny], io), 0);
    assert.match(io.text(), /folder 4 train \/ 2 val/);
    assert.match(io.text(), /square-a:/);
    const metrics = JSON.parse(await readFile(join(run, 'metrics.json'), 'utf8')) as { matrix: number[][] };
    // Every labelled pixel of the two 48×40 validation images is scored (255 borders excluded).
    const scored = metrics.matrix.flat().reduce((a, b) => a + b, 0);
    assert.equal(scored, 2 * (W - 1) * (H - 1));
    const evalIo = capture();
    assert.equal(await main(['eval', '--run', run, '--backend', 'wasm'], evalIo), 0);
    assert.match(evalIo.text(), /mIoU \d+\.\d\d .*\(2 images\)/);
  });

  it('names what a layout source lacks', async () => {
    await assert.rejects(main(['train', '--data', 'folder', '--data-root', root, '--out', join(dir, 'x')], capture()), /'folder' has 3 classes; 'model\.numClasses' is 21 \(pass --num-classes 3\)/);
    await assert.rejects(main(['train', '--data', 'cityscapes', '--out', join(dir, 'x')], capture()), /'data\.root' \(--data-root DIR\) must name the Cityscapes folder when 'data\.source' is 'cityscapes'/);
    await assert.rejects(main(['train', '--data', 'ade20k', '--data-root', join(dir, 'none'), '--out', join(dir, 'x')], capture()), /ade20k|ADE20K|ADEChallengeData2016/);
    await assert.rejects(main(['train', '--data', 'folder', '--data-root', join(dir, 'none'), '--num-classes', '3', '--out', join(dir, 'x')], capture()), /has no class list \(classes\.json or classes\.txt\)/);
  });
});
