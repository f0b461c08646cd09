import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { evaluateSegmentation, findHemHeads, type EvaluateOptions, type EvaluationSettings } from './evaluate.js';
import { datasetBasesUsage } from './monitor.js';
import type { SegmentationDataset } from '../data/types.js';
import { createEvaluationWorkers, EvaluationWorkerPool, type MirroredDataset } from './parallelEval.js';
import { hemHead } from '../layers/hemHead.js';
import { evaluationDataset } from '../../test/fixtures/evalDataset.js';
import { useBackend } from '../../test/helpers.js';

const FIXTURE = new URL('../../test/fixtures/evalDataset.ts', import.meta.url).href;

/** The fixture dataset, and where a worker builds the same one. */
function dataset(size: number, fixed: number | null, streaming = false): MirroredDataset {
  return { dataset: evaluationDataset(size, fixed, streaming), source: { module: FIXTURE, exportName: 'evaluationDataset', args: [size, fixed, streaming] } };
}

/** Conv + BN (folded in inference) → HEM head → classifier; `side` null: any input size. */
function model(side: number | null): tf.LayersModel {
  const input = tf.input({ shape: [side, side, 3] });
  let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.heNormal({ seed: 11 }), name: 'stem' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'stem_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = hemHead({ numBases: 3, seed: 12, name: 'hem' }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 13 }), name: 'classifier' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

/** Moves every weight a little (as an optimizer step would), deterministically. */
function perturb(m: tf.LayersModel, amount: number): void {
  m.setWeights(m.getWeights().map((w, i) => tf.tidy(() => tf.add(w, tf.mul(tf.sin(tf.add(tf.range(0, w.size).reshape(w.shape), i)), amount)))));
}

describe('evaluation on worker threads (EvaluationWorkerPool)', () => {
  const pools: EvaluationWorkerPool[] = [];
  after(async () => {
    for (const pool of pools) await pool.close();
  });

  async function pool(m: tf.LayersModel, threads: number, mirror: MirroredDataset | null = null): Promise<EvaluationWorkerPool> {
    const created = await createEvaluationWorkers(m, threads, undefined, mirror);
    assert.ok(created instanceof EvaluationWorkerPool);
    pools.push(created);
    return created;
  }

  /** One thread, then `workers` (sent images, or loading samples themselves when they mirror `data`): the same counts. */
  async function both(m: tf.LayersModel, data: SegmentationDataset, workers: EvaluationWorkerPool, options: EvaluateOptions): Promise<number[][]> {
    const progress: number[] = [];
    const alone = await evaluateSegmentation(m, data, options);
    const before = tf.memory().numTensors;
    const shared = await evaluateSegmentation(m, data, { ...options, workers, onProgress: (done) => progress.push(done) });
    assert.equal(tf.memory().numTensors, before, 'an evaluation with workers leaked tensors on the calling thread');
    assert.deepEqual(shared.confusion.toArray(), alone.confusion.toArray());
    assert.equal(shared.samples, alone.samples);
    assert.ok(progress.length > 0 && progress.every((d, i) => i === 0 || d > (progress[i - 1] as number)), `progress must grow: ${progress.join(', ')}`);
    assert.equal(progress.at(-1), shared.samples);
    return shared.confusion.toArray();
  }

  it('batched evaluation with 1 or 2 workers counts exactly the pixels one thread counts (partial last round, multi-scale + flip, T_eval)', async () => {
    await useBackend('wasm');
    const m = model(16);
    const data = dataset(11, 16);
    for (const [workers, mirrors] of [[await pool(m, 3), false], [await pool(m, 3, data), true]] as const) {
      assert.equal(workers.count, 2);
      assert.equal(workers.mirrors(data.dataset), mirrors);
      const single = await both(m, data.dataset, workers, { batchSize: 3 });
      const classes = single.map((row) => row.reduce((a, b) => a + b, 0)).filter((n) => n > 0);
      assert.ok(classes.length >= 3, 'the data must score several classes');
      assert.ok(single.flat().filter((n) => n > 0).length >= 6, 'the model must predict a mix of classes, or the equality says little');
      await both(m, data.dataset, workers, { batchSize: 4, scales: [0.5, 1], flip: true, evalIterations: 4 });
      await both(m, data.dataset, workers, { batchSize: 2, fold: false, limit: 7 });
    }
  });

  it('original-size evaluation (one image at a time, each at its own size) gives the same counts with a worker, streaming or not', async () => {
    await useBackend('wasm');
    const m = model(null);
    for (const data of [dataset(7, null), dataset(7, null, true)]) {
      for (const workers of [await pool(m, 2), await pool(m, 2, data)]) {
        await both(m, data.dataset, workers, { inference: { mode: 'whole' }, sizeMultiple: 8 });
        await both(m, data.dataset, workers, { inference: { mode: 'slide', cropSize: [8, 8], stride: [6, 6] }, flip: true });
      }
    }
  });

  it('a later evaluation sends the new weights: the pool follows a model that changes between evaluations', async () => {
    await useBackend('wasm');
    const m = model(16);
    const data = dataset(6, 16);
    const workers = await pool(m, 2, data);
    const first = await both(m, data.dataset, workers, { batchSize: 2 });
    perturb(m, 0.5);
    const second = await both(m, data.dataset, workers, { batchSize: 2 });
    assert.notDeepEqual(second, first, 'the perturbed model must predict differently, or this test says nothing');
  });

  it('workers follow the head state that is not a weight (an annealed η, a T_eval override) and compute the same bases usage', async () => {
    await useBackend('wasm');
    const m = model(16);
    const data = dataset(9, 16);
    const workers = await pool(m, 2, data); // created before the head changes
    const before = await evaluateSegmentation(m, data.dataset, { batchSize: 2 });
    const [head] = findHemHeads(m);
    assert.ok(head !== undefined);
    head.setStepSize(0.05);
    head.setEvalIterations(1);
    try {
      const after = await both(m, data.dataset, workers, { batchSize: 2 });
      assert.notDeepEqual(after, before.confusion.toArray(), 'η 0.05 at T 1 must predict differently, or this test says nothing');
      for (const iterations of [null, 4]) {
        const alone = await datasetBasesUsage(m, data.dataset, { batchSize: 2, iterations });
        const tensors = tf.memory().numTensors;
        const shared = await datasetBasesUsage(m, data.dataset, { batchSize: 2, iterations, workers });
        assert.equal(tf.memory().numTensors, tensors);
        assert.equal(shared.length, 1);
        assert.deepEqual(shared, alone);
      }
      const other = await datasetBasesUsage(m, data.dataset, { batchSize: 2, iterations: 1 });
      assert.notDeepEqual(other, await datasetBasesUsage(m, data.dataset, { batchSize: 2, iterations: 4 }), 'T must change the usage, or the T check says nothing');
    } finally {
      head.setStepSize(null);
      head.setEvalIterations(null);
    }
  });

  it('a pool mirrors only its own dataset, and checks the copy a worker builds', async () => {
    await useBackend('wasm');
    const m = model(16);
    const data = dataset(6, 16);
    const workers = await pool(m, 2, data);
    // The same contents but another object: sent images, not indices (the result is the same either way).
    const other = evaluationDataset(6, 16);
    assert.equal(workers.mirrors(other), false);
    await both(m, other, workers, { batchSize: 2 });
    await assert.rejects(createEvaluationWorkers(m, 2, undefined, { dataset: evaluationDataset(5, 16), source: data.source }), /a worker's dataset has 6 samples, this one 5; 'source' must build the same dataset/);
    await assert.rejects(createEvaluationWorkers(m, 2, undefined, { ...data, source: { ...data.source, exportName: 'nothing' } }), /a worker failed: .*no function export 'nothing'/);
    const settings: EvaluationSettings = { scales: [1], flip: false, sizeMultiple: 8, fold: true, evalIterations: null, inference: null };
    await assert.rejects(workers.evaluate(0, [6], settings), /'indices' must be sample indices in \[0, 6\), received \[6\]/);
    await assert.rejects((await pool(m, 2)).evaluate(0, [0], settings), /created without a dataset to mirror/);
  });

  it('rejects what it cannot do, clearly', async () => {
    await useBackend('wasm');
    const m = model(16);
    await assert.rejects(createEvaluationWorkers(m, 0), /'threads' must be a positive integer, received 0/);
    assert.equal(await createEvaluationWorkers(m, 1), null);
    const workers = await pool(m, 2);
    const settings: EvaluationSettings = { scales: [1], flip: false, sizeMultiple: 8, fold: true, evalIterations: null, inference: null };
    await assert.rejects(workers.predict(0, new Float32Array(16 * 16 * 3), [1, 16, 16, 3], settings), /a worker failed: parallelEvalWorker: 'predict' before 'load'/);
    await assert.rejects(workers.predict(1, new Float32Array(3), [1, 1, 1, 3], settings), /'slot' must be in \[0, 1\), received 1/);
    await assert.rejects(workers.predict(0, new Float32Array(5), [1, 16, 16, 3], settings), /'images' has 5 values, shape \[1, 16, 16, 3\] needs 768/);
    const other = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
    await assert.rejects(workers.load(other), /the model's weights differ/);
    other.dispose();
    await workers.load(m);
    // A worker's own failure (here: images with 5 channels for a 3-channel model) rejects with its message; the pool stays usable.
    await assert.rejects(workers.predict(0, new Float32Array(16 * 16 * 5), [1, 16, 16, 5], settings), /EvaluationWorkerPool: a worker failed: /);
    const classes = await workers.predict(0, new Float32Array(16 * 16 * 3), [1, 16, 16, 3], settings);
    assert.equal(classes.length, 256);
    await workers.close();
    await assert.rejects(workers.predict(0, new Float32Array(768), [1, 16, 16, 3], settings), /the pool is closed/);
  });
});
