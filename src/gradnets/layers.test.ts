import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { GradNetLayer } from './base.js';
import { GradualInterpolation } from './interpolation.js';
import { GradualReLU } from './activations.js';
import { GradualDropout } from './dropout.js';
import { setDropoutStream } from '../layers/dropout.js';
import { GradualPooling2D } from './pooling.js';
import { GradualBatchNormalization } from './normalization.js';
import { GradualConv2D, GradualNetworkInNetwork } from './convolution.js';
import { GradualSpatialTransformer } from './spatialTransformer.js';
import { affineSample } from './sampler.js';
import { TEST_BACKENDS, assertClose, assertNoLeak, randn, useBackend } from '../../test/helpers.js';
import { assertExact, loadedLayer, saveAndLoad, wrapInModel } from '../../test/gradnets-helpers.js';

interface ComponentCase {
  title: string;
  make: () => GradNetLayer;
  /** Input shape without the batch dimension. */
  inputShape: number[];
  /** The g = 0 branch, computed independently of the interpolation. */
  early: (layer: GradNetLayer, x: tf.Tensor) => tf.Tensor;
  /** The g = 1 branch. */
  late: (layer: GradNetLayer, x: tf.Tensor) => tf.Tensor;
}

const apply = (layer: tf.layers.Layer, x: tf.Tensor): tf.Tensor => layer.apply(x) as tf.Tensor;

const CASES: ComponentCase[] = [
  {
    title: 'GradualInterpolation (dense → dense+tanh)',
    make: () =>
      new GradualInterpolation({
        early: tf.layers.dense({ units: 3 }),
        late: tf.layers.dense({ units: 3, activation: 'tanh' }),
      }),
    inputShape: [5],
    early: (l, x) => apply((l as GradualInterpolation).early, x),
    late: (l, x) => apply((l as GradualInterpolation).late, x),
  },
  {
    title: 'GradualReLU (identity → ReLU)',
    make: () => new GradualReLU(),
    inputShape: [4, 3],
    early: (_l, x) => tf.clone(x),
    late: (_l, x) => tf.relu(x),
  },
  {
    title: 'inverse GradualReLU (|x| → ReLU)',
    make: () => new GradualReLU({ slopeStart: -1 }),
    inputShape: [6],
    early: (_l, x) => tf.abs(x),
    late: (_l, x) => tf.relu(x),
  },
  {
    title: 'GradualDropout (inference: identity at every g)',
    make: () => new GradualDropout({ rate: 0.5 }),
    inputShape: [7],
    early: (_l, x) => tf.clone(x),
    late: (_l, x) => tf.clone(x),
  },
  {
    title: 'GradualPooling2D (mean → max)',
    make: () => new GradualPooling2D({ poolSize: 2, strides: 2, padding: 'same' }),
    inputShape: [5, 6, 2],
    early: (_l, x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'same'),
    late: (_l, x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'same'),
  },
  {
    title: 'GradualBatchNormalization (BN → identity)',
    make: () => new GradualBatchNormalization(),
    inputShape: [3, 3, 4],
    early: (l, x) => apply((l as GradualBatchNormalization).batchNorm, x),
    late: (_l, x) => tf.clone(x),
  },
  {
    title: 'GradualConv2D (identity → conv)',
    make: () => new GradualConv2D({ kernelSize: 3 }),
    inputShape: [4, 4, 3],
    early: (_l, x) => tf.clone(x),
    late: (l, x) => apply((l as GradualConv2D).convolution as tf.layers.Layer, x),
  },
  {
    title: 'GradualNetworkInNetwork (conv → NiN)',
    make: () => new GradualNetworkInNetwork({ filters: 4, kernelSize: 3, strides: 2, mlpLayers: 2 }),
    inputShape: [6, 6, 2],
    early: (l, x) => apply((l as GradualNetworkInNetwork).convolution, x),
    late: (l, x) => {
      const nin = l as GradualNetworkInNetwork;
      let h = apply(nin.convolution, x);
      for (const p of nin.pointwise) h = apply(p, h);
      return h;
    },
  },
  {
    title: 'GradualSpatialTransformer (bilinear downsample → STN with a conv localisation stage)',
    make: () => new GradualSpatialTransformer({ outputSize: [3, 3], downsample: 'bilinear', localizationFilters: [2], localizationKernelSize: 3, localizationUnits: 5 }),
    inputShape: [4, 5, 1],
    early: (_l, x) => tf.image.resizeBilinear(x as tf.Tensor4D, [3, 3], false, true),
    late: (l, x) => affineSample(x as tf.Tensor4D, (l as GradualSpatialTransformer).predictTheta(x as tf.Tensor4D), [3, 3]),
  },
  {
    title: 'GradualSpatialTransformer (mean-pool downsample → affine STN)',
    make: () => new GradualSpatialTransformer({ outputSize: [3, 2], localizationUnits: 8 }),
    inputShape: [6, 6, 2],
    early: (_l, x) => tf.avgPool(x as tf.Tensor4D, [2, 3], [2, 3], 'valid'),
    late: (l, x) => {
      const stn = l as GradualSpatialTransformer;
      return affineSample(x as tf.Tensor4D, stn.predictTheta(x as tf.Tensor4D), [3, 2]);
    },
  },
];

/** Gives every trainable weight a random value so that the branches differ (STN starts at θ = identity). */
function randomizeWeights(layer: tf.layers.Layer, seed: number): void {
  tf.tidy(() => {
    layer.trainableWeights.forEach((w, i) => w.write(randn(w.shape as number[], seed + i, 0.3)));
  });
}

for (const backend of TEST_BACKENDS) {
  describe(`GradNet components on ${backend}`, () => {
    for (const c of CASES) {
      describe(c.title, () => {
        it('equals its early branch at g = 0 and its late branch at g = 1 exactly, and mixes linearly between', async () => {
          await useBackend(backend);
          const layer = c.make();
          const x = randn([2, ...c.inputShape], 21);
          apply(layer, x).dispose(); // builds
          randomizeWeights(layer, 100);
          assert.equal(layer.gate, 0, 'initial g');
          const y0 = apply(layer, x);
          const early = c.early(layer, x);
          assertExact(y0, early, 'g = 0');
          layer.setGate(1);
          assert.equal(layer.gate, 1);
          const y1 = apply(layer, x);
          const late = c.late(layer, x);
          assertExact(y1, late, 'g = 1');
          layer.setGate(0.25);
          const yMid = apply(layer, x);
          const expected = tf.tidy(() => tf.add(tf.mul(late, 0.25), tf.mul(early, 0.75)));
          assertClose(yMid, expected, 1e-5, 1e-5, 'g = 0.25');
          tf.dispose([x, y0, y1, yMid, early, late, expected]);
          layer.dispose();
        });

        it('round-trips its config through fromConfig(getConfig())', async () => {
          await useBackend(backend);
          const layer = c.make();
          const config = layer.getConfig();
          const cls = layer.constructor as unknown as tf.serialization.SerializableConstructor<GradNetLayer>;
          const copy = cls.fromConfig(cls, JSON.parse(JSON.stringify(config)) as tf.serialization.ConfigDict);
          assert.ok(copy instanceof cls);
          assert.deepEqual(copy.getConfig(), config);
          assert.equal(copy.getClassName(), layer.getClassName());
          assert.match(layer.getClassName(), /^hemnet>Gradual/);
        });

        it('saves and loads with tf.loadLayersModel: same outputs, same g', async () => {
          await useBackend(backend);
          const layer = c.make();
          const model = wrapInModel(layer, c.inputShape);
          randomizeWeights(layer, 300);
          layer.setGate(0.375);
          const loaded = await saveAndLoad(model);
          const twin = loadedLayer(loaded, layer.name);
          assert.ok(twin instanceof GradNetLayer, 'loaded layer class');
          assert.equal(twin.gate, 0.375, 'g restored from the checkpoint');
          assert.deepEqual(
            loaded.weights.map((w) => w.originalName).sort(),
            model.weights.map((w) => w.originalName).sort(),
          );
          const x = randn([3, ...c.inputShape], 41);
          const a = model.predict(x) as tf.Tensor;
          const b = loaded.predict(x) as tf.Tensor;
          assertExact(b, a, 'loaded output');
          tf.dispose([x, a, b]);
          model.dispose();
          loaded.dispose();
        });

        it('leaks no tensors in inference and training calls', async () => {
          await useBackend(backend);
          const layer = c.make();
          const x = randn([2, ...c.inputShape], 9);
          layer.setGate(0.5);
          assertNoLeak(() => apply(layer, x), 'inference');
          assertNoLeak(() => layer.apply(x, { training: true }) as tf.Tensor, 'training');
          x.dispose();
          layer.dispose();
        });
      });
    }

    it('GradualReLU is one Prelu kernel over the tensor, with gradient slope 1 − g on the negative side', async () => {
      await useBackend(backend);
      const layer = new GradualReLU();
      const x = tf.tensor2d([[-2, -0.5, 0.5, 3], [1, -1, -4, 2]]);
      apply(layer, x).dispose();
      layer.setGate(0.25);
      const profile = await tf.profile(() => apply(layer, x));
      const full = profile.kernels.filter((k) => k.outputShapes.some((s) => s.length === 2 && s[0] === 2 && s[1] === 4));
      assert.deepEqual(
        full.map((k) => k.name),
        ['Prelu'],
        `kernels touching the full tensor: ${profile.kernels.map((k) => k.name).join(', ')}`,
      );
      assertClose(apply(layer, x), [-1.5, -0.375, 0.5, 3, 1, -0.75, -3, 2], 1e-6, 0, 'values');
      const w = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]]);
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(apply(layer, t), w)))(x);
      assertClose(dx, [0.75, 1.5, 3, 4, 5, 4.5, 5.25, 8], 1e-6, 0, 'gradient');
      tf.dispose([x, w, dx]);
      layer.dispose();
    });

    it('GradualDropout drops a fraction g·p in training, with inverted scaling, and none at g = 0', async () => {
      await useBackend(backend);
      const p = 0.8;
      const layer = new GradualDropout({ rate: p, seed: 5 });
      const x = tf.tidy(() => tf.add(tf.rand([400, 500], () => Math.random()), 1)); // values in [1, 2): never 0
      apply(layer, x).dispose();
      const trainingCall = (): tf.Tensor => layer.apply(x, { training: true }) as tf.Tensor;
      const y0 = trainingCall();
      assertExact(y0, x, 'g = 0 in training');
      for (const g of [0.25, 0.5, 1]) {
        layer.setGate(g);
        const y = trainingCall();
        const values = y.dataSync();
        const source = x.dataSync();
        let zeros = 0;
        const scale = 1 / (1 - g * p);
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as number;
          if (v === 0) zeros++;
          else assert.ok(Math.abs(v - (source[i] as number) * scale) < 1e-5 * scale * 2, `kept value not scaled by 1/(1 − g·p) at ${i}`);
        }
        const fraction = zeros / values.length;
        // 200k draws: the standard error of the fraction is < 0.0012.
        assert.ok(Math.abs(fraction - g * p) < 0.01, `g = ${g}: dropped ${fraction}, expected ${g * p}`);
        y.dispose();
      }
      const inference = apply(layer, x);
      assertExact(inference, x, 'inference is the identity at g = 1');
      tf.dispose([x, y0, inference]);
      layer.dispose();
    });

    it('GradualDropout draws its masks from (seed, announced step, shard), as Dropout does', async () => {
      await useBackend(backend);
      const before = tf.memory().numTensors;
      const x = tf.ones([64, 64]);
      const layers = [1, 2, 1].map((seed) => {
        const layer = new GradualDropout({ rate: 0.5, seed });
        layer.setGate(1);
        return layer;
      });
      const [a, b, aAgain] = layers as [GradualDropout, GradualDropout, GradualDropout];
      const mask = (layer: GradualDropout): Float32Array => {
        const y = layer.apply(x, { training: true }) as tf.Tensor;
        const values = y.dataSync() as Float32Array;
        y.dispose();
        return values;
      };
      const differ = (u: Float32Array, v: Float32Array): number => u.reduce((count, value, i) => count + (value !== v[i] ? 1 : 0), 0);
      try {
        // Own call counters: seed 1's second mask is not seed 2's first (it was, with seed + calls).
        mask(a);
        const aSecond = mask(a);
        const bFirst = mask(b);
        assert.ok(differ(aSecond, bFirst) > 1000, 'seed 1 at call 1 repeats seed 2 at call 0');
        // An announced step: the same mask for the same (seed, step, shard) in another instance, whatever its call count.
        setDropoutStream(7, 0);
        const atSeven = mask(a);
        assert.equal(differ(atSeven, mask(aAgain)), 0, 'two instances with one seed draw different masks at one step');
        setDropoutStream(8, 0);
        assert.ok(differ(atSeven, mask(a)) > 1000, 'steps 7 and 8 drew the same mask');
        setDropoutStream(7, 1);
        assert.ok(differ(atSeven, mask(a)) > 1000, 'shards 0 and 1 drew the same mask');
      } finally {
        setDropoutStream(null);
      }
      x.dispose();
      for (const layer of layers) layer.dispose();
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    });

    it('GradualSpatialTransformer starts at θ = identity and trains its localisation net only as g grows', async () => {
      await useBackend(backend);
      const layer = new GradualSpatialTransformer({ outputSize: [4, 4], downsample: 'bilinear', localizationUnits: 6 });
      const x = randn([2, 8, 8, 1], 17) as tf.Tensor4D;
      apply(layer, x).dispose();
      const theta = layer.predictTheta(x);
      assertClose(theta, [1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0], 0, 0, 'initial θ');
      // With θ = identity and bilinear downsampling both branches agree.
      layer.setGate(1);
      const stn = apply(layer, x);
      const resized = tf.image.resizeBilinear(x, [4, 4], false, true);
      assertClose(stn, resized, 1e-5, 0, 'identity STN = bilinear downsample');
      const thetaBias = (layer.localization[layer.localization.length - 1] as tf.layers.Layer).trainableWeights[1] as tf.LayerVariable;
      const biasGrad = (g: number): number => {
        layer.setGate(g);
        const { grads, value } = tf.variableGrads(
          () => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, tf.linspace(-1, 1, 32).reshape([2, 4, 4, 1]))) as tf.Scalar,
          [thetaBias.read() as tf.Variable],
        );
        const norm = tf.tidy(() => tf.norm(Object.values(grads)[0] as tf.Tensor).dataSync()[0] as number);
        tf.dispose([value, ...Object.values(grads)]);
        return norm;
      };
      assert.equal(biasGrad(0), 0, 'g = 0: the localisation net gets no gradient');
      assert.ok(biasGrad(1) > 1e-3, 'g = 1: the localisation net learns (on this backend)');
      tf.dispose([x, theta, stn, resized]);
      layer.dispose();
    });

    it('rejects bad arguments with named errors', async () => {
      await useBackend(backend);
      const mismatched = new GradualInterpolation({
        early: tf.layers.dense({ units: 3, name: 'small' }),
        late: tf.layers.dense({ units: 4, name: 'big' }),
      });
      assert.throws(
        () => wrapInModel(mismatched, [5]),
        /GradualInterpolation: 'early' and 'late' must produce equal output shapes, received \[null, 3\] from 'small' and \[null, 4\] from 'big' for input \[null, 5\]/,
      );
      const dense = tf.layers.dense({ units: 2 });
      assert.throws(() => new GradualInterpolation({ early: dense, late: dense }), /GradualInterpolation: 'early' and 'late' must be two different layer objects/);
      assert.throws(
        () => new GradualInterpolation({ early: dense, late: 'relu' as unknown as tf.layers.Layer }),
        /GradualInterpolation: 'late' must be a tf.layers.Layer, received string/,
      );
      assert.throws(() => new GradualDropout({ rate: 1 }), /GradualDropout: 'rate' must be a number in \[0, 1\), received 1/);
      assert.throws(() => new GradualDropout({ rate: -0.1 }), /GradualDropout: 'rate' must be a number in \[0, 1\), received -0.1/);
      assert.throws(() => new GradualReLU({ initialGate: 2 }), /GradualReLU: 'initialGate' must be a number in \[0, 1\], received 2/);
      assert.throws(() => new GradualReLU().setGate(1.5), /GradualReLU.setGate: 'g' must be a number in \[0, 1\], received 1.5/);
      assert.throws(() => new GradualReLU().setGate(NaN), /GradualReLU.setGate: 'g' must be a number in \[0, 1\], received NaN/);
      assert.throws(() => new GradualPooling2D({ poolSize: 0 }), /GradualPooling2D: 'poolSize' must be an integer ≥ 1, received 0/);
      assert.throws(
        () => new GradualPooling2D({ padding: 'causal' as 'same' }),
        /GradualPooling2D: 'padding' must be one of 'valid', 'same', received 'causal'/,
      );
      assert.throws(() => new GradualNetworkInNetwork({ filters: 0 }), /GradualNetworkInNetwork: 'filters' must be an integer ≥ 1, received 0/);
      assert.throws(() => wrapInModel(new GradualConv2D(), [5]), /GradualConv2D: input must be rank 4 \[B, H, W, C\] with known C, received shape \[null, 5\]/);
      assert.throws(
        () => wrapInModel(new GradualSpatialTransformer({ outputSize: [4, 4] }), [10, 8, 1]),
        /GradualSpatialTransformer: downsample 'average' needs the input size to be a multiple of 'outputSize' \[4, 4\], received input \[10, 8\]/,
      );
      assert.throws(() => new GradualSpatialTransformer({ outputSize: [4] as unknown as [number, number] }), /GradualSpatialTransformer: 'outputSize' must be \[h, w\], received \[4\]/);
      assert.throws(
        () => GradualReLU.fromConfig(GradualReLU, { slopeStrat: 0.5, name: 'typo' }),
        /GradualReLU: unknown argument 'slopeStrat'/,
      );
      assert.throws(() => new GradualBatchNormalization({ momentum: 2 }), /GradualBatchNormalization: 'momentum' must be a number in \[0, 1\], received 2/);
    });
  });
}

describe('GradNet components with convolutions: gradients on cpu', () => {
  it('GradualConv2D and GradualNetworkInNetwork send gradient to the late branch only when g > 0', async () => {
    await useBackend('cpu');
    // Kernels of ones on a positive input keep every ReLU active: with random initial
    // kernels a unit may start dead on this tiny input and give zero gradient for a
    // reason unrelated to the gate (it did, on one CI machine).
    for (const make of [
      () => new GradualConv2D({ kernelSize: 3, kernelInitializer: 'ones' }),
      () => new GradualNetworkInNetwork({ filters: 2, mlpLayers: 1, kernelInitializer: 'ones' }),
    ]) {
      const layer = make();
      const x = tf.tidy(() => tf.abs(randn([1, 4, 4, 2], 23)));
      apply(layer, x).dispose();
      const kernelOf = (l: GradNetLayer): tf.LayerVariable => {
        const late = l instanceof GradualConv2D ? (l.convolution as tf.layers.Layer) : (l as GradualNetworkInNetwork).pointwise[0]!;
        return late.trainableWeights[0] as tf.LayerVariable;
      };
      const kernel = kernelOf(layer);
      const gradNorm = (g: number): number => {
        layer.setGate(g);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.square(layer.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
          [kernel.read() as tf.Variable],
        );
        const n = tf.tidy(() => tf.norm(Object.values(grads)[0] as tf.Tensor).dataSync()[0] as number);
        tf.dispose([value, ...Object.values(grads)]);
        return n;
      };
      assert.equal(gradNorm(0), 0, `${layer.getClassName()}: no gradient to the late branch at g = 0`);
      assert.ok(gradNorm(0.5) > 1e-4, `${layer.getClassName()}: gradient to the late branch at g = 0.5`);
      x.dispose();
      layer.dispose();
    }
  });

  it('GradualBatchNormalization updates its moving statistics in training', async () => {
    await useBackend('cpu');
    const layer = new GradualBatchNormalization({ momentum: 0.5 });
    const x = tf.tidy(() => tf.add(randn([8, 2, 2, 3], 31), 4));
    apply(layer, x).dispose();
    const movingMean = (): number[] => Array.from(layer.nonTrainableWeights.find((w) => /moving_mean/.test(w.originalName))!.read().dataSync());
    assert.deepEqual(movingMean(), [0, 0, 0]);
    (layer.apply(x, { training: true }) as tf.Tensor).dispose();
    for (const m of movingMean()) assert.ok(m > 1, `moving mean ${m} moved towards the batch mean ≈ 4`);
    x.dispose();
    layer.dispose();
  });
});
