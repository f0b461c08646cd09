/**
 * The `native` tfjs backend: tfjs's cpu backend (tensors are plain JS typed
 * arrays) whose hot kernels call hemnet's Node-API addon in place, on the
 * arrays themselves (zero copy): convolutions and their gradients on oneDNN,
 * matrix products on OpenBLAS, elementwise / reduction / normalisation /
 * resize kernels in C++ with OpenMP. Every other kernel is the cpu one.
 * A kernel given something it does not handle (another dtype, NCHW, an
 * activation it does not fuse, non-contiguous reduction axes) runs the cpu
 * kernel, so results never depend on which path was taken.
 */
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './addon.js';
import { BN_MOVING_AVERAGE_KERNEL, BN_TRAINING_GRAD_KERNEL, BN_TRAINING_KERNEL } from './batchNormTraining.js';
import { HEM_UNROLL_GRAD_KERNEL, HEM_UNROLL_KERNEL, hemWorkspaceFloats } from './hemUnroll.js';
import { SOFTMAX_CROSS_ENTROPY_KERNEL } from './crossEntropy.js';
import { SUM_OF_SQUARES_KERNEL } from './sumOfSquares.js';
import { RELU_GRAD_KERNEL } from './reluGrad.js';
import { PRELU_GRAD_KERNEL } from './preluGrad.js';
import { checkPooledGradient, poolGeometry, pooledSize, type PoolGeometry } from '../../kernels/pooling.js';

type Inputs = tf.NamedTensorInfoMap;
type KernelArgs = { inputs: Inputs; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };

/** Outputs smaller than this many elements are not pooled (V8 allocates them cheaply). */
const POOL_MIN_ELEMENTS = 64;
/** Upper bound on the bytes kept in the pool. */
const POOL_MAX_BYTES = 256 * 1024 * 1024;

/**
 * tfjs's cpu backend class, taken from the app's own tfjs at run time (the
 * `cpu` backend that `@tensorflow/tfjs` registers), so that hemnet needs no
 * dependency on `@tensorflow/tfjs-backend-cpu` and always extends the copy
 * whose kernels it reuses. This module is loaded lazily, in Node only.
 */
function cpuBackendClass(): typeof MathBackendCPU {
  const cpu = tf.findBackend('cpu');
  if (cpu === null) throw new Error("native backend: tfjs has no 'cpu' backend to extend (is @tensorflow/tfjs imported?)");
  return cpu.constructor as typeof MathBackendCPU;
}
const CpuBackend = cpuBackendClass();

/** What `NativeBackend.fusedAdam` returns: the new tensor for each of w, m, v not updated in place. */
export interface FusedAdamResult {
  w: tf.TensorInfo | null;
  m: tf.TensorInfo | null;
  v: tf.TensorInfo | null;
}

/**
 * The cpu backend (tfjs's `MathBackendCPU`: tensors are JS typed arrays)
 * plus a pool of output buffers: allocating a fresh Float32Array costs more
 * than most kernels on it (zeroing, page faults, GC of external memory), so
 * the buffers of disposed native outputs are reused. A buffer is reused only
 * when no stored tensor refers to it any more (views made by cpu kernels,
 * e.g. a slice, count as references) and it never left the backend: once
 * `readSync`/`read` hands it out (`dataSync()`, `bufferSync`), it is never
 * recycled.
 */
export class NativeBackend extends CpuBackend {
  /** Live references per buffer this backend allocated (absent: not ours, or escaped). */
  private readonly owned = new WeakMap<ArrayBufferLike, number>();
  private readonly pool = new Map<number, Float32Array[]>();
  private pooledBytes = 0;

  constructor(readonly addon: NativeAddon) {
    super();
    // MathBackendCPU prints an advert for tfjs-node on its first write in Node.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }
  f32(t: tf.TensorInfo): Float32Array | null {
    if (t.dtype !== 'float32') return null;
    const values = this.data.get(t.dataId).values;
    return values instanceof Float32Array ? values : null;
  }
  /**
   * The values of `t` when nothing else can observe them: one tensor on its
   * dataId, the whole buffer, allocated here, no other stored tensor viewing
   * it (e.g. a slice) and never handed out by `readSync`. A kernel may then
   * overwrite them in place; otherwise null.
   */
  exclusive(t: tf.TensorInfo): Float32Array | null {
    const values = this.f32(t);
    if (values === null || this.refCount(t.dataId) !== 1) return null;
    if (this.owned.get(values.buffer) !== 1) return null;
    if (values.byteOffset !== 0 || values.byteLength !== values.buffer.byteLength) return null;
    return values;
  }
  /**
   * One Adam step (native/src/train.cc) of a float32 variable `w` with
   * moments `m`, `v` and gradient `g`. Each of w, m, v is updated in place
   * when `exclusive`, else written to a fresh buffer: the returned
   * replacements (null where updated in place) are for the caller to
   * `assign`. Null when an input is not a float32 array of w's size.
   */
  fusedAdam(w: tf.TensorInfo, m: tf.TensorInfo, v: tf.TensorInfo, g: tf.TensorInfo, params: Float32Array): FusedAdamResult | null {
    const wv = this.f32(w);
    const mv = this.f32(m);
    const vv = this.f32(v);
    const gv = this.f32(g);
    if (wv === null || mv === null || vv === null || gv === null) return null;
    const n = wv.length;
    if (mv.length !== n || vv.length !== n || gv.length !== n) return null;
    const wo = this.exclusive(w) ?? this.alloc(n);
    const mo = this.exclusive(m) ?? this.alloc(n);
    const vo = this.exclusive(v) ?? this.alloc(n);
    this.addon.adam(wv, mv, vv, gv, wo, mo, vo, params);
    const replace = (t: tf.TensorInfo, before: Float32Array, after: Float32Array): tf.TensorInfo | null =>
      after === before ? null : this.output(t.shape.slice(), after);
    return { w: replace(w, wv, wo), m: replace(m, mv, mo), v: replace(v, vv, vo) };
  }
  /** An output buffer of n elements; its contents are garbage (kernels overwrite every element). */
  alloc(n: number): Float32Array {
    if (n < POOL_MIN_ELEMENTS) {
      // Not pooled, but tracked (so that `exclusive` can vouch for it).
      const small = new Float32Array(n);
      this.owned.set(small.buffer, 0);
      return small;
    }
    const free = this.pool.get(n);
    const reused = free?.pop();
    if (reused !== undefined) {
      this.pooledBytes -= reused.byteLength;
      this.owned.set(reused.buffer, 0);
      return reused;
    }
    const fresh = new Float32Array(n);
    this.owned.set(fresh.buffer, 0);
    return fresh;
  }
  output(shape: number[], values: Float32Array): tf.TensorInfo {
    return this.makeTensorInfo(shape, 'float32', values);
  }
  private track(values: unknown): void {
    if (!ArrayBuffer.isView(values)) return;
    const count = this.owned.get(values.buffer);
    if (count !== undefined) this.owned.set(values.buffer, count + 1);
  }
  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object {
    const id = super.write(values, shape, dtype);
    this.track(values);
    return id;
  }
  override move(dataId: object, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    super.move(dataId, values, shape, dtype, refCount);
    this.track(values);
  }
  override readSync(dataId: object): tf.backend_util.BackendValues {
    const values = super.readSync(dataId);
    if (ArrayBuffer.isView(values)) this.owned.delete(values.buffer);
    return values;
  }
  override disposeData(dataId: object, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const released = super.disposeData(dataId, force);
    if (released && values !== undefined && ArrayBuffer.isView(values) && !this.data.has(dataId)) {
      const buffer = values.buffer;
      const count = this.owned.get(buffer);
      if (count !== undefined) {
        if (count > 1) this.owned.set(buffer, count - 1);
        else {
          this.owned.delete(buffer);
          if (buffer.byteLength >= POOL_MIN_ELEMENTS * 4 && this.pooledBytes + buffer.byteLength <= POOL_MAX_BYTES) {
            const whole = new Float32Array(buffer);
            const list = this.pool.get(whole.length) ?? [];
            list.push(whole);
            this.pool.set(whole.length, list);
            this.pooledBytes += buffer.byteLength;
          }
        }
      }
    }
    return released;
  }
  override dispose(): void {
    this.pool.clear();
    this.pooledBytes = 0;
    super.dispose();
  }
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Conv geometry in the addon's order, or null when the addon cannot run it. */
function geometry(info: tf.backend_util.Conv2DInfo): Int32Array | null {
  if (info.dataFormat !== 'channelsLast') return null;
  const p = info.padInfo;
  if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0) return null;
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth,
    info.dilationHeight, info.dilationWidth, p.top, p.left, p.bottom, p.right,
  ]);
}

type Pair = [number, number] | number;
function convInfo(xShape: number[], filterShape: number[], attrs: tf.NamedAttrMap): tf.backend_util.Conv2DInfo {
  const dataFormat = (attrs['dataFormat'] as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC';
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    (attrs['strides'] as Pair | undefined) ?? 1,
    (attrs['dilations'] as Pair | undefined) ?? 1,
    attrs['pad'] as 'valid' | 'same' | number,
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
}

const BINARY_OPS: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, SquaredDifference: 4, Maximum: 5, Minimum: 6 };
/** The addon's binary op a · step(b) (native/src/elementwise.cc). */
const RELU_GRAD_OP = 7;
/** The addon's binary op a < 0 ? b·a : a, tfjs's `Prelu` of x = a with slopes α = b. */
const PRELU_OP = 8;
const UNARY_OPS: Record<string, number> = { Relu: 0, Step: 1, Exp: 2, Log: 3, Sqrt: 4, Rsqrt: 5, Square: 6, Neg: 7, Relu6: 8, Sigmoid: 9, Abs: 10 };
const REDUCE_OPS: Record<string, number> = { Sum: 0, Mean: 1, Max: 2, Min: 3 };

/**
 * Builds the native kernel functions. `cpu(name)` is the cpu kernel to run
 * when the native one declines (returns null).
 */
export function nativeKernels(cpu: (name: string) => tf.KernelFunc): Map<string, tf.KernelFunc> {
  const kernels = new Map<string, tf.KernelFunc>();
  const define = (name: string, body: (args: KernelArgs, be: NativeBackend) => tf.TensorInfo | null): void => {
    const fallback = cpu(name);
    kernels.set(name, (args) => {
      const result = body(args as KernelArgs, args.backend as NativeBackend);
      return result ?? fallback(args);
    });
  };

  // --- elementwise -------------------------------------------------------
  const binary = (be: NativeBackend, op: number, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo | null => {
    const av = be.f32(a);
    const bv = be.f32(b);
    if (av === null || bv === null) return null;
    const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = be.alloc(size(shape));
    be.addon.binary(op, av, Int32Array.from(a.shape), bv, Int32Array.from(b.shape), out, Int32Array.from(shape));
    return be.output(shape, out);
  };
  for (const [name, op] of Object.entries(BINARY_OPS)) {
    define(name, ({ inputs }, be) => binary(be, op, inputs['a'] as tf.TensorInfo, inputs['b'] as tf.TensorInfo));
  }
  // dy · step(x) (reluGrad.ts): no cpu kernel to fall back on.
  kernels.set(RELU_GRAD_KERNEL, (args) => {
    const be = args.backend as NativeBackend;
    const y = binary(be, RELU_GRAD_OP, args.inputs['dy'] as tf.TensorInfo, args.inputs['x'] as tf.TensorInfo);
    if (y === null) throw new Error(`native ${RELU_GRAD_KERNEL}: float32 inputs only`);
    return y;
  });
  // tfjs's Prelu gradient for one α, one part per call (preluGrad.ts): no cpu kernel to fall back on.
  kernels.set(PRELU_GRAD_KERNEL, (args) => {
    const be = args.backend as NativeBackend;
    const x = args.inputs['x'] as tf.TensorInfo;
    const dyv = be.f32(args.inputs['dy'] as tf.TensorInfo);
    const xv = be.f32(x);
    const alphav = be.f32(args.inputs['alpha'] as tf.TensorInfo);
    const part = args.attrs?.['part'];
    if (dyv === null || xv === null || alphav === null || alphav.length !== 1 || dyv.length !== xv.length || (part !== 0 && part !== 1)) {
      throw new Error(`native ${PRELU_GRAD_KERNEL}: float32 dy and x of one size, a one-element alpha and part 0 or 1 only`);
    }
    const out = be.alloc(xv.length);
    be.addon.preluGrad(dyv, xv, alphav[0] as number, out, part);
    return be.output(x.shape.slice(), out);
  });
  define('Prelu', ({ inputs }, be) => binary(be, PRELU_OP, inputs['x'] as tf.TensorInfo, inputs['alpha'] as tf.TensorInfo));
  // Greater and Select, as tfjs's Prelu gradient runs them (x > 0 on the whole tensor, a select
  // of three same-shaped tensors), in JS on the arrays: the cpu kernels index every element
  // through broadcast strides, ≈ 8× slower. Other shapes and dtypes: the cpu kernels.
  define('Greater', ({ inputs }, be) => {
    const a = inputs['a'] as tf.TensorInfo;
    const b = inputs['b'] as tf.TensorInfo;
    const av = be.f32(a);
    const bv = be.f32(b);
    if (av === null || bv === null || bv.length !== 1) return null;
    const threshold = bv[0] as number;
    const out = new Uint8Array(av.length);
    for (let i = 0; i < av.length; i++) out[i] = (av[i] as number) > threshold ? 1 : 0;
    return be.makeTensorInfo(a.shape.slice(), 'bool', out);
  });
  define('Select', ({ inputs }, be) => {
    const condition = inputs['condition'] as tf.TensorInfo;
    const t = inputs['t'] as tf.TensorInfo;
    const e = inputs['e'] as tf.TensorInfo;
    const cv = be.data.get(condition.dataId).values;
    const tv = be.f32(t);
    const ev = be.f32(e);
    if (!(cv instanceof Uint8Array) || tv === null || ev === null || cv.length !== tv.length || ev.length !== tv.length) return null;
    const out = be.alloc(tv.length);
    for (let i = 0; i < out.length; i++) out[i] = (cv[i] as number) !== 0 ? (tv[i] as number) : (ev[i] as number);
    return be.output(t.shape.slice(), out);
  });
  const unary = (be: NativeBackend, op: number, x: tf.TensorInfo, alpha = 0): tf.TensorInfo | null => {
    const xv = be.f32(x);
    if (xv === null) return null;
    const out = be.alloc(xv.length);
    be.addon.unary(op, xv, out, alpha);
    return be.output(x.shape.slice(), out);
  };
  for (const [name, op] of Object.entries(UNARY_OPS)) {
    define(name, ({ inputs, attrs }, be) => unary(be, op, inputs['x'] as tf.TensorInfo, Number(attrs?.['alpha'] ?? 0)));
  }

  define('Transpose', ({ inputs, attrs }, be) => {
    const x = inputs['x'] as tf.TensorInfo;
    const xv = be.f32(x);
    const perm = attrs?.['perm'] as number[] | undefined;
    if (xv === null || perm === undefined || perm.length !== x.shape.length) return null;
    const out = be.alloc(xv.length);
    be.addon.transpose(xv, Int32Array.from(x.shape), Int32Array.from(perm), out);
    return be.output(perm.map((axis) => x.shape[axis] as number), out);
  });

  // --- reductions over one contiguous block of axes ----------------------
  for (const [name, op] of Object.entries(REDUCE_OPS)) {
    define(name, ({ inputs, attrs }, be) => {
      const x = inputs['x'] as tf.TensorInfo;
      const xv = be.f32(x);
      if (xv === null) return null;
      // axis null / undefined: every axis (tfjs's convention).
      // (Max names its axes `reductionIndices`, the others `axis`.)
      const key = attrs !== undefined && 'reductionIndices' in attrs ? 'reductionIndices' : 'axis';
      const axis = attrs?.[key] as number | number[] | null | undefined;
      const axes = (axis === null || axis === undefined ? x.shape.map((_, i) => i) : tf.util.parseAxisParam(axis, x.shape)).sort((p, q) => p - q);
      if (axes.length === 0) return null;
      const first = axes[0] as number;
      const last = axes[axes.length - 1] as number;
      if (last - first + 1 !== axes.length) return null;
      const outer = size(x.shape.slice(0, first));
      const reduced = size(x.shape.slice(first, last + 1));
      const inner = size(x.shape.slice(last + 1));
      if (reduced === 0) return null;
      const out = be.alloc(outer * inner);
      be.addon.reduce(op, xv, out, outer, reduced, inner);
      const keep = attrs?.['keepDims'] === true;
      const shape = keep ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : x.shape.filter((_, i) => i < first || i > last);
      return be.output(shape, out);
    });
  }

  // --- softmax, batch norm -----------------------------------------------
  define('Softmax', ({ inputs, attrs }, be) => {
    const x = inputs['logits'] as tf.TensorInfo;
    const xv = be.f32(x);
    const dim = Number(attrs?.['dim'] ?? -1);
    if (xv === null || x.shape.length === 0 || (dim !== -1 && dim !== x.shape.length - 1)) return null;
    const cols = x.shape[x.shape.length - 1] as number;
    const out = be.alloc(xv.length);
    be.addon.softmax(xv, out, cols === 0 ? 0 : xv.length / cols, cols);
    return be.output(x.shape.slice(), out);
  });
  define('FusedBatchNorm', ({ inputs, attrs }, be) => {
    const x = inputs['x'] as tf.TensorInfo;
    const get = (key: string): Float32Array | null | undefined => {
      const t = inputs[key] as tf.TensorInfo | undefined | null;
      return t === undefined || t === null ? undefined : be.f32(t);
    };
    const xv = be.f32(x);
    const mean = get('mean');
    const variance = get('variance');
    const offset = get('offset');
    const scale = get('scale');
    if (xv === null || mean == null || variance == null || offset === null || scale === null) return null;
    const out = be.alloc(xv.length);
    be.addon.batchNorm(xv, mean, variance, offset ?? null, scale ?? null, out, Number(attrs?.['varianceEpsilon'] ?? 0.001));
    return be.output(x.shape.slice(), out);
  });

  // --- resize --------------------------------------------------------------
  define('ResizeBilinear', ({ inputs, attrs }, be) => {
    const x = inputs['images'] as tf.TensorInfo;
    const xv = be.f32(x);
    if (xv === null || x.shape.length !== 4) return null;
    const [B, H, W, C] = x.shape as [number, number, number, number];
    const [nH, nW] = attrs?.['size'] as [number, number];
    const flags = (attrs?.['alignCorners'] === true ? 1 : 0) | (attrs?.['halfPixelCenters'] === true ? 2 : 0);
    const out = be.alloc(B * nH * nW * C);
    be.addon.resizeBilinear(xv, out, Int32Array.from([B, H, W, C, nH, nW, flags]));
    return be.output([B, nH, nW, C], out);
  });
  define('ResizeBilinearGrad', ({ inputs, attrs }, be) => {
    const images = inputs['images'] as tf.TensorInfo;
    const dy = inputs['dy'] as tf.TensorInfo;
    const dyv = be.f32(dy);
    if (dyv === null || images.shape.length !== 4) return null;
    const [B, H, W, C] = images.shape as [number, number, number, number];
    const [, yH, yW] = dy.shape as [number, number, number, number];
    const out = be.alloc(B * H * W * C);
    be.addon.resizeBilinearGrad(dyv, out, Int32Array.from([B, H, W, C, yH, yW, attrs?.['alignCorners'] === true ? 1 : 0]));
    // tfjs's cpu kernel reports [B, W, H, C]; the shape of the images is the right one.
    return be.output([B, H, W, C], out);
  });

  // --- pooling (native/src/pool.cc; the semantics are tfjs's cpu kernels', see src/kernels/pooling.ts) ---
  const poolParams = (g: PoolGeometry): Int32Array =>
    Int32Array.from([g.batch, g.inHeight, g.inWidth, g.channels, g.outHeight, g.outWidth, g.strideHeight, g.strideWidth, g.filterHeight, g.filterWidth, g.padTop, g.padLeft]);
  const pool = (be: NativeBackend, mode: 0 | 2, x: tf.TensorInfo, attrs: tf.NamedAttrMap | undefined): tf.TensorInfo | null => {
    const xv = be.f32(x);
    const g = poolGeometry(x.shape, attrs);
    if (xv === null || g === null) return null;
    const out = be.alloc(pooledSize(g));
    be.addon.pool(mode, xv, null, out, poolParams(g));
    return be.output([g.batch, g.outHeight, g.outWidth, g.channels], out);
  };
  define('MaxPool', ({ inputs, attrs }, be) => pool(be, 0, inputs['x'] as tf.TensorInfo, attrs));
  define('AvgPool', ({ inputs, attrs }, be) => pool(be, 2, inputs['x'] as tf.TensorInfo, attrs));
  const poolGrad = (be: NativeBackend, mode: 1 | 3, inputs: Inputs, attrs: tf.NamedAttrMap | undefined): tf.TensorInfo | null => {
    const x = inputs['input'] as tf.TensorInfo;
    const xv = be.f32(x);
    const dyv = be.f32(inputs['dy'] as tf.TensorInfo);
    const g = poolGeometry(x.shape, attrs);
    if (xv === null || dyv === null || g === null) return null;
    checkPooledGradient(mode === 1 ? 'MaxPoolGrad' : 'AvgPoolGrad', g, (inputs['dy'] as tf.TensorInfo).shape);
    const dx = be.alloc(xv.length);
    if (mode === 1) be.addon.pool(1, xv, dyv, dx, poolParams(g));
    else be.addon.pool(3, dyv, null, dx, poolParams(g));
    return be.output(x.shape.slice(), dx);
  };
  define('MaxPoolGrad', ({ inputs, attrs }, be) => poolGrad(be, 1, inputs, attrs));
  define('AvgPoolGrad', ({ inputs, attrs }, be) => poolGrad(be, 3, inputs, attrs));

  // --- convolutions ------------------------------------------------------
  const conv = (be: NativeBackend, x: tf.TensorInfo, filter: tf.TensorInfo, attrs: tf.NamedAttrMap): tf.TensorInfo | null => {
    const xv = be.f32(x);
    const wv = be.f32(filter);
    if (xv === null || wv === null) return null;
    const info = convInfo(x.shape, filter.shape, attrs);
    const g = geometry(info);
    if (g === null) return null;
    const out = be.alloc(size(info.outShape));
    be.addon.conv2d(0, xv, wv, out, g);
    return be.output(info.outShape.slice(), out);
  };
  /**
   * A fused kernel's epilogue: `product()` (the conv or matMul), then + bias and ReLU in place.
   * Other activations and PReLU weights: null (tfjs then runs the unfused ops).
   */
  const withBiasAndActivation = (
    be: NativeBackend,
    inputs: tf.NamedTensorInfoMap,
    attrs: tf.NamedAttrMap | undefined,
    product: () => tf.TensorInfo | null,
  ): tf.TensorInfo | null => {
    const activation = (attrs?.['activation'] as string | undefined) ?? 'linear';
    if (activation !== 'linear' && activation !== 'relu') return null;
    if (inputs['preluActivationWeights'] != null) return null;
    const bias = inputs['bias'] as tf.TensorInfo | undefined | null;
    if (bias != null && be.f32(bias) === null) return null;
    let y = product();
    if (y === null) return null;
    if (bias != null) {
      const biased = binary(be, 0, y, bias);
      be.disposeIntermediateTensorInfo(y);
      if (biased === null) return null;
      y = biased;
    }
    if (activation === 'relu') {
      const yv = be.f32(y) as Float32Array;
      be.addon.unary(0, yv, yv, 0);
    }
    return y;
  };
  define('Conv2D', ({ inputs, attrs }, be) => conv(be, inputs['x'] as tf.TensorInfo, inputs['filter'] as tf.TensorInfo, attrs ?? {}));
  define('FusedConv2D', ({ inputs, attrs }, be) =>
    withBiasAndActivation(be, inputs, attrs, () => conv(be, inputs['x'] as tf.TensorInfo, inputs['filter'] as tf.TensorInfo, attrs ?? {})));
  define('Conv2DBackpropInput', ({ inputs, attrs }, be) => {
    const dy = inputs['dy'] as tf.TensorInfo;
    const filter = inputs['filter'] as tf.TensorInfo;
    const dyv = be.f32(dy);
    const wv = be.f32(filter);
    if (dyv === null || wv === null) return null;
    const inputShape = attrs?.['inputShape'] as number[];
    const info = convInfo(inputShape, filter.shape, attrs ?? {});
    const g = geometry(info);
    if (g === null) return null;
    const out = be.alloc(size(inputShape));
    be.addon.conv2d(1, dyv, wv, out, g);
    return be.output(inputShape.slice(), out);
  });
  define('Conv2DBackpropFilter', ({ inputs, attrs }, be) => {
    const x = inputs['x'] as tf.TensorInfo;
    const dy = inputs['dy'] as tf.TensorInfo;
    const xv = be.f32(x);
    const dyv = be.f32(dy);
    if (xv === null || dyv === null) return null;
    const filterShape = attrs?.['filterShape'] as number[];
    const info = convInfo(x.shape, filterShape, attrs ?? {});
    const g = geometry(info);
    if (g === null) return null;
    const out = be.alloc(size(filterShape));
    be.addon.conv2d(2, xv, dyv, out, g);
    return be.output(filterShape.slice(), out);
  });

  // --- batch-norm training (batchNormTraining.ts): no cpu kernel to fall back on
  kernels.set(BN_TRAINING_KERNEL, (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const be = args.backend as NativeBackend;
    const x = inputs['x'] as tf.TensorInfo;
    const xv = be.f32(x);
    const sv = be.f32(inputs['scale'] as tf.TensorInfo);
    const ov = be.f32(inputs['offset'] as tf.TensorInfo);
    if (xv === null || sv === null || ov === null) throw new Error(`native ${BN_TRAINING_KERNEL}: float32 inputs only`);
    const channels = x.shape[x.shape.length - 1] as number;
    const y = be.alloc(xv.length);
    const mean = be.alloc(channels);
    const variance = be.alloc(channels);
    be.addon.batchNormTrain(xv, sv, ov, y, mean, variance, channels, Number(attrs?.['epsilon']));
    return [be.output(x.shape.slice(), y), be.output([channels], mean), be.output([channels], variance)];
  });
  kernels.set(BN_MOVING_AVERAGE_KERNEL, (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const be = args.backend as NativeBackend;
    const decay = Number(attrs?.['decay']);
    return [['movingMean', 'mean'], ['movingVariance', 'variance']].map(([current, batch]) => {
      const c = inputs[current as string] as tf.TensorInfo;
      const cv = be.f32(c);
      const bv = be.f32(inputs[batch as string] as tf.TensorInfo);
      if (cv === null || bv === null || cv.length !== bv.length) throw new Error(`native ${BN_MOVING_AVERAGE_KERNEL}: float32 inputs of one size only`);
      const out = be.alloc(cv.length);
      be.addon.movingAverage(cv, bv, out, decay);
      return be.output(c.shape.slice(), out);
    });
  });
  kernels.set(BN_TRAINING_GRAD_KERNEL, (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const be = args.backend as NativeBackend;
    const x = inputs['x'] as tf.TensorInfo;
    const get = (key: string): Float32Array | null => {
      const t = inputs[key] as tf.TensorInfo | undefined;
      if (t === undefined) return null;
      const values = be.f32(t);
      if (values === null) throw new Error(`native ${BN_TRAINING_GRAD_KERNEL}: float32 inputs only (${key})`);
      return values;
    };
    const [dyv, xv, mv, vv, sv] = ['dy', 'x', 'mean', 'variance', 'scale'].map(get);
    if (dyv == null || xv == null || mv == null || vv == null || sv == null) throw new Error(`native ${BN_TRAINING_GRAD_KERNEL}: missing input`);
    const channels = x.shape[x.shape.length - 1] as number;
    const dx = be.alloc(xv.length);
    const dScale = be.alloc(channels);
    const dOffset = be.alloc(channels);
    be.addon.batchNormTrainGrad(dyv, xv, mv, vv, sv, get('dMean'), get('dVariance'), dx, dScale, dOffset, channels, Number(attrs?.['epsilon']));
    return [be.output(x.shape.slice(), dx), be.output([channels], dScale), be.output([channels], dOffset)];
  });

  // --- unrolled HEM (hemUnroll.ts): no cpu kernel to fall back on --------------
  /** The addon's float and int parameters of both HEM kernels, from x [B, N, C], mu0 and the attrs. */
  const hemParams = (x: tf.TensorInfo, mu0: tf.TensorInfo, attrs: tf.NamedAttrMap | undefined, where: string): { params: Float32Array; ints: Int32Array; workspace: number } => {
    if (x.shape.length !== 3 || (mu0.shape.length !== 2 && mu0.shape.length !== 3)) throw new Error(`native ${where}: x must be [B, N, C] and mu0 [K, C] or [B, K, C]`);
    const [B, N, C] = x.shape as [number, number, number];
    const K = mu0.shape[mu0.shape.length - 2] as number;
    const T = Number(attrs?.['iterations']);
    const normalize = attrs?.['normalizeBases'] === true;
    const ints = Int32Array.from([B, N, C, K, T, attrs?.['kernel'] === 'rbf' ? 1 : 0, normalize ? 1 : 0, mu0.shape.length === 3 ? 1 : 0]);
    const params = Float32Array.from([Number(attrs?.['stepSize']), Number(attrs?.['temperature'])]);
    return { params, ints, workspace: hemWorkspaceFloats(T, N, C, K, normalize) };
  };
  kernels.set(HEM_UNROLL_KERNEL, (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const be = args.backend as NativeBackend;
    const x = inputs['x'] as tf.TensorInfo;
    const mu0 = inputs['mu0'] as tf.TensorInfo;
    const xv = be.f32(x);
    const mv = be.f32(mu0);
    if (xv === null || mv === null) throw new Error(`native ${HEM_UNROLL_KERNEL}: float32 inputs only`);
    const { params, ints, workspace } = hemParams(x, mu0, attrs, HEM_UNROLL_KERNEL);
    const [B, N, C] = x.shape as [number, number, number];
    const K = ints[3] as number;
    const mu = be.alloc(B * K * C);
    const gamma = be.alloc(B * N * K);
    const reconstruction = be.alloc(B * N * C);
    const ws = be.alloc(B * workspace);
    be.addon.hemUnroll(xv, mv, mu, gamma, reconstruction, ws, params, ints);
    return [be.output([B, K, C], mu), be.output([B, N, K], gamma), be.output([B, N, C], reconstruction), be.output([B, workspace], ws)];
  });
  kernels.set(HEM_UNROLL_GRAD_KERNEL, (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const be = args.backend as NativeBackend;
    const get = (key: string): Float32Array | null => {
      const t = inputs[key] as tf.TensorInfo | undefined;
      if (t === undefined) return null;
      const values = be.f32(t);
      if (values === null) throw new Error(`native ${HEM_UNROLL_GRAD_KERNEL}: float32 inputs only (${key})`);
      return values;
    };
    const x = inputs['x'] as tf.TensorInfo;
    const mu0 = inputs['mu0'] as tf.TensorInfo;
    const xv = get('x');
    const wv = get('workspace');
    if (xv === null || wv === null) throw new Error(`native ${HEM_UNROLL_GRAD_KERNEL}: missing input`);
    const { params, ints } = hemParams(x, mu0, attrs, HEM_UNROLL_GRAD_KERNEL);
    const dx = be.alloc(xv.length);
    const dMu0 = be.alloc(size(mu0.shape));
    be.addon.hemUnrollGrad(get('dMu'), get('dGamma'), get('dReconstruction'), xv, wv, dx, dMu0, params, ints);
    return [be.output(x.shape.slice(), dx), be.output(mu0.shape.slice(), dMu0)];
  });

  // --- the segmentation loss (crossEntropy.ts): no cpu kernel to fall back on ---
  kernels.set(SOFTMAX_CROSS_ENTROPY_KERNEL, (args) => {
    const { inputs, attrs } = args as KernelArgs;
    const be = args.backend as NativeBackend;
    const logits = inputs['logits'] as tf.TensorInfo;
    const labels = inputs['labels'] as tf.TensorInfo;
    const xv = be.f32(logits);
    const lv = labels.dtype === 'int32' ? be.data.get(labels.dataId).values : null;
    if (xv === null || !(lv instanceof Int32Array) || logits.shape.length !== 2 || labels.shape.length !== 1 || labels.shape[0] !== logits.shape[0]) {
      throw new Error(`native ${SOFTMAX_CROSS_ENTROPY_KERNEL}: float32 logits [P, K] and int32 labels [P] only`);
    }
    const loss = be.alloc(1);
    const gradient = be.alloc(xv.length);
    be.addon.softmaxCrossEntropy(xv, lv, loss, gradient, Number(attrs?.['ignoreLabel']));
    return [be.output([], loss), be.output(logits.shape.slice(), gradient)];
  });

  // --- Σ‖wᵢ‖² (sumOfSquares.ts), in double, in order ---------------------------
  kernels.set(SUM_OF_SQUARES_KERNEL, (args) => {
    const be = args.backend as NativeBackend;
    let total = 0;
    for (const t of Object.values(args.inputs) as tf.TensorInfo[]) {
      const values = be.f32(t);
      if (values === null) throw new Error(`native ${SUM_OF_SQUARES_KERNEL}: float32 inputs only`);
      total += be.addon.sumSquares(values);
    }
    const out = be.alloc(1);
    out[0] = total;
    return be.output([], out);
  });

  // --- matrix products -----------------------------------------------------
  const matMul = (be: NativeBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): tf.TensorInfo | null => {
    const av = be.f32(a);
    const bv = be.f32(b);
    if (av === null || bv === null || a.shape.length < 2 || b.shape.length < 2) return null;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = (transposeA ? a.shape[ra - 1] : a.shape[ra - 2]) as number;
    const K = (transposeA ? a.shape[ra - 2] : a.shape[ra - 1]) as number;
    const N = (transposeB ? b.shape[rb - 2] : b.shape[rb - 1]) as number;
    const Kb = (transposeB ? b.shape[rb - 1] : b.shape[rb - 2]) as number;
    if (K !== Kb) return null;
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const batchA = size(outerA);
    const batchB = size(outerB);
    // The addon broadcasts a whole batch of 1 only (as tfjs's cpu kernel).
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
    const outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
    const shape = [...outer, M, N];
    const out = be.alloc(size(shape));
    be.addon.matMul(av, bv, out, Int32Array.from([batchA, batchB, M, K, N, transposeA ? 1 : 0, transposeB ? 1 : 0]));
    return be.output(shape, out);
  };
  define('BatchMatMul', ({ inputs, attrs }, be) =>
    matMul(be, inputs['a'] as tf.TensorInfo, inputs['b'] as tf.TensorInfo, attrs?.['transposeA'] === true, attrs?.['transposeB'] === true));
  define('_FusedMatMul', ({ inputs, attrs }, be) =>
    withBiasAndActivation(be, inputs, attrs, () =>
      matMul(be, inputs['a'] as tf.TensorInfo, inputs['b'] as tf.TensorInfo, attrs?.['transposeA'] === true, attrs?.['transposeB'] === true)));
  return kernels;
}

/** Names of the kernels the native backend runs in C++ (the rest are the cpu ones). */
export const NATIVE_KERNEL_NAMES: readonly string[] = [
  ...Object.keys(BINARY_OPS),
  ...Object.keys(UNARY_OPS),
  ...Object.keys(REDUCE_OPS),
  'Transpose', 'Softmax', 'FusedBatchNorm', 'ResizeBilinear', 'ResizeBilinearGrad', 'MaxPool', 'MaxPoolGrad', 'AvgPool', 'AvgPoolGrad', 'Prelu', 'Greater', 'Select',
  'Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', '_FusedMatMul',
  BN_TRAINING_KERNEL, BN_TRAINING_GRAD_KERNEL, BN_MOVING_AVERAGE_KERNEL, HEM_UNROLL_KERNEL, HEM_UNROLL_GRAD_KERNEL, SOFTMAX_CROSS_ENTROPY_KERNEL, SUM_OF_SQUARES_KERNEL, RELU_GRAD_KERNEL, PRELU_GRAD_KERNEL,
];
