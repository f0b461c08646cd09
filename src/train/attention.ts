/**
 * What the HEM head of a segmentation model does on one image (the paper's
 * Fig. 4): the attention maps γ·k of every EM iteration, and the ELBO of
 * every iteration (Proposition 1). Platform-neutral: returns an RGBA image
 * to write as PNG (Node, `writePng`) or to draw on a canvas (browser).
 */
import * as tf from '@tensorflow/tfjs';
import type { SegmentationSample } from '../data/types.js';
import { disposeHemResult } from '../em/unroll.js';
import { heatmapGrid, type RgbaImage } from '../plots/image.js';
import { findHemHeads } from './evaluate.js';

export interface AttentionMapOptions {
  /** Bases shown: those with the most responsibility at the last iteration. Default 8. */
  columns?: number;
  /** EM iterations T to unroll. Default: the head's evaluation T. */
  iterations?: number;
  /** Pixel gap between tiles. Default 2. */
  gap?: number;
  /**
   * 'all' (default): one colour range for the whole grid, so bases compare;
   * 'each': every map to its own range, so a basis with little mass still
   * shows where it attends.
   */
  normalize?: 'all' | 'each';
}

export interface AttentionMaps {
  /** Rows t = 1..T, one column per chosen basis; viridis, scaled as `normalize` says. */
  grid: RgbaImage;
  /** Indices k of the bases shown, left to right. */
  bases: number[];
  /** [h, w] of one map (the feature grid the head sees). */
  featureSize: [number, number];
  /** ELBO L(μ⁽ᵗ⁾, γ⁽ᵗ⁾) after every N-step t = 1..T (Eq. 10). */
  elbo: number[];
  /** Responsibility mass Σₙ γₙₖ of every basis at the last iteration. */
  mass: number[];
}

/**
 * Attention maps of the first HEM head of `model` on `sample`; `null` when
 * the model has no HEM head (e.g. the 'fcn' head). Leaves no tensors behind.
 */
export function attentionMaps(model: tf.LayersModel, sample: SegmentationSample, options: AttentionMapOptions = {}): AttentionMaps | null {
  const fn = 'attentionMaps';
  const { columns = 8, iterations, gap = 2, normalize = 'all' } = options;
  if (!Number.isInteger(columns) || columns < 1) throw new Error(`${fn}: 'columns' must be an integer ≥ 1, received ${String(columns)}`);
  if (normalize !== 'all' && normalize !== 'each') throw new Error(`${fn}: 'normalize' must be 'all' or 'each', received '${String(normalize)}'`);
  const inputShape = model.inputs[0]?.shape ?? [];
  const channels = inputShape[3];
  if (sample.channels !== channels) {
    throw new Error(`${fn}: the sample has ${sample.channels} channels, the model expects ${String(channels)}`);
  }
  const head = findHemHeads(model)[0];
  if (head === undefined) return null;
  // execute (not predict): any height and width, with the model's own layers and weights.
  const features = tf.tidy(() => model.execute(tf.tensor4d(sample.image, [1, sample.height, sample.width, sample.channels]), (head.input as tf.SymbolicTensor).name) as tf.Tensor4D);
  const [, h, w] = features.shape;
  const result = head.attend(features, iterations);
  try {
    const trace = result.trace ?? [];
    const k = result.gamma.shape[2];
    const mass = Array.from(tf.tidy(() => tf.sum(result.gamma, [0, 1]).dataSync()));
    const bases = Array.from({ length: k }, (_, i) => i)
      .sort((a, b) => (mass[b] as number) - (mass[a] as number))
      .slice(0, Math.min(columns, k));
    const maps = new Float32Array(trace.length * bases.length * h * w);
    let offset = 0;
    for (const step of trace) {
      const gamma = step.gamma.dataSync(); // [1, N, K]
      for (const basis of bases) for (let n = 0; n < h * w; n++) maps[offset++] = gamma[n * k + basis] as number;
    }
    const elbo = trace.map((step) => step.elboAfter.dataSync()[0] as number);
    const scale = Math.max(1, Math.floor(sample.height / h));
    const grid = heatmapGrid(maps, [trace.length * bases.length, h, w], { columns: bases.length, scale, normalize, gap });
    return { grid, bases, featureSize: [h, w], elbo, mass };
  } finally {
    disposeHemResult(result);
    features.dispose();
  }
}
