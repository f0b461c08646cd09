/**
 * A dense layer whose forward and backward passes stay on wasm's fast path.
 *
 * On wasm (tfjs 4.22, see STACK-NOTES) a rank-2 `matMul` without transpose
 * flags runs at ~25 GFLOP/s but a transposed one at ~1-2 GFLOP/s, and the
 * stock gradient of `tf.layers.dense` uses transposed products: a 30-layer,
 * 512-unit MLP step with batch 128 took 3.8 s. Here y = x·W + b with
 *   dx = dy·Wᵀ,  dW = xᵀ·dy,  db = Σ_batch dy,
 * the transposes materialised explicitly (a cheap copy) before each product
 * on wasm; elsewhere (native: oneDNN/OpenBLAS take the flags at full speed,
 * the copies cost 14% of a 100-layer step) the products take transpose flags.
 * Experiments only: a stand-in for `tf.layers.dense` without activation.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, hashSeed } from '../../src/data/random.js';

/** A tfjs-layers initializer instance (the class itself is not exported by tfjs). */
export type InitializerInstance = ReturnType<typeof tf.initializers.zeros>;

export interface FastDenseArgs {
  units: number;
  kernelInitializer: InitializerInstance;
  name?: string;
}

const affine = tf.customGrad((...args: unknown[]) => {
  const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, w]);
  const value = tf.add(tf.matMul(x, w), b);
  const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): tf.Tensor[] => {
    const d = dy as tf.Tensor2D;
    const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
    if (tf.getBackend() !== 'wasm') return [tf.matMul(d, ws, false, true), tf.matMul(xs, d, true, false), tf.sum(d, 0)];
    return [tf.matMul(d, tf.transpose(ws)), tf.matMul(tf.transpose(xs), d), tf.sum(d, 0)];
  };
  return { value, gradFunc };
}) as unknown as (x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/** x [B, C_in] → x·W + b [B, units]. */
export class FastDense extends tf.layers.Layer {
  static readonly className = 'FastDense';
  readonly units: number;
  private readonly initializer: InitializerInstance;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: FastDenseArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    this.units = args.units;
    this.initializer = args.kernelInitializer;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = inputShape as tf.Shape;
    const inputs = shape[shape.length - 1];
    if (typeof inputs !== 'number') throw new Error(`FastDense: the last input dimension must be known, received ${String(inputs)}`);
    this.kernel = this.addWeight('kernel', [inputs, this.units], 'float32', this.initializer);
    this.bias = this.addWeight('bias', [this.units], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = inputShape as tf.Shape;
    return [...shape.slice(0, -1), this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor2D;
    if (this.kernel === null || this.bias === null) throw new Error('FastDense: call before build');
    return affine(x, this.kernel.read(), this.bias.read());
  }
}

/**
 * A [rows, cols] matrix with orthonormal columns (rows ≥ cols) or rows
 * (rows < cols), times `gain`: modified Gram–Schmidt in float64 on a seeded
 * Gaussian matrix. tfjs' own `orthogonal` initializer takes ~2.5 s for
 * 512×512 here; this takes a fraction of a second.
 */
export function orthogonalMatrix(rows: number, cols: number, seed: number, gain = 1): tf.Tensor2D {
  const tall = rows >= cols;
  const n = tall ? rows : cols; // vector length
  const m = tall ? cols : rows; // number of vectors
  const rng = createRng(hashSeed(seed, rows, cols));
  const vectors: Float64Array[] = [];
  for (let j = 0; j < m; j++) {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.normal();
    for (const q of vectors) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += (q[i] as number) * (v[i] as number);
      for (let i = 0; i < n; i++) v[i] = (v[i] as number) - dot * (q[i] as number);
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += (v[i] as number) ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) v[i] = (v[i] as number) / norm;
    vectors.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let j = 0; j < m; j++) {
    const v = vectors[j] as Float64Array;
    for (let i = 0; i < n; i++) {
      // tall: vector j is column j; wide: vector j is row j.
      const index = tall ? i * cols + j : j * cols + i;
      out[index] = gain * (v[i] as number);
    }
  }
  return tf.tensor2d(out, [rows, cols]);
}

/** Overwrites the kernel of every FastDense layer with `units` outputs by an orthogonal matrix. */
export function orthogonalizeKernels(model: tf.LayersModel, seed: number, units: number, gain = 1): void {
  model.layers.forEach((layer, index) => {
    if (!(layer instanceof FastDense) || layer.units !== units) return;
    const [kernel, bias] = layer.getWeights();
    if (kernel === undefined || bias === undefined) return;
    const [rows, cols] = kernel.shape as [number, number];
    const q = orthogonalMatrix(rows, cols, hashSeed(seed, index), gain);
    layer.setWeights([q, bias]);
    q.dispose(); // getWeights returns the live variables: not disposed here
  });
}
