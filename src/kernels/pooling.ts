/**
 * The geometry of 2-D max and average pooling of NHWC float32 images, and
 * the two gradients in plain TS on typed arrays, with exactly the semantics
 * of tfjs's cpu kernels (`maxPoolPositions`, `MaxPoolGrad`, `AvgPoolGrad` of
 * tfjs-backend-cpu 4.22; native/src/pool.cc does the same in C++, forward
 * passes included):
 * - max pool: the window's largest value by a strict `>` from −∞ (NaN never
 *   wins; a window wholly in the padding gives −∞); its gradient: dy of
 *   each window goes to the first position, in row-major window order, that
 *   holds the maximum (nothing when none does);
 * - average pool: the mean over the window's positions inside the image;
 *   its gradient: dy / (filterHeight · filterWidth) to every position of the
 *   window inside the image. For 'same' padding this is not the gradient of
 *   the forward at the border (which divides by the positions inside the
 *   image); it is what tfjs's cpu and wasm kernels compute, kept so that
 *   every backend gives the same numbers.
 *
 * On wasm these gradients replace the stock kernels, which took 1.4–2.4×
 * as long here (`npx tsx bench/pooling.ts`; docs/performance.md, "Pooling").
 * Platform-neutral.
 */
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend, heapViews } from './wasmHeap.js';

/** The index arithmetic of one pooling: input [B, H, W, C] → output [B, outH, outW, C]. */
export interface PoolGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  strideHeight: number;
  strideWidth: number;
  filterHeight: number;
  filterWidth: number;
  padTop: number;
  padLeft: number;
}

/**
 * The geometry of a `MaxPool` / `AvgPool` (or gradient) kernel call on an
 * input of shape `xShape`, from its attrs (filterSize, strides, pad,
 * dimRoundingMode); null for what these kernels do not handle (not rank 4).
 */
export function poolGeometry(xShape: readonly number[], attrs: tf.NamedAttrMap | undefined): PoolGeometry | null {
  if (xShape.length !== 4 || attrs === undefined) return null;
  const filterSize = attrs['filterSize'] as [number, number] | number;
  const strides = attrs['strides'] as [number, number] | number;
  const pad = attrs['pad'] as 'valid' | 'same' | number;
  const rounding = attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined | null;
  const info = tf.backend_util.computePool2DInfo(xShape as [number, number, number, number], filterSize, strides, 1, pad, rounding ?? undefined);
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    channels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/**
 * Throws unless dy has the pooled shape of the geometry. tfjs-core's
 * MaxPool and AvgPool gradients do not pass `dimRoundingMode` on, so the
 * gradient of a pool with one can see a dy of another shape; tfjs's cpu
 * kernel then reads dy at the wrong positions, these kernels refuse.
 */
export function checkPooledGradient(kernel: string, g: PoolGeometry, dyShape: readonly number[]): void {
  const pooled = [g.batch, g.outHeight, g.outWidth, g.channels];
  if (!tf.util.arraysEqual(dyShape as number[], pooled)) {
    throw new Error(
      `${kernel}: dy [${dyShape.join(', ')}] is not the pooled shape [${pooled.join(', ')}] of the input ` +
        "(tfjs's pooling gradients drop dimRoundingMode: pool without it, or pad explicitly, to train through the pool)",
    );
  }
}

/** Output elements of a pooling. */
export function pooledSize(g: PoolGeometry): number {
  return g.batch * g.outHeight * g.outWidth * g.channels;
}

/** Input elements of a pooling. */
export function inputSize(g: PoolGeometry): number {
  return g.batch * g.inHeight * g.inWidth * g.channels;
}

function checkSizes(kernel: string, g: PoolGeometry, input: number, output: number): void {
  if (input !== inputSize(g) || output !== pooledSize(g)) {
    throw new Error(`${kernel}: buffers of ${input} and ${output} values do not match [${g.batch}, ${g.inHeight}, ${g.inWidth}, ${g.channels}] pooled to [${g.outHeight}, ${g.outWidth}]`);
  }
}

/**
 * Calls `visit(o, rowStart, rowEnd, colStart, colEnd, b)` for every output
 * pixel: `o` its first element in the output, the window's rows and columns
 * clipped to the image.
 */
function forEachWindow(
  g: PoolGeometry,
  visit: (o: number, r0: number, r1: number, c0: number, c1: number, b: number) => void,
): void {
  let o = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      const rowCorner = oy * g.strideHeight - g.padTop;
      const r0 = Math.max(0, rowCorner);
      const r1 = Math.min(g.inHeight, rowCorner + g.filterHeight);
      for (let ox = 0; ox < g.outWidth; ox++) {
        const colCorner = ox * g.strideWidth - g.padLeft;
        visit(o, r0, r1, Math.max(0, colCorner), Math.min(g.inWidth, colCorner + g.filterWidth), b);
        o += g.channels;
      }
    }
  }
}

/** dx = the gradient of a max pool of x for the output gradient dy (tfjs `MaxPoolGrad`). */
export function maxPoolGradInto(x: Float32Array, dy: Float32Array, dx: Float32Array, g: PoolGeometry): void {
  checkSizes('maxPoolGrad', g, x.length, dy.length);
  if (dx.length !== x.length) throw new Error(`maxPoolGrad: dx has ${dx.length} values, x ${x.length}`);
  const C = g.channels;
  const W = g.inWidth;
  const H = g.inHeight;
  dx.fill(0);
  forEachWindow(g, (o, r0, r1, c0, c1, b) => {
    for (let d = 0; d < C; d++) {
      let best = Number.NEGATIVE_INFINITY;
      let at = -1;
      for (let r = r0; r < r1; r++) {
        let i = ((b * H + r) * W + c0) * C + d;
        for (let c = c0; c < c1; c++, i += C) {
          const v = x[i] as number;
          if (v > best) {
            best = v;
            at = i;
          }
        }
      }
      if (at >= 0) dx[at] = (dx[at] as number) + (dy[o + d] as number);
    }
  });
}

/** dx = tfjs's `AvgPoolGrad`: dy / (filterHeight · filterWidth) to every window position inside the image. */
export function avgPoolGradInto(dy: Float32Array, dx: Float32Array, g: PoolGeometry): void {
  checkSizes('avgPoolGrad', g, dx.length, dy.length);
  const C = g.channels;
  const W = g.inWidth;
  const H = g.inHeight;
  dx.fill(0);
  forEachWindow(g, (o, r0, r1, c0, c1, b) => {
    for (let r = r0; r < r1; r++) {
      for (let c = c0; c < c1; c++) {
        const base = ((b * H + r) * W + c) * C;
        for (let d = 0; d < C; d++) dx[base + d] = (dx[base + d] as number) + (dy[o + d] as number);
      }
    }
  });
  const scale = 1 / (g.filterHeight * g.filterWidth);
  for (let i = 0; i < dx.length; i++) dx[i] = (dx[i] as number) * scale;
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

function float32Input(inputs: tf.NamedTensorInfoMap, name: string): tf.TensorInfo | null {
  const t = inputs[name];
  return t !== undefined && t.dtype === 'float32' ? t : null;
}

/**
 * wasm's `MaxPoolGrad` and `AvgPoolGrad` as the functions above on the heap;
 * `stock` (the backend's own kernel) runs what they do not handle.
 */
export function poolGradWasm(kernelName: 'MaxPoolGrad' | 'AvgPoolGrad', stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return ((args: KernelArgs) => {
    const x = float32Input(args.inputs, 'input');
    const dy = float32Input(args.inputs, 'dy');
    const g = x === null ? null : poolGeometry(x.shape, args.attrs);
    if (x === null || dy === null || g === null) {
      if (stock === undefined) throw new Error(`${kernelName}: float32 rank-4 inputs only, and the wasm backend has no kernel of its own for the rest`);
      return stock(args as Parameters<tf.KernelFunc>[0]);
    }
    checkPooledGradient(kernelName, g, dy.shape);
    const backend = asWasmBackend(args.backend, kernelName);
    const dx = backend.makeOutput(x.shape.slice(), 'float32');
    const view = heapViews(backend);
    if (kernelName === 'MaxPoolGrad') maxPoolGradInto(view(x), view(dy), view(dx), g);
    else avgPoolGradInto(view(dy), view(dx), g);
    return dx;
  }) as unknown as tf.KernelFunc;
}
