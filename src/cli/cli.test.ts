/** End-to-end tests of the `hemnet` CLI on a tiny budget (in-process, plus the built bin). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { main } from './main.js';
import type { Output } from './commands.js';

const TINY = [
  '--steps', '4', '--batch-size', '4', '--train-size', '16', '--val-size', '8', '--canvas-size', '32',
  '--width', '8', '--channels', '16', '--num-bases', '4', '--backend', 'wasm', '--checkpoint-every', '2',
];

function capture(): Output & { text: () => string; errors: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const devNull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  return { out: (t) => out.push(t), err: (t) => err.push(t), progressStream: devNull, text: () => out.join(''), errors: () => err.join('') };
}

async function pngSize(path: string): Promise<[number, number]> {
  const meta = await sharp(path).metadata();
  return [meta.width ?? 0, meta.height ?? 0];
}

describe('hemnet CLI', () => {
  it('train → eval → predict → info on a tiny budget, with resume', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-cli-'));
    const run = join(dir, 'run');
    try {
      const io = capture();
      assert.equal(await main(['train', '--out', run, ...TINY], io), 0);
      assert.match(io.text(), /backend wasm/);
      assert.match(io.text(), /mIoU \d+\.\d\d/);
      for (const file of ['config.json', 'metrics.json', 'loss.png', 'loss.svg', 'predictions.png', 'attention.png', 'train-log.jsonl', 'model/model.json', 'model/weights.bin', 'checkpoints/latest.json']) {
        assert.ok(existsSync(join(run, file)), `missing ${file}`);
      }
      const metrics = JSON.parse(await readFile(join(run, 'metrics.json'), 'utf8')) as { meanIoU: number; matrix: number[][]; machine: { cpu: string; cores: number; node: string } };
      assert.equal(metrics.machine.node, process.version);
      assert.ok(metrics.machine.cpu.length > 0 && metrics.machine.cores >= 1, `metrics.json machine: ${JSON.stringify(metrics.machine)}`);
      assert.ok(metrics.meanIoU >= 0 && metrics.meanIoU <= 1);
      assert.equal(metrics.matrix.length, 11);
      const [w, h] = await pngSize(join(run, 'loss.png'));
      assert.ok(w > 100 && h > 100);
      const config = JSON.parse(await readFile(join(run, 'config.json'), 'utf8')) as { model: { inputSize: number[] }; train: { steps: number } };
      assert.deepEqual(config.model.inputSize, [32, 32]);

      // A second train into the same folder needs --resume or --overwrite.
      await assert.rejects(main(['train', '--out', run, ...TINY], capture()), /hemnet train: '.*run' already has a checkpoint at step 4; pass --resume to continue it or --overwrite to start over/);
      // Resume with more steps continues at step 5.
      const resumed = capture();
      assert.equal(await main(['train', '--out', run, '--resume', '--steps', '6', '--backend', 'wasm'], resumed), 0);
      assert.match(resumed.text(), /resuming at step 4/);
      const log = (await readFile(join(run, 'train-log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number });
      assert.deepEqual(log.filter((e) => e.type === 'step').map((e) => e.step), [1, 2, 3, 4, 5, 6]);

      const evalIo = capture();
      assert.equal(await main(['eval', '--run', run, '--eval-scales', '0.5,1', '--eval-flip', '--eval-iterations', '5', '--backend', 'wasm'], evalIo), 0);
      assert.match(evalIo.text(), /scales \[0\.5, 1\] \+ flip · T_eval 5/);
      assert.match(evalIo.text(), /mIoU \d+\.\d\d/);

      // Two evaluation threads (a worker with its own copy of the validation split) count what one thread counts.
      const counts: number[][][] = [];
      for (const threads of ['1', '2']) {
        const json = join(dir, `eval-${threads}.json`);
        const threadsIo = capture();
        assert.equal(await main(['eval', '--run', run, '--eval-workers', threads, '--eval-batch-size', '2', '--json', json, '--backend', 'wasm'], threadsIo), 0);
        assert.equal(/evaluating on 2 threads \(workers load their own samples\)/.test(threadsIo.text()), threads === '2', threadsIo.text());
        assert.match(threadsIo.text(), new RegExp(`evaluated 8 images in \\d+\\.\\d s \\(\\d+\\.\\d img/s, ${threads} threads?, wasm\\)`));
        counts.push((JSON.parse(await readFile(json, 'utf8')) as { matrix: number[][] }).matrix);
      }
      assert.ok((counts[0] as number[][]).flat().reduce((a, b) => a + b, 0) > 0);
      assert.deepEqual(counts[1], counts[0]);

      const predictDir = join(dir, 'predict');
      const predictIo = capture();
      assert.equal(await main(['predict', '--run', run, '--out', predictDir, '--count', '2', '--backend', 'wasm'], predictIo), 0);
      // mask, overlay, panel and attention maps per image
      assert.match(predictIo.text(), /wrote 8 files/);
      assert.deepEqual(await pngSize(join(predictDir, 'val-0-mask.png')), [32, 32]);
      assert.deepEqual(await pngSize(join(predictDir, 'val-0-overlay.png')), [32, 32]);

      // A fresh process (the built bin) must set its backend up before loading the run.
      const fresh = execFileSync(process.execPath, [resolve('dist/cli/main.js'), 'eval', '--run', run, '--eval-limit', '4'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.match(fresh, /mIoU \d+\.\d\d .*\(4 images\)/);

      const infoIo = capture();
      assert.equal(await main(['info', '--run', run, '--backend', 'wasm'], infoIo), 0);
      assert.match(infoIo.text(), /parameters: [\d,]+ \(trainable [\d,]+, non-trainable [\d,]+\)/);
      assert.match(infoIo.text(), /head\/hem\s+HemHead/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('anneals η during training and saves the final η with the model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-cli-eta-'));
    try {
      const io = capture();
      const run = join(dir, 'run');
      assert.equal(await main(['train', '--out', run, ...TINY, '--step-size', '0.8', '--step-size-end', '0.2', '--step-size-tau', '3'], io), 0);
      assert.match(io.text(), /η anneals 0\.8 → 0\.2 over 3 steps/);
      const saved = JSON.parse(await readFile(join(run, 'model', 'model.json'), 'utf8')) as { modelTopology: { config: { layers: Array<{ class_name: string; config: { step_size?: number } }> } } };
      const head = saved.modelTopology.config.layers.find((l) => l.class_name === 'hemnet>HemHead');
      assert.ok(head !== undefined);
      assert.ok(Math.abs((head.config.step_size ?? NaN) - 0.2) < 1e-9, `saved η ${head.config.step_size}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad configs and flags with messages that name the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-cli-bad-'));
    try {
      const configPath = join(dir, 'config.json');
      await writeFile(configPath, JSON.stringify({ train: { stpes: 10 } }));
      await assert.rejects(main(['train', '--config', configPath, '--out', join(dir, 'r')], capture()), /unknown key 'train\.stpes' \(valid: optimizer, steps, batchSize/);
      await writeFile(configPath, JSON.stringify({ model: { head: 'hemm' } }));
      await assert.rejects(main(['train', '--config', configPath, '--out', join(dir, 'r')], capture()), /'head' must be one of 'hem', 'ema', 'fcn', received 'hemm'/);
      await writeFile(configPath, '{ "train": ');
      await assert.rejects(main(['train', '--config', configPath, '--out', join(dir, 'r')], capture()), /config file '.*config\.json' is not valid JSON/);
      await assert.rejects(main(['train', '--steps', 'ten', '--out', join(dir, 'r')], capture()), /hemnet: '--steps' must be an integer, received 'ten'/);
      await assert.rejects(main(['train', '--step-size', '1.5', '--out', join(dir, 'r')], capture()), /'stepSize' must be in \(0, 1\], received 1\.5/);
      await assert.rejects(main(['train', '--lr', '0', '--out', join(dir, 'r')], capture()), /flags: 'train\.learningRate' must be a number > 0 and ≤ 100, received 0/);
      await assert.rejects(main(['train', '--data', 'voc', '--out', join(dir, 'r')], capture()), /'data\.vocRoot' must name the VOC-format folder/);
      await assert.rejects(main(['train', '--stepz', '3'], capture()), /Unknown option '--stepz'/);
      await assert.rejects(main(['eval'], capture()), /hemnet eval: '--run DIR' is required/);
      await assert.rejects(main(['eval', '--run', join(dir, 'nothing')], capture()), /holds no checkpoint/);
      const unknown = capture();
      assert.equal(await main(['fly'], unknown), 1);
      assert.match(unknown.errors(), /unknown command 'fly' \(valid: train, eval, predict, info, elbo, import, export, sweep, worker, data\)/);
      assert.ok(!existsSync(join(dir, 'r')), 'a failed config must not create the run folder');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the built bin prints help that names every option with its paper symbol', () => {
    const bin = resolve('dist/cli/main.js');
    const help = execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    for (const needle of ['train ', 'eval ', 'predict ', 'info ', 'elbo ', 'import ', '--version']) assert.ok(help.includes(needle), `help lacks '${needle}'`);
    const trainHelp = execFileSync(process.execPath, [bin, 'train', '--help'], { encoding: 'utf8' });
    for (const needle of ['--step-size N', 'η of the N-step (Eq. 13)', 'T_train', 'T_eval', 'σ²', '--num-bases N', 'K, Gaussian bases', '--resume', '--overwrite']) {
      assert.ok(trainHelp.includes(needle), `train help lacks '${needle}'`);
    }
    // A command's help lists its own options only.
    const elboHelp = execFileSync(process.execPath, [bin, 'elbo', '--help'], { encoding: 'utf8' });
    assert.ok(elboHelp.includes('--step-sizes L') && !elboHelp.includes('--num-bases'), elboHelp);
    const version = execFileSync(process.execPath, [bin, '--version'], { encoding: 'utf8' }).trim();
    assert.match(version, /^\d+\.\d+\.\d+/);
  });
});
