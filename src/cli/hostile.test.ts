/**
 * Hostile inputs against the built CLI (`npm run build` first): every case
 * below must end with a non-zero exit, a message on stderr/stdout that
 * names the offending input, no stack trace, and no input file deleted or
 * changed. When the tests run as root (where chmod does not block reads),
 * the unreadable-folder case runs the CLI as user 'nobody' (uid 65534), so
 * the permission really applies; elsewhere it runs as the current user.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { vocColor } from '../data/palette.js';

const BIN = resolve('dist/cli/main.js');
const H = 12;
const W = 16;
const TINY = ['--steps', '2', '--batch-size', '2', '--width', '4', '--channels', '8', '--num-bases', '2', '--backend', 'wasm', '--eval-limit', '1'];

let dir = '';
let inputs = '';
let outputs = '';

async function jpeg(path: string, height = H, width = W): Promise<void> {
  await sharp(Buffer.alloc(height * width * 3, 90), { raw: { width, height, channels: 3 } }).jpeg().toFile(path);
}

async function mask(path: string, height = H, width = W, colour: readonly [number, number, number] = vocColor(1)): Promise<void> {
  const rgb = Buffer.alloc(height * width * 3);
  for (let p = 0; p < height * width; p++) rgb.set(p % 3 === 0 ? colour : vocColor(0), 3 * p);
  await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toFile(path);
}

/** A VOC folder with ids 'a' and 'b' (train) and 'c' (val), all good; `edit` then breaks one thing. */
async function voc(name: string, edit?: (root: string) => Promise<void> | void): Promise<string> {
  const root = join(inputs, name);
  for (const sub of ['JPEGImages', 'SegmentationClass', join('ImageSets', 'Segmentation')]) mkdirSync(join(root, sub), { recursive: true });
  for (const id of ['a', 'b', 'c']) {
    await jpeg(join(root, 'JPEGImages', `${id}.jpg`), 40, 40);
    await mask(join(root, 'SegmentationClass', `${id}.png`), 40, 40);
  }
  writeFileSync(join(root, 'ImageSets', 'Segmentation', 'train.txt'), 'a\nb\n');
  writeFileSync(join(root, 'ImageSets', 'Segmentation', 'val.txt'), 'c\n');
  await edit?.(root);
  return root;
}

function list(root: string, split: string, text: string): void {
  writeFileSync(join(root, 'ImageSets', 'Segmentation', `${split}.txt`), text);
}

function file(name: string, text: string): string {
  const path = join(inputs, name);
  writeFileSync(path, text);
  return path;
}

/** path → size and mtime of every file under `root` (what must not change). */
function snapshot(root: string): Map<string, string> {
  const seen = new Map<string, string>();
  const walk = (folder: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(folder);
    } catch {
      seen.set(folder, 'unreadable folder');
      return;
    }
    for (const entry of entries) {
      const path = join(folder, entry);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else seen.set(path, `${stat.size}:${stat.mtimeMs}`);
    }
  };
  walk(root);
  return seen;
}

interface Case {
  name: string;
  args: () => Promise<string[]> | string[];
  /** What stderr+stdout must say (naming the input). */
  expect: RegExp;
  asNobody?: boolean;
}

function out(name: string): string {
  return join(outputs, name.replace(/\W+/g, '-'));
}

async function savedModel(name: string, paths: string[]): Promise<string> {
  const run = join(inputs, name);
  mkdirSync(join(run, 'model'), { recursive: true });
  writeFileSync(join(run, 'config.json'), '{}');
  writeFileSync(join(run, 'model', 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Model', config: { layers: [] } }, weightsManifest: [{ paths, weights: [] }] }));
  return run;
}

const CASES: Case[] = [
  // Images that are not images.
  { name: 'image is a text file', args: async () => ['data', 'check', '--voc-root', await voc('v-text-image', (r) => writeFileSync(join(r, 'JPEGImages', 'a.jpg'), 'hello, not a jpeg'))], expect: /id 'a': cannot decode the image: .* \('.*JPEGImages\/a\.jpg'\)/ },
  { name: 'image is an empty file', args: async () => ['data', 'check', '--voc-root', await voc('v-empty-image', (r) => writeFileSync(join(r, 'JPEGImages', 'b.jpg'), ''))], expect: /id 'b': cannot decode the image: .*JPEGImages\/b\.jpg/ },
  { name: 'image is a truncated JPEG', args: async () => ['data', 'check', '--voc-root', await voc('v-truncated', (r) => {
      const path = join(r, 'JPEGImages', 'a.jpg');
      const bytes = readFileSync(path);
      writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    })], expect: /id 'a': cannot decode the image: .*JPEGImages\/a\.jpg/ },
  { name: 'image is a folder', args: async () => ['data', 'check', '--voc-root', await voc('v-folder-image', (r) => {
      rmSync(join(r, 'JPEGImages', 'a.jpg'));
      mkdirSync(join(r, 'JPEGImages', 'a.jpg'), { recursive: true });
    })], expect: /id 'a': cannot decode the image: .*JPEGImages\/a\.jpg/ },
  { name: 'image missing', args: async () => ['data', 'check', '--voc-root', await voc('v-missing-image', (r) => list(r, 'train', 'a\nb\nzz\n'))], expect: /id 'zz': cannot decode the image: .*JPEGImages\/zz\.jpg/ },
  // Masks.
  { name: 'mask is a text file', args: async () => ['data', 'check', '--voc-root', await voc('v-text-mask', (r) => writeFileSync(join(r, 'SegmentationClass', 'b.png'), 'PNG? no'))], expect: /id 'b': cannot decode the mask: .*SegmentationClass\/b\.png/ },
  { name: 'mask of the wrong size', args: async () => ['data', 'check', '--voc-root', await voc('v-size', (r) => mask(join(r, 'SegmentationClass', 'a.png'), 30, 40))], expect: /id 'a': the mask is 30×40 but its image is 40×40 \(height×width\) \('.*SegmentationClass\/a\.png'\)/ },
  { name: 'mask with an unknown colour', args: async () => ['data', 'check', '--voc-root', await voc('v-colour', (r) => mask(join(r, 'SegmentationClass', 'c.png'), 40, 40, [1, 2, 3]))], expect: /id 'c': the mask has colour \(1, 2, 3\) at pixel \(0, 0\), which is not in the voc colour map \('.*c\.png'\)/ },
  { name: 'mask with a class beyond numClasses', args: async () => ['data', 'check', '--voc-root', await voc('v-label', (r) => mask(join(r, 'SegmentationClass', 'a.png'), 40, 40, vocColor(30)))], expect: /id 'a': the mask has label 30 at pixel \(0, 0\), outside \[0, 20\] for 21 classes/ },
  { name: 'mask missing', args: async () => ['data', 'check', '--voc-root', await voc('v-missing-mask', (r) => rmSync(join(r, 'SegmentationClass', 'b.png')))], expect: /id 'b': cannot decode the mask: .*SegmentationClass\/b\.png/ },
  { name: 'index mask with a label beyond numClasses', args: async () => ['data', 'check', '--voc-root', await voc('v-index', async (r) => {
      await sharp(Buffer.alloc(40 * 40, 77), { raw: { width: 40, height: 40, channels: 1 } }).png().toFile(join(r, 'SegmentationClass', 'a.png'));
    }), '--mask-format', 'index'], expect: /id 'a': the mask has label 77 at pixel \(0, 0\), outside \[0, 20\]/ },
  { name: 'bad mask reached by training (streaming)', args: async () => ['train', '--data', 'voc', '--voc-root', await voc('v-train-mask', (r) => mask(join(r, 'SegmentationClass', 'b.png'), 40, 40, [9, 9, 9])), '--canvas-size', '32', '--out', out('train-mask'), ...TINY], expect: /voc dataset: the mask has colour \(9, 9, 9\) .* \(id 'b', file '.*SegmentationClass\/b\.png'\)/ },
  // Split lists.
  { name: 'empty split list', args: async () => ['train', '--data', 'voc', '--voc-root', await voc('v-empty-list', (r) => list(r, 'train', '')), '--canvas-size', '32', '--out', out('empty'), ...TINY], expect: /split list '.*train\.txt' holds no ids/ },
  { name: 'split list of blank lines', args: async () => ['data', 'check', '--voc-root', await voc('v-blank-list', (r) => list(r, 'val', '\n  \n\t\n')), '--split', 'val'], expect: /split list '.*val\.txt' holds no ids/ },
  { name: 'split list missing', args: async () => ['data', 'check', '--voc-root', await voc('v-no-list'), '--split', 'test'], expect: /split list '.*test\.txt' does not exist/ },
  { name: 'split name with ..', args: async () => ['data', 'check', '--voc-root', await voc('v-split-dots'), '--split', '../../etc/passwd'], expect: /'split' must be a list name such as 'train' or 'val', received "..\/..\/etc\/passwd"/ },
  // Ids that would leave the dataset folder.
  { name: 'id with a path separator', args: async () => ['data', 'check', '--voc-root', await voc('v-id-slash', (r) => list(r, 'train', 'a\nsub/b\n'))], expect: /id "sub\/b" at '.*train\.txt' line 2 is not a plain file name/ },
  { name: 'id with ..', args: async () => ['data', 'check', '--voc-root', await voc('v-id-dots', (r) => list(r, 'train', '../../../etc/passwd\n'))], expect: /id "..\/..\/..\/etc\/passwd" at '.*train\.txt' line 1 is not a plain file name/ },
  { name: 'id that is ..', args: async () => ['train', '--data', 'voc', '--voc-root', await voc('v-id-dotdot', (r) => list(r, 'train', 'a\n..\n')), '--canvas-size', '32', '--out', out('dotdot'), ...TINY], expect: /id ".." at '.*train\.txt' line 2 is not a plain file name/ },
  { name: 'id with an absolute path', args: async () => ['data', 'check', '--voc-root', await voc('v-id-abs', (r) => list(r, 'val', '/etc/passwd\n')), '--split', 'val'], expect: /id "\/etc\/passwd" at '.*val\.txt' line 1 is not a plain file name/ },
  { name: 'id with a backslash', args: async () => ['data', 'check', '--voc-root', await voc('v-id-backslash', (r) => list(r, 'train', 'a\n..\\..\\b\n'))], expect: /id "..\\\\..\\\\b" at '.*train\.txt' line 2 is not a plain file name/ },
  { name: 'id listed twice', args: async () => ['train', '--data', 'voc', '--voc-root', await voc('v-dup', (r) => list(r, 'train', 'a\nb\na\n')), '--canvas-size', '32', '--out', out('dup'), ...TINY], expect: /id 'a' at '.*train\.txt' line 3 is listed twice \(first at line 1\)/ },
  // Folders.
  { name: 'voc root does not exist', args: () => ['data', 'check', '--voc-root', join(inputs, 'nowhere')], expect: /folder '.*nowhere' does not exist/ },
  { name: 'voc root is a file', args: () => ['data', 'check', '--voc-root', file('plain-file', 'x')], expect: /'.*plain-file' is a file, not a folder/ },
  { name: 'JPEGImages missing', args: async () => ['train', '--data', 'voc', '--voc-root', await voc('v-no-jpeg', (r) => rmSync(join(r, 'JPEGImages'), { recursive: true })), '--canvas-size', '32', '--out', out('nojpeg'), ...TINY], expect: /vocLayout: folder '.*JPEGImages' does not exist/ },
  { name: 'unreadable image folder (chmod 000)', asNobody: true, args: async () => ['data', 'check', '--voc-root', await voc('v-unreadable', (r) => chmodSync(join(r, 'JPEGImages'), 0o000))], expect: /id 'a': cannot decode the image: .*JPEGImages\/a\.jpg/ },
  // Configs: wrong types, NaN, huge values.
  { name: 'config: steps as a string', args: () => ['train', '--config', file('c-string.json', '{"train": {"steps": "10"}}'), '--out', out('c1')], expect: /c-string\.json: 'train\.steps' must be an integer ≥ 1 and ≤ 1000000000, received '10'/ },
  { name: 'config: NaN', args: () => ['train', '--config', file('c-nan.json', '{"train": {"learningRate": NaN}}'), '--out', out('c2')], expect: /config file '.*c-nan\.json' is not valid JSON/ },
  { name: 'config: huge step count', args: () => ['train', '--config', file('c-huge.json', '{"train": {"steps": 1e15}}'), '--out', out('c3')], expect: /c-huge\.json: 'train\.steps' must be an integer ≥ 1 and ≤ 1000000000, received 1000000000000000/ },
  { name: 'config: huge batch', args: () => ['train', '--config', file('c-batch.json', '{"train": {"batchSize": 100000000}}'), '--out', out('c4')], expect: /c-batch\.json: 'train\.batchSize' must be an integer ≥ 1 and ≤ 4096, received 100000000/ },
  { name: 'config: a list instead of an object', args: () => ['train', '--config', file('c-list.json', '[1, 2, 3]'), '--out', out('c5')], expect: /c-list\.json: 'config' must be an object, received \[1, 2, 3\]/ },
  { name: 'config: unknown section', args: () => ['train', '--config', file('c-section.json', '{"trian": {}}'), '--out', out('c6')], expect: /c-section\.json: unknown key 'trian'/ },
  { name: 'config: null section', args: () => ['train', '--config', file('c-null.json', '{"train": null}'), '--out', out('c7')], expect: /c-null\.json: 'train' must be an object, received null/ },
  { name: 'config file is a folder', args: () => ['train', '--config', inputs, '--out', out('c8')], expect: /cannot read config file '.*': EISDIR/ },
  { name: 'config file missing', args: () => ['train', '--config', join(inputs, 'none.json'), '--out', out('c9')], expect: /cannot read config file '.*none\.json'/ },
  { name: 'flag: huge canvas', args: () => ['train', '--canvas-size', '100000', '--out', out('f1')], expect: /'data\.canvasSize' must be an integer ≥ 8 and ≤ 8192, received 100000/ },
  { name: 'flag: infinite learning rate', args: () => ['train', '--lr', '1e999', '--out', out('f2')], expect: /'--lr' must be a number, received '1e999'/ },
  { name: 'flag: NaN steps', args: () => ['train', '--steps', 'NaN', '--out', out('f3')], expect: /'--steps' must be an integer, received 'NaN'/ },
  { name: 'flag: negative eval scale', args: () => ['train', '--eval-scales', '1,-2', '--out', out('f4')], expect: /flags: 'eval\.scales\[1\]' must be a number > 0, received -2/ },
  { name: 'flag: unknown backend', args: () => ['train', '--backend', 'quantum', '--out', out('f5')], expect: /quantum/ },
  // Models and runs.
  { name: 'model.json names a weight file outside its folder', args: async () => ['eval', '--run', await savedModel('m-outside', ['../../outside.bin']), '--backend', 'wasm'], expect: /model\.json' names weight file "..\/..\/outside\.bin", which is not a file inside/ },
  { name: 'model.json names an absolute weight path', args: async () => ['predict', '--run', await savedModel('m-absolute', ['/etc/passwd']), '--backend', 'wasm'], expect: /model\.json' names weight file "\/etc\/passwd", which is not a file inside/ },
  { name: 'model.json that is not a model', args: () => {
      const run = join(inputs, 'm-not-model');
      mkdirSync(join(run, 'model'), { recursive: true });
      writeFileSync(join(run, 'config.json'), '{}');
      writeFileSync(join(run, 'model', 'model.json'), '[]');
      return ['eval', '--run', run, '--backend', 'wasm'];
    }, expect: /'.*m-not-model\/model\/model\.json' has no modelTopology and weightsManifest/ },
  { name: 'eval --run on a file', args: () => ['eval', '--run', file('not-a-run', 'x')], expect: /hemnet: run folder '.*not-a-run' is a file, not a folder/ },
  { name: 'data check without --voc-root', args: () => ['data', 'check'], expect: /hemnet data check: '--voc-root DIR' is required/ },
  { name: 'data with an unknown subcommand', args: () => ['data', 'chek', '--voc-root', inputs], expect: /hemnet data: expected the subcommand 'check', received 'chek'/ },
];

function runCli(args: string[], asNobody: boolean): Promise<{ code: number | null; text: string }> {
  return new Promise((done) => {
    const nobody = asNobody && process.getuid?.() === 0;
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(nobody ? { uid: 65534, gid: 65534 } : {}) });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('close', (code) => done({ code, text }));
  });
}

describe('hostile inputs (built CLI)', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hemnet-hostile-'));
    chmodSync(dir, 0o755); // readable by 'nobody' for the unreadable-folder case
    inputs = join(dir, 'in');
    outputs = join(dir, 'out');
    mkdirSync(inputs);
    mkdirSync(outputs);
  });
  after(async () => {
    chmodSync(join(inputs, 'v-unreadable', 'JPEGImages'), 0o755);
    await rm(dir, { recursive: true, force: true });
  });

  it(`${CASES.length} hostile inputs: each a clear error naming the input, no stack trace, non-zero exit, no input file deleted`, async () => {
    assert.ok(CASES.length >= 30);
    const prepared: { c: Case; args: string[] }[] = [];
    for (const c of CASES) prepared.push({ c, args: await c.args() });
    const before = snapshot(inputs);
    const failures: string[] = [];
    // Two at a time: the machine has two cores.
    for (let i = 0; i < prepared.length; i += 2) {
      const batch = prepared.slice(i, i + 2);
      const results = await Promise.all(batch.map(({ c, args }) => runCli(args, c.asNobody === true)));
      results.forEach((result, j) => {
        const { c } = batch[j] as (typeof prepared)[number];
        if (result.code === 0 || result.code === null) failures.push(`${c.name}: exit ${result.code}\n${result.text}`);
        else if (!c.expect.test(result.text)) failures.push(`${c.name}: message does not match ${c.expect}\n${result.text}`);
        else if (/\n\s+at .*:\d+:\d+\)?\n/.test(result.text)) failures.push(`${c.name}: stack trace\n${result.text}`);
      });
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(snapshot(inputs), before, 'an input file was deleted or changed');
    process.stdout.write(`# hostile inputs tried: ${CASES.length}\n`);
  });
});
