/** `hemnet import`: PyTorch fixtures (scripts/fixtures/torch_fixtures.py) → a model folder that training can start from. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadBackboneWeights } from '../../models/transfer.js';
import { buildSegmentationModel } from '../../models/zoo.js';
import { fileModelHandler } from '../../train/checkpointFiles.js';
import type { Output } from '../command.js';
import { main } from '../main.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/torch/', import.meta.url));

function capture(): Output & { text: () => string } {
  const out: string[] = [];
  return { out: (t) => out.push(t), err: () => undefined, text: () => out.join('') };
}

describe('hemnet import', () => {
  it('torchvision-resnet50 → a backbone folder that loadBackboneWeights puts into a zoo model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-import-'));
    try {
      const out = join(dir, 'r50');
      const io = capture();
      const code = await main(['import', '--from', 'torchvision-resnet50', `${FIXTURES}resnet50_w3_os8.safetensors`, '--out', out, '--input-size', '32,32', '--backend', 'wasm'], io);
      assert.equal(code, 0);
      assert.match(io.text(), /^torchvision-resnet50: loaded 265 tensors \(\d+ values\), ignored 55, BN ε folded in 53 layers \(\d+ channels via γ\), 0 problem\(s\)\nwrote /);
      const record = JSON.parse(await readFile(join(out, 'import.json'), 'utf8')) as { built: { kind: string; options: { width: number } }; report: { problems: number; loaded: unknown[] } };
      assert.equal(record.built.kind, 'backbone');
      assert.equal(record.built.options.width, 3);
      assert.equal(record.report.problems, 0);
      assert.equal(record.report.loaded.length, 265);
      // Training starts from it by layer name.
      const zoo = buildSegmentationModel({ backbone: 'resnet50', width: 3, head: 'hem', inputSize: [32, 32], numClasses: 3, channels: 8, midChannels: 8, hem: { numBases: 4 } });
      const transfer = await loadBackboneWeights(zoo.model, fileModelHandler(out));
      assert.equal(transfer.notInSource.length, 0);
      assert.equal(transfer.copiedWeights, 265);
      const stem = zoo.model.getLayer('backbone/stem/conv').getWeights()[0] as tf.Tensor;
      assert.deepEqual(stem.shape, [7, 7, 3, 3]);
      // ... and so does `hemnet train --backbone-weights`: one step at a negligible learning rate keeps the imported stem.
      const run = join(dir, 'run');
      const trainIo = capture();
      const trainArgs = ['train', '--out', run, '--backbone', 'resnet50', '--width', '3', '--canvas-size', '32', '--channels', '8', '--num-bases', '4', '--steps', '1', '--batch-size', '2', '--train-size', '4', '--val-size', '2', '--lr', '1e-12', '--backend', 'wasm', '--workers', '1', '--monitor-every', '0', '--backbone-weights', out];
      assert.equal(await main(trainArgs, trainIo), 0);
      assert.match(trainIo.text(), /backbone weights from .*r50: \d+ layers, [\d,]+ parameters/);
      const trained = await tf.loadLayersModel(fileModelHandler(join(run, 'model')));
      const trainedStem = trained.getLayer('backbone/stem/conv').getWeights()[0] as tf.Tensor;
      assert.ok(tf.max(tf.abs(tf.sub(trainedStem, stem))).dataSync()[0]! < 1e-6, 'the run started from the imported stem');
      trained.dispose();
      zoo.model.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('emanet → a zoo ema model folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-import-'));
    try {
      const io = capture();
      const code = await main(['import', '--from', 'emanet', `${FIXTURES}emanet_head.safetensors`, '--out', dir, '--input-size', '32,32', '--backend', 'wasm'], io);
      assert.equal(code, 0);
      assert.match(io.text(), /^emanet: loaded 20 tensors/);
      const record = JSON.parse(await readFile(join(dir, 'import.json'), 'utf8')) as { built: { kind: string; config: { head: string; hem: { numBases: number } } } };
      assert.equal(record.built.kind, 'segmentation');
      assert.equal(record.built.config.head, 'ema');
      assert.equal(record.built.config.hem.numBases, 8);
      assert.ok(existsSync(join(dir, 'weights.bin')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails without writing on a mismatch, a bad file or a bad --from', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-import-'));
    try {
      const out = join(dir, 'out');
      await assert.rejects(
        main(['import', '--from', 'torchvision-resnet101', `${FIXTURES}resnet50_w3_os8.safetensors`, '--out', out, '--input-size', '32,32', '--backend', 'wasm'], capture()),
        /^Error: importTorchWeights: 255 problem\(s\) loading 'torchvision-resnet101' into model 'hemnet_resnet101_torchvision':\nmissing torch tensor 'layer3\.6\.conv1\.weight'/,
      );
      assert.equal(existsSync(out), false);
      const truncated = join(dir, 'cut.safetensors');
      const bytes = await readFile(`${FIXTURES}emanet_head.safetensors`);
      await writeFile(truncated, bytes.subarray(0, bytes.length - 100));
      await assert.rejects(
        main(['import', '--from', 'emanet', truncated, '--out', out, '--backend', 'wasm'], capture()),
        new RegExp(`^Error: parseSafetensors: '${truncated.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' tensor '[^']+': data_offsets \\[\\d+, \\d+\\] lie outside the \\d+-byte data section \\(truncated file\\?\\)$`),
      );
      await assert.rejects(main(['import', '--from', 'timm', 'x.safetensors', '--out', out], capture()), /^Error: hemnet import: '--from' must be one of 'torchvision-resnet50', 'torchvision-resnet101', 'emanet', 'mmseg-emahead', received 'timm'$/);
      await assert.rejects(main(['import', '--from', 'emanet', '--out', out], capture()), /^Error: hemnet import: a WEIGHTS\.safetensors file is required/);
      await assert.rejects(main(['import', '--from', 'emanet', join(dir, 'none.safetensors'), '--out', out, '--backend', 'wasm'], capture()), /^Error: readSafetensorsFile: cannot read '.*none\.safetensors': ENOENT/);
      assert.equal(existsSync(out), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('--help lists the sources', async () => {
    const io = capture();
    assert.equal(await main(['import', '--help'], io), 0);
    assert.match(io.text(), /Usage: hemnet import --from torchvision-resnet50\|torchvision-resnet101\|emanet\|mmseg-emahead WEIGHTS\.safetensors --out DIR/);
    assert.match(io.text(), /--allow-partial/);
  });
});
