import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { attentionMaps } from './attention.js';
import { buildSegmentationModel } from '../models/zoo.js';
import type { SegmentationSample } from '../data/types.js';
import { viridis } from '../plots/image.js';
import { useBackend } from '../../test/helpers.js';

function sampleOf(side: number, channels: number, seed: number): SegmentationSample {
  const image = tf.tidy(() => tf.randomNormal([side * side * channels], 0, 1, 'float32', seed).dataSync() as Float32Array);
  return { image, label: new Uint8Array(side * side), height: side, width: side, channels, id: `s${seed}` };
}

function smallModel(head: 'hem' | 'fcn'): tf.LayersModel {
  return buildSegmentationModel({
    head,
    inputSize: [16, 16],
    width: 4,
    channels: 8,
    midChannels: 8,
    outputStride: 4,
    numClasses: 3,
    blocksPerStage: 1,
    hem: { numBases: 4, evalIterations: 3 },
    seed: 3,
  }).model;
}

describe('attentionMaps (Fig. 4 on one image)', () => {
  it('tiles T rows × the bases with most responsibility, reports the ELBO per iteration, leaks nothing', async () => {
    await useBackend('cpu');
    const model = smallModel('hem');
    const sample = sampleOf(16, 3, 5);
    attentionMaps(model, sample)!; // warm-up: builds the feature model's weights
    const before = tf.memory().numTensors;
    const maps = attentionMaps(model, sample);
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    assert.ok(maps !== null);
    assert.deepEqual(maps.featureSize, [4, 4]);
    // K = 4 < 8 columns → all 4 bases, sorted by responsibility mass; γ rows sum to 1 so the masses sum to N = 16.
    assert.deepEqual([...maps.bases].sort(), [0, 1, 2, 3]);
    const shownMass = maps.bases.map((k) => maps.mass[k] as number);
    for (let j = 1; j < shownMass.length; j++) assert.ok((shownMass[j - 1] as number) >= (shownMass[j] as number));
    assert.ok(Math.abs(maps.mass.reduce((a, b) => a + b, 0) - 16) < 1e-3);
    // T = 3 rows of 4 tiles, each map 4×4 upscaled ×4 (16 px), gap 2.
    assert.equal(maps.grid.width, 4 * 16 + 3 * 2);
    assert.equal(maps.grid.height, 3 * 16 + 2 * 2);
    assert.equal(maps.elbo.length, 3);
    for (const value of maps.elbo) assert.ok(Number.isFinite(value));
    // Tile pixels lie on the viridis colour map; gap pixels are the white background.
    const onViridis = (x: number, y: number): boolean => {
      const p = Array.from(maps.grid.data.subarray((y * maps.grid.width + x) * 4, (y * maps.grid.width + x) * 4 + 3));
      for (let i = 0; i <= 1000; i++) {
        const c = viridis(i / 1000);
        if (Math.abs(c[0] - (p[0] as number)) + Math.abs(c[1] - (p[1] as number)) + Math.abs(c[2] - (p[2] as number)) <= 3) return true;
      }
      return false;
    };
    for (const [x, y] of [[0, 0], [15, 15], [3 * 18 + 7, 2 * 18 + 9]] as const) assert.ok(onViridis(x, y), `pixel (${x}, ${y}) is viridis`);
    assert.deepEqual(Array.from(maps.grid.data.subarray(16 * 4, 16 * 4 + 3)), [255, 255, 255], 'gap pixel');
    // 'each' stretches every map to the full colour range: each tile holds both ends of viridis.
    const each = attentionMaps(model, sample, { normalize: 'each', gap: 0 })!;
    const tileHasColour = (tile: number, colour: readonly number[]): boolean => {
      const column = tile % 4;
      const row = Math.floor(tile / 4);
      for (let y = row * 16; y < row * 16 + 16; y++) {
        for (let x = column * 16; x < column * 16 + 16; x++) {
          const at = (y * each.grid.width + x) * 4;
          if (each.grid.data[at] === colour[0] && each.grid.data[at + 1] === colour[1] && each.grid.data[at + 2] === colour[2]) return true;
        }
      }
      return false;
    };
    for (let tile = 0; tile < 12; tile++) {
      assert.ok(tileHasColour(tile, viridis(0)) && tileHasColour(tile, viridis(1)), `tile ${tile} spans the colour map`);
    }
    const custom = attentionMaps(model, sample, { columns: 2, iterations: 5, gap: 0 })!;
    assert.deepEqual(custom.bases, maps.bases.slice(0, 2));
    assert.equal(custom.grid.width, 2 * 16);
    assert.equal(custom.grid.height, 5 * 16);
    assert.equal(custom.elbo.length, 5);
    model.dispose();
  });

  it('returns null for a model without a HEM head; rejects bad input', async () => {
    await useBackend('cpu');
    const fcn = smallModel('fcn');
    assert.equal(attentionMaps(fcn, sampleOf(16, 3, 1)), null);
    fcn.dispose();
    const model = smallModel('hem');
    assert.throws(() => attentionMaps(model, sampleOf(16, 1, 1)), /attentionMaps: the sample has 1 channels, the model expects 3/);
    assert.throws(() => attentionMaps(model, sampleOf(16, 3, 1), { columns: 0 }), /attentionMaps: 'columns' must be an integer ≥ 1, received 0/);
    assert.throws(
      () => attentionMaps(model, sampleOf(16, 3, 1), { normalize: 'none' as 'all' }),
      /attentionMaps: 'normalize' must be 'all' or 'each', received 'none'/,
    );
    model.dispose();
  });
});
