import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/main.js';
import type { Output } from '../cli/command.js';
import { buildSegmentationModel } from '../models/zoo.js';
import { findHemHeads } from './evaluate.js';
import { RUN_PRESETS, presetRunConfig } from './presets.js';
import { useBackend } from '../../test/helpers.js';
import { defaultRunConfig, type RunConfig } from './runConfig.js';

function quiet(): Output & { text: () => string } {
  const out: string[] = [];
  const devNull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  return { out: (t) => out.push(t), err: () => undefined, progressStream: devNull, text: () => out.join('') };
}

describe('run presets', () => {
  it("'attention-bench' validates: 128×128 scenes, OS 8, C = 128, K = 32; the defaults stay npm start's", () => {
    const c = presetRunConfig('attention-bench');
    assert.equal(c.data.canvasSize, 128);
    assert.deepEqual(c.model.inputSize, [128, 128]);
    assert.deepEqual(c.data.digitsPerScene, [3, 6]);
    assert.equal(c.data.digitOverlap, 0.5);
    assert.deepEqual(c.data.clutterFragments, [4, 10]);
    assert.equal(c.model.outputStride, 8);
    assert.equal(c.model.channels, 128);
    assert.equal(c.model.hem.numBases, 32);
    assert.equal(c.train.monitorGradient, true);
    assert.equal(c.train.monitorValidation, 100, 'the validation curve on 100 fixed scenes');
    const d = defaultRunConfig();
    assert.equal(d.data.canvasSize, 64);
    assert.equal(d.model.hem.numBases, 16);
    assert.equal(d.data.digitOverlap, 0.25);
  });

  it("'attention-bench' builds a head that sees 16×16 = 256 feature pixels with 32 bases", async () => {
    await useBackend('wasm');
    const c = presetRunConfig('attention-bench');
    const { model, hemHead } = buildSegmentationModel(c.model);
    const head = findHemHeads(model)[0];
    assert.ok(head !== undefined && hemHead !== null);
    assert.deepEqual((head.input as { shape: unknown }).shape, [null, 16, 16, 128]);
    assert.equal(head.getConfig().numBases, 32);
    model.dispose();
  });

  it('hemnet train --preset attention-bench trains 2 steps at a tiny override and records the bases', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-preset-'));
    try {
      const io = quiet();
      const code = await main(['train', '--preset', 'attention-bench', '--out', dir, '--steps', '2', '--batch-size', '2', '--train-size', '4', '--val-size', '2',
        '--canvas-size', '32', '--digit-scale', '0.8,1.1', '--width', '4', '--channels', '16', '--num-bases', '4', '--backend', 'wasm'], io);
      assert.equal(code, 0);
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as RunConfig;
      assert.equal(config.data.digitOverlap, 0.5, 'preset keys the flags leave alone');
      assert.deepEqual(config.data.clutterFragments, [4, 10]);
      assert.equal(config.model.hem.numBases, 4, 'flags override the preset');
      const log = (await readFile(join(dir, 'train-log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; bases?: unknown[]; backboneGradientNorm?: number; validation?: { samples: number; meanIoU: number } });
      const monitor = log.filter((e) => e.type === 'monitor');
      assert.deepEqual(monitor.map((e) => e.step), [1]);
      assert.equal(monitor[0]!.bases!.length, 1);
      assert.ok((monitor[0]!.backboneGradientNorm ?? 0) > 0);
      assert.equal(monitor[0]!.validation?.samples, 2, 'the validation curve: min(100, the 2 validation scenes)');
      const metrics = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')) as { bases: { effectiveBases: number; share: number[] }[] };
      assert.equal(metrics.bases[0]!.share.length, 4);
      assert.match(io.text(), /bases head\/hem: effective \d\.\d\d of 4/);
      const info = quiet();
      assert.equal(await main(['info', '--run', dir, '--backend', 'wasm'], info), 0);
      assert.match(info.text(), /monitor step 1: effective bases head\/hem \d\.\d\d\/4 · ‖∂L\/∂backbone‖ [\d.e+-]+ · val mIoU \d+\.\d \(2 images\)/);
      assert.match(info.text(), /evaluation \(val\): bases head\/hem: effective/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an unknown preset lists the registered ones; a bad preset fails the schema', async () => {
    assert.throws(() => presetRunConfig('nope'), /presetRunConfig: unknown preset 'nope' \(registered: attention-bench\)/);
    RUN_PRESETS.register({ name: 'bad-preset', summary: 'a test stand-in', config: { train: { steps: 0 } } });
    try {
      assert.throws(() => presetRunConfig('bad-preset'), /preset 'bad-preset'.*steps/);
    } finally {
      RUN_PRESETS.unregister('bad-preset');
    }
  });
});
