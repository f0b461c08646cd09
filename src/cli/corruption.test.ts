/**
 * Corruption of checkpoints and saved models (in-process CLI): bytes flipped
 * (same length), files truncated, files deleted, each file in turn. Each is
 * detected with a message naming the file and what is wrong; `eval` refuses
 * to compute; `train --resume` falls back to the newest intact generation
 * and says which. Files without hashes (older hemnet) still load, with a note.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './main.js';
import type { Output } from './command.js';
import { readStepRecords } from '../train/trainLog.js';

const TINY = [
  '--steps', '6', '--batch-size', '2', '--train-size', '8', '--val-size', '4', '--canvas-size', '32', '--width', '4',
  '--channels', '8', '--num-bases', '2', '--backend', 'wasm', '--checkpoint-every', '2', '--eval-limit', '2',
];

function capture(): Output & { text: () => string; errors: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const devNull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  return { out: (t) => out.push(t), err: (t) => err.push(t), progressStream: devNull, text: () => out.join(''), errors: () => err.join('') };
}

/** Same-length damage: 20 bytes in the middle inverted. */
async function flipBytes(path: string): Promise<void> {
  const bytes = await readFile(path);
  const middle = Math.floor(bytes.length / 2);
  for (let i = middle; i < Math.min(bytes.length, middle + 20); i++) bytes[i] = (bytes[i] as number) ^ 0xff;
  await writeFile(path, bytes);
}

/** Same-length damage of a JSON file that keeps it valid JSON: one digit changed. */
async function changeDigit(path: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const at = text.indexOf('"learningRate":') + '"learningRate":'.length;
  const index = text.slice(at).search(/[1-8]/) + at;
  await writeFile(path, text.slice(0, index) + String(Number(text[index]) + 1) + text.slice(index + 1));
  JSON.parse(await readFile(path, 'utf8'));
}

let dir = '';
let template = '';
let copies = 0;

async function copyRun(): Promise<string> {
  const target = join(dir, `case-${copies++}`);
  await cp(template, target, { recursive: true });
  return target;
}

const GEN = 'step-0000006';
type Damage = { name: string; file: string; apply: (path: string) => Promise<void>; message: RegExp };

const CHECKPOINT_DAMAGE: Damage[] = [
  { name: 'data file, 20 bytes flipped', file: `${GEN}.bin`, apply: flipBytes, message: /data file '.*step-0000006\.bin' has SHA-256 [0-9a-f]{16}…, its manifest says [0-9a-f]{16}…: its bytes changed after it was written/ },
  { name: 'data file truncated', file: `${GEN}.bin`, apply: (p) => truncate(p, 100), message: /data file '.*step-0000006\.bin' has 100 bytes, its manifest says \d+ \(truncated or overwritten\)/ },
  { name: 'data file deleted', file: `${GEN}.bin`, apply: (p) => rm(p), message: /data file '.*step-0000006\.bin' is missing/ },
  { name: 'manifest, one digit changed (still valid JSON)', file: `${GEN}.json`, apply: changeDigit, message: /manifest '.*step-0000006\.json' does not match its SHA-256: its content changed after it was written/ },
  { name: 'manifest, 20 bytes flipped', file: `${GEN}.json`, apply: flipBytes, message: /manifest '.*step-0000006\.json' (is not valid JSON|does not match its SHA-256)/ },
  { name: 'manifest truncated', file: `${GEN}.json`, apply: (p) => truncate(p, 200), message: /manifest '.*step-0000006\.json' is not valid JSON \(200 bytes; truncated or overwritten\)/ },
  { name: 'manifest deleted', file: `${GEN}.json`, apply: (p) => rm(p), message: /manifest '.*step-0000006\.json' is missing/ },
];

const MODEL_DAMAGE: Damage[] = [
  { name: 'weights.bin, 20 bytes flipped', file: 'weights.bin', apply: flipBytes, message: /weight file '.*weights\.bin' has SHA-256 [0-9a-f]{16}…, '.*model\.json' says [0-9a-f]{16}…: its bytes changed/ },
  { name: 'weights.bin truncated', file: 'weights.bin', apply: (p) => truncate(p, 64), message: /weight file '.*weights\.bin' has 64 bytes, '.*model\.json' says \d+ \(truncated or overwritten\)/ },
  { name: 'weights.bin deleted', file: 'weights.bin', apply: (p) => rm(p), message: /weight file '.*weights\.bin' is missing/ },
  { name: 'model.json, one digit changed', file: 'model.json', apply: async (p) => {
      const text = await readFile(p, 'utf8');
      const index = text.search(/"filters":\d/) + '"filters":'.length;
      await writeFile(p, text.slice(0, index) + String((Number(text[index]) + 1) % 10) + text.slice(index + 1));
    }, message: /'.*model\.json' does not match its SHA-256: its content changed after it was written/ },
  { name: 'model.json truncated', file: 'model.json', apply: (p) => truncate(p, 300), message: /'.*model\.json' is not valid JSON \(300 bytes; truncated or overwritten\)/ },
  { name: 'model.json deleted', file: 'model.json', apply: (p) => rm(p), message: /holds no checkpoint .* and no saved model/ },
];

describe('corruption of checkpoints and saved models', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hemnet-corrupt-'));
    template = join(dir, 'template');
    assert.equal(await main(['train', '--out', template, ...TINY], capture()), 0);
    assert.ok(existsSync(join(template, 'checkpoints', 'step-0000004.json')) && existsSync(join(template, 'checkpoints', `${GEN}.bin`)));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  for (const damage of CHECKPOINT_DAMAGE) {
    it(`checkpoint: ${damage.name} → eval refuses naming the file; --resume falls back to step 4`, async () => {
      const run = await copyRun();
      await damage.apply(join(run, 'checkpoints', damage.file));
      await assert.rejects(main(['eval', '--run', run, '--backend', 'wasm'], capture()), (error: Error) => {
        assert.match(error.message, damage.message);
        assert.match(error.message, /refusing to compute on it/);
        return true;
      });
      const io = capture();
      assert.equal(await main(['train', '--out', run, '--resume', '--steps', '8', '--backend', 'wasm'], io), 0);
      assert.match(io.errors(), new RegExp(`damaged checkpoint generation\\(s\\): ${GEN} \\(.*\\); resuming from the newest intact generation step-0000004 \\(step 4\\)`));
      assert.match(io.errors(), damage.message);
      assert.match(io.text(), /resuming at step 4/);
      assert.deepEqual(readStepRecords(join(run, 'train-log.jsonl')).map((r) => r.step), [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.ok(existsSync(join(run, 'checkpoints', `${GEN}.json.damaged`)) || existsSync(join(run, 'checkpoints', `${GEN}.bin.damaged`)), 'the damaged generation is kept aside');
    });
  }

  it('checkpoint: every generation damaged → resume fails listing each; latest.json damaged → eval names it', async () => {
    const run = await copyRun();
    await flipBytes(join(run, 'checkpoints', `${GEN}.bin`));
    await truncate(join(run, 'checkpoints', 'step-0000004.bin'), 10);
    await assert.rejects(main(['train', '--out', run, '--resume', '--steps', '8', '--backend', 'wasm'], capture()), /no intact checkpoint generation in '.*checkpoints': step-0000006: data file .* its bytes changed after it was written; step-0000004: data file '.*step-0000004\.bin' has 10 bytes/);
    const other = await copyRun();
    await writeFile(join(other, 'checkpoints', 'latest.json'), '{"step": 6, "manifest": "../../etc/passwd", "data": "x"}');
    await assert.rejects(main(['eval', '--run', other, '--backend', 'wasm'], capture()), /'.*latest\.json' does not name a manifest and a data file inside its folder/);
  });

  for (const damage of MODEL_DAMAGE) {
    it(`saved model: ${damage.name} → eval and predict refuse naming the file`, async () => {
      const run = await copyRun();
      await rm(join(run, 'checkpoints'), { recursive: true });
      await damage.apply(join(run, 'model', damage.file));
      await assert.rejects(main(['eval', '--run', run, '--backend', 'wasm'], capture()), damage.message);
      await assert.rejects(main(['predict', '--run', run, '--out', join(run, 'p'), '--backend', 'wasm'], capture()), damage.message);
      assert.ok(!existsSync(join(run, 'p')), 'predict wrote nothing');
    });
  }

  it('files written before hashes existed still load, with a note', async () => {
    const run = await copyRun();
    const manifestPath = join(run, 'checkpoints', `${GEN}.json`);
    const { manifestSha256: _m, dataFile: _d, ...old } = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    await writeFile(manifestPath, JSON.stringify(old));
    const io = capture();
    assert.equal(await main(['eval', '--run', run, '--backend', 'wasm'], io), 0);
    assert.match(io.errors(), /checkpoint '.*step-0000006\.json' has no SHA-256 \(written by an older hemnet\): its size is checked, its content cannot be/);
    await rm(join(run, 'checkpoints'), { recursive: true });
    const modelPath = join(run, 'model', 'model.json');
    const { modelJsonSha256: _h, weightFiles: _w, ...oldModel } = JSON.parse(await readFile(modelPath, 'utf8')) as Record<string, unknown>;
    await writeFile(modelPath, JSON.stringify(oldModel));
    const io2 = capture();
    assert.equal(await main(['eval', '--run', run, '--backend', 'wasm'], io2), 0);
    assert.match(io2.errors(), /model '.*model\.json' has no SHA-256 .*: its weight sizes are checked, their content cannot be/);
    // Without hashes, truncation is still caught by the sizes.
    await truncate(join(run, 'model', 'weights.bin'), 64);
    await assert.rejects(main(['eval', '--run', run, '--backend', 'wasm'], capture()), /the weight files of '.*model\.json' hold 64 bytes, its weights need \d+/);
  });
});
