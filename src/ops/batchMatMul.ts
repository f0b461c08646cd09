/**
 * Batched matrix product that stays on the fast path of the wasm backend.
 *
 * On wasm (tfjs 4.22) a rank-2 `matMul` without transpose flags runs at
 * ~22-28 GFLOP/s, while a batched (rank-3) or transposed `matMul` runs at
 * 0.4-2.3 GFLOP/s. HEM is made of exactly those batched, transposed products,
 * so `batchMatMul` splits the batch into rank-2 products, materialises the
 * transposes explicitly, and does the same for its gradient (via
 * `tf.customGrad`), so the backward pass also stays on the fast path.
 * On other backends it defers to the stock `tf.matMul`, which is already
 * fast there.
 */
import * as tf from '@tensorflow/tfjs';

export interface BatchMatMulOptions {
  /** Use op(A) = Aᵀ. */
  transposeA?: boolean;
  /** Use op(B) = Bᵀ. */
  transposeB?: boolean;
  /**
   * `'auto'` (default): the split rank-2 path on wasm, stock `tf.matMul`
   * elsewhere. `'split'` / `'stock'` force one path (for tests and benches).
   */
  path?: 'auto' | 'split' | 'stock';
}

/** Rank-2 product with explicit transposes: no transpose flags reach matMul. */
function product2d(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D {
  const left = transposeA ? tf.transpose(a) : a;
  const right = transposeB ? tf.transpose(b) : b;
  return tf.matMul(left, right);
}

/** op(A)·op(B) for rank-3 tensors, one rank-2 product per batch item. */
function splitProduct(a: tf.Tensor3D, b: tf.Tensor3D, transposeA: boolean, transposeB: boolean): tf.Tensor3D {
  return tf.tidy(() => {
    const batch = a.shape[0];
    if (batch === 1) {
      const single = product2d(
        tf.reshape(a, [a.shape[1], a.shape[2]]),
        tf.reshape(b, [b.shape[1], b.shape[2]]),
        transposeA,
        transposeB,
      );
      return tf.expandDims(single, 0) as tf.Tensor3D;
    }
    const aItems = tf.unstack(a) as tf.Tensor2D[];
    const bItems = tf.unstack(b) as tf.Tensor2D[];
    const products = aItems.map((item, index) => {
      const other = bItems[index];
      if (other === undefined) throw new Error('batchMatMul: internal batch mismatch');
      return product2d(item, other, transposeA, transposeB);
    });
    return tf.stack(products) as tf.Tensor3D;
  });
}

/**
 * The gradient of C = op(A)·op(B) written with the same split products:
 * - C = A·B:   dA = dC·Bᵀ,   dB = Aᵀ·dC
 * - C = Aᵀ·B:  dA = B·dCᵀ,   dB = A·dC
 * - C = A·Bᵀ:  dA = dC·B,    dB = dCᵀ·A
 * - C = Aᵀ·Bᵀ: dA = Bᵀ·dCᵀ,  dB = dCᵀ·Aᵀ
 */
function splitGradients(
  dy: tf.Tensor3D,
  a: tf.Tensor3D,
  b: tf.Tensor3D,
  transposeA: boolean,
  transposeB: boolean,
): [tf.Tensor3D, tf.Tensor3D] {
  if (!transposeA && !transposeB) return [splitProduct(dy, b, false, true), splitProduct(a, dy, true, false)];
  if (transposeA && !transposeB) return [splitProduct(b, dy, false, true), splitProduct(a, dy, false, false)];
  if (!transposeA && transposeB) return [splitProduct(dy, b, false, false), splitProduct(dy, a, true, false)];
  return [splitProduct(b, dy, true, true), splitProduct(dy, a, true, true)];
}

let defaultPath: 'auto' | 'split' | 'stock' = 'auto';

/**
 * Sets the path used when a call does not choose one (benchmarks use this to
 * compare HEM on stock `tf.matMul` with the split path). Returns the old one.
 */
export function setDefaultBatchMatMulPath(path: 'auto' | 'split' | 'stock'): 'auto' | 'split' | 'stock' {
  if (path !== 'auto' && path !== 'split' && path !== 'stock') {
    throw new Error(`setDefaultBatchMatMulPath: 'path' must be 'auto', 'split' or 'stock', received '${String(path)}'`);
  }
  const previous = defaultPath;
  defaultPath = path;
  return previous;
}

const splitWithGradient = new Map<string, (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D>();

function splitOp(transposeA: boolean, transposeB: boolean): (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D {
  const key = `${transposeA}:${transposeB}`;
  let op = splitWithGradient.get(key);
  if (op === undefined) {
    op = tf.customGrad((a, b, save) => {
      const left = a as tf.Tensor3D;
      const right = b as tf.Tensor3D;
      (save as tf.GradSaveFunc)([left, right]);
      return {
        value: splitProduct(left, right, transposeA, transposeB),
        gradFunc: (dy, saved) => {
          const [savedA, savedB] = saved as [tf.Tensor3D, tf.Tensor3D];
          return splitGradients(dy as tf.Tensor3D, savedA, savedB, transposeA, transposeB);
        },
      };
    }) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;
    splitWithGradient.set(key, op);
  }
  return op;
}

/**
 * Below this many multiply-adds per batch item, `'auto'` keeps the stock
 * batched matMul even on wasm, where hemnet's BatchMatMul kernel runs such
 * products in WebAssembly SIMD (src/kernels/batchMatMulSimd.ts, below the
 * same bound): HEM T = 3 forward + backward at the attention-bench size
 * (B 8, N 256, C 128, K 32, 2²⁰ per item) took 37.9 ms batched against
 * 96.8 ms split per item (bench/batched-matmul.ts and the HEM unroll, one
 * run under load), while at the paper's size (138 M per item) the split
 * path was faster (2.90 s against 3.40 s).
 */
export const SPLIT_MIN_WORK = 1 << 22;

/**
 * True when products run as split rank-2 products (wasm by default); with
 * `work` (multiply-adds per batch item), `'auto'` splits only from
 * `SPLIT_MIN_WORK` on.
 */
export function usesSplitPath(path: 'auto' | 'split' | 'stock' = defaultPath, work?: number): boolean {
  if (path === 'split') return true;
  if (path !== 'auto' || tf.getBackend() !== 'wasm') return false;
  return work === undefined || work >= SPLIT_MIN_WORK;
}

/**
 * op(A)·op(B) for A `[B, M, K]` (or `[B, K, M]` with `transposeA`) and
 * B `[B, K, P]` (or `[B, P, K]` with `transposeB`); returns `[B, M, P]`.
 * Exact against `tf.matMul(a, b, transposeA, transposeB)`, with gradients.
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D, options: BatchMatMulOptions = {}): tf.Tensor3D {
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  if (a.rank !== 3 || b.rank !== 3) {
    throw new Error(`batchMatMul: 'a' and 'b' must be rank 3, received ranks ${a.rank} and ${b.rank}`);
  }
  if (a.shape[0] !== b.shape[0]) {
    throw new Error(`batchMatMul: batch sizes must match, received ${a.shape[0]} and ${b.shape[0]}`);
  }
  const innerA = transposeA ? a.shape[1] : a.shape[2];
  const innerB = transposeB ? b.shape[2] : b.shape[1];
  if (innerA !== innerB) {
    throw new Error(
      `batchMatMul: inner dimensions must match, received [${a.shape.join(', ')}] and [${b.shape.join(', ')}] ` +
        `with transposeA=${transposeA}, transposeB=${transposeB}`,
    );
  }
  const rows = transposeA ? a.shape[2] : a.shape[1];
  const columns = transposeB ? b.shape[1] : b.shape[2];
  if (!usesSplitPath(options.path, rows * innerA * columns)) return tf.matMul(a, b, transposeA, transposeB);
  return splitOp(transposeA, transposeB)(a, b);
}
