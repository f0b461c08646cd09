import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../backend.js';
import { BACKBONE_PREFIX, compactBackbone, resnet101Backbone, resnet50Backbone, resnetBackbone } from './backbones.js';

function dilationOf(model: tf.LayersModel, name: string): number[] {
  return model.getLayer(name).getConfig()['dilationRate'] as number[];
}

describe('compact backbone', () => {
  for (const outputStride of [4, 8]) {
    it(`keeps the features at H/${outputStride} and dilates afterwards`, async () => {
      await setBackend('wasm');
      const input = tf.input({ shape: [32, 24, 3] });
      const { features, stage3, outputStride: os } = compactBackbone(input, { outputStride, width: 8, seed: 1 });
      assert.equal(os, outputStride);
      assert.deepEqual(features.shape, [null, 32 / outputStride, 24 / outputStride, 64]);
      assert.deepEqual(stage3.shape, [null, 32 / outputStride, 24 / outputStride, 32]);
      const model = tf.model({ inputs: input, outputs: features });
      // Stage 4 halves nothing past OS: dilation 2 at OS 8, 4 at OS 4 (stage 3 then has 2).
      assert.deepEqual(dilationOf(model, 'backbone/stage4/block1/conv1/conv'), outputStride === 8 ? [2, 2] : [4, 4]);
      assert.deepEqual(dilationOf(model, 'backbone/stage3/block1/conv2/conv'), outputStride === 8 ? [1, 1] : [2, 2]);
      const x = tf.randomNormal([2, 32, 24, 3], 0, 1, 'float32', 3);
      const y = model.predict(x) as tf.Tensor;
      assert.deepEqual(y.shape, [2, 32 / outputStride, 24 / outputStride, 64]);
      assert.ok(y.dataSync().every(Number.isFinite));
      tf.dispose([x, y]);
      model.dispose();
    });
  }

  it('names every layer under backbone/ and adds blocks and projection shortcuts', () => {
    const input = tf.input({ shape: [16, 16, 3] });
    const { features } = compactBackbone(input, { outputStride: 8, width: 4, blocksPerStage: [1, 2, 1, 1] });
    const model = tf.model({ inputs: input, outputs: features });
    const names = model.layers.slice(1).map((layer) => layer.name);
    assert.ok(names.every((name) => name.startsWith(`${BACKBONE_PREFIX}/`)), names.join(', '));
    assert.ok(names.includes('backbone/stage2/block2/add'));
    assert.ok(!names.includes('backbone/stage3/block2/add'));
    // Stage 1 keeps stride and width: identity shortcut; stage 2 projects (1×1 stride 2).
    assert.ok(!names.includes('backbone/stage1/block1/shortcut/conv'));
    assert.deepEqual(model.getLayer('backbone/stage2/block1/shortcut/conv').getConfig()['strides'], [2, 2]);
    model.dispose();
  });

  it('rejects bad options with the option name', () => {
    const input = tf.input({ shape: [16, 16, 3] });
    assert.throws(() => compactBackbone(input, { outputStride: 16 }), /^Error: compactBackbone: 'outputStride' must be one of 4, 8, received 16$/);
    assert.throws(() => compactBackbone(input, { width: 0 }), /compactBackbone: 'width' must be a positive integer, received 0/);
    assert.throws(() => compactBackbone(input, { blocksPerStage: [1, 2] }), /compactBackbone: 'blocksPerStage' must be a number or 4 numbers, received \[1,2\]/);
  });
});

describe('resnet50 backbone', () => {
  it('builds [3, 4, 6, 3] bottlenecks with multi-grid dilation and the right output shape', async () => {
    await setBackend('wasm');
    for (const outputStride of [8, 16]) {
      const input = tf.input({ shape: [32, 32, 3] });
      const { features, stage3 } = resnet50Backbone(input, { outputStride, widthMultiplier: 1 / 16, seed: 2 });
      assert.deepEqual(features.shape, [null, 32 / outputStride, 32 / outputStride, 128]);
      assert.deepEqual(stage3.shape, [null, 32 / outputStride, 32 / outputStride, 64]);
      const model = tf.model({ inputs: input, outputs: features });
      const blocks = [1, 2, 3, 4].map((s) => model.layers.filter((l) => l.name.match(new RegExp(`^backbone/stage${s}/block\\d+/add$`))).length);
      assert.deepEqual(blocks, [3, 4, 6, 3]);
      const rate = outputStride === 8 ? 4 : 2;
      assert.deepEqual(
        [1, 2, 3].map((b) => dilationOf(model, `backbone/stage4/block${b}/conv2/conv`)[0]),
        [rate, 2 * rate, 4 * rate],
      );
      const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 4);
      const y = model.predict(x) as tf.Tensor;
      assert.deepEqual(y.shape, [1, 32 / outputStride, 32 / outputStride, 128]);
      tf.dispose([x, y]);
      model.dispose();
    }
  });

  it("dilationStyle 'torchvision': a dilated stage's first block keeps the previous rate, no multi-grid", () => {
    for (const [outputStride, stage3Rates, stage4Rates] of [
      [8, [1, 2, 2], [2, 4, 4]],
      [16, [1, 1, 1], [1, 2, 2]],
    ] as const) {
      const input = tf.input({ shape: [32, 32, 3] });
      const { features } = resnet50Backbone(input, { outputStride, widthMultiplier: 1 / 16, dilationStyle: 'torchvision', seed: 2 });
      const model = tf.model({ inputs: input, outputs: features });
      assert.deepEqual([1, 2, 3].map((b) => dilationOf(model, `backbone/stage3/block${b}/conv2/conv`)[0]), stage3Rates);
      assert.deepEqual([1, 2, 3].map((b) => dilationOf(model, `backbone/stage4/block${b}/conv2/conv`)[0]), stage4Rates);
      model.dispose();
    }
  });

  it("pads strided convs and the max pool symmetrically (PyTorch's padding), so an even input keeps torchvision's sampling grid", () => {
    const input = tf.input({ shape: [32, 32, 3] });
    const { features } = resnet50Backbone(input, { outputStride: 8, widthMultiplier: 1 / 16, seed: 2 });
    const model = tf.model({ inputs: input, outputs: features });
    assert.deepEqual(model.getLayer('backbone/stem/pad').getConfig()['padding'], [[3, 3], [3, 3]]);
    assert.equal(model.getLayer('backbone/stem/conv').getConfig()['padding'], 'valid');
    assert.deepEqual(model.getLayer('backbone/stem/pool_pad').getConfig()['padding'], [[1, 1], [1, 1]]);
    assert.deepEqual(model.getLayer('backbone/stage2/block1/conv2/pad').getConfig()['padding'], [[1, 1], [1, 1]]);
    assert.equal(model.getLayer('backbone/stage2/block1/shortcut/conv').getConfig()['padding'], 'valid');
    // Stride-1 convs keep 'same' (symmetric for odd kernels).
    assert.equal(model.getLayer('backbone/stage3/block2/conv2/conv').getConfig()['padding'], 'same');
    model.dispose();
  });

  it('resnet101 has [3, 4, 23, 3] bottlenecks', () => {
    const input = tf.input({ shape: [32, 32, 3] });
    const { features } = resnet101Backbone(input, { outputStride: 16, widthMultiplier: 1 / 32, seed: 2 });
    const model = tf.model({ inputs: input, outputs: features });
    const blocks = [1, 2, 3, 4].map((s) => model.layers.filter((l) => l.name.match(new RegExp(`^backbone/stage${s}/block\\d+/add$`))).length);
    assert.deepEqual(blocks, [3, 4, 23, 3]);
    assert.deepEqual(features.shape, [null, 2, 2, 64]);
    model.dispose();
  });

  it('rejects an unsupported output stride', () => {
    const input = tf.input({ shape: [32, 32, 3] });
    assert.throws(() => resnetBackbone(input, { depth: 152 as 50 }), /^Error: resnetBackbone: 'depth' must be one of 50, 101, received 152$/);
    assert.throws(() => resnet101Backbone(input, { dilationStyle: 'deeplab' as 'torchvision' }), /^Error: resnet101Backbone: 'dilationStyle' must be one of 'multiGrid', 'torchvision', received 'deeplab'$/);
    assert.throws(
      () => resnet50Backbone(input, { dilationStyle: 'torchvision', multiGrid: [1, 2, 4] }),
      /^Error: resnet50Backbone: 'multiGrid' applies to dilationStyle 'multiGrid' only, received \[1,2,4\] with 'torchvision'$/,
    );
    assert.throws(() => resnet50Backbone(input, { outputStride: 4 }), /resnet50Backbone: 'outputStride' must be one of 8, 16, received 4/);
    assert.throws(() => resnet50Backbone(input, { widthMultiplier: -1 }), /resnet50Backbone: 'widthMultiplier' must be a positive number, received -1/);
  });
});
