/** `hemnet export --onnx`: a run folder → an .onnx file that ONNX Runtime runs with the run's outputs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { setBackend } from '../../backend.js';
import { HemHead } from '../../layers/hemHead.js';
import { buildSegmentationModel } from '../../models/zoo.js';
import { saveModelToFiles } from '../../train/checkpointFiles.js';
import { defaultRunConfig } from '../../train/runConfig.js';
import type { Output } from '../command.js';
import { main } from '../main.js';
import protobuf from 'protobufjs/light.js';
import { ONNX_SCHEMA } from '../../interop/onnx/schema.js';

ort.env.wasm.numThreads = 1;

function capture(): Output & { text: () => string } {
  const out: string[] = [];
  const devNull = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  return { out: (t) => out.push(t), err: (t) => out.push(t), progressStream: devNull, text: () => out.join('') };
}

describe('hemnet export', () => {
  it('writes an .onnx file from a run folder; ORT reproduces the model on raw NHWC pixels with --normalize', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hemnet-export-'));
    try {
      await setBackend('wasm');
      const config = defaultRunConfig();
      config.backend = 'wasm';
      config.data.canvasSize = 32;
      config.model = { ...config.model, inputSize: [32, 32], width: 8, channels: 16, midChannels: 16, numClasses: 11, auxiliaryHead: true, hem: { numBases: 4 } };
      const { model } = buildSegmentationModel(config.model);
      await saveModelToFiles(join(dir, 'model'), model);
      await writeFile(join(dir, 'config.json'), JSON.stringify(config));

      const io = capture();
      const file = join(dir, 'out', 'model.onnx');
      assert.equal(await main(['export', '--run', dir, '--onnx', file, '--layout', 'nhwc', '--normalize', '--eval-iterations', '4'], io), 0);
      assert.match(io.text(), /wrote .*model\.onnx \(\d+ KiB, opset 17, [\d,]+ parameters\)/);
      assert.match(io.text(), /input 'image' NHWC \[batch, 32, 32, 3\], raw pixels 0\.\.255 .* outputs logits · head\/hem T_eval 4/);

      const bytes = await readFile(file);
      const modelType = protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto');
      const decoded = modelType.toObject(modelType.decode(bytes)) as { metadataProps: { key: string; value: string }[] };
      const meta = Object.fromEntries(decoded.metadataProps.map((e) => [e.key, e.value]));
      assert.deepEqual(JSON.parse(meta['hemnet.classNames'] as string), ['background', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      assert.deepEqual(JSON.parse(meta['hemnet.normalization'] as string), { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.29, 0.29, 0.29] });
      assert.equal(meta['hemnet.dataset'], 'scenes');
      const session = await ort.InferenceSession.create(bytes);
      assert.deepEqual(session.outputNames, ['logits'], 'the auxiliary output is left out without --with-aux');
      const pixels = Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 53) % 256);
      const result = await session.run({ image: new ort.Tensor('float32', pixels, [1, 32, 32, 3]) });
      const got = result['logits']?.data as Float32Array;
      // The scenes' normalisation, (p/255 − 0.5)/0.29, then the model at T_eval 4.
      const head = model.layers.find((l) => l instanceof HemHead);
      assert.ok(head instanceof HemHead);
      head.setEvalIterations(4);
      const expected = tf.tidy(() => {
        const x = tf.div(tf.sub(tf.div(tf.tensor4d(pixels, [1, 32, 32, 3]), 255), 0.5), 0.29);
        const [logits] = model.predict(x) as tf.Tensor[];
        return (logits as tf.Tensor).dataSync();
      });
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (expected[i] as number)));
      assert.ok(worst <= 1e-4 * Math.max(1, ...Array.from(expected, Math.abs)), `max |diff| ${worst}`);
      await session.release();
      model.dispose();

      await assert.rejects(main(['export', '--run', dir], capture()), /hemnet export: '--onnx FILE' is required \(the \.onnx file to write\)/);
      await assert.rejects(main(['export', '--run', dir, '--onnx', file, '--layout', 'chw'], capture()), /hemnet export: '--layout' must be 'nchw' or 'nhwc', received 'chw'/);
      await assert.rejects(main(['export', '--run', join(dir, 'missing'), '--onnx', file], capture()), /hemnet: '.*missing' holds no checkpoint/);
      const help = capture();
      assert.equal(await main(['export', '--help'], help), 0);
      assert.match(help.text(), /--onnx FILE/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
