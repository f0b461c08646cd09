/**
 * A `Conv2D` gradient that also supports dilation > 1 (tfjs-core's stock one
 * asserts dilation 1 on every backend).
 *
 * - dilation 1: exactly the stock path (kernels `Conv2DBackpropInput` /
 *   `Conv2DBackpropFilter`; on wasm those are hemnet's fast kernels).
 * - dilation > 1 on a backend where hemnet's kernels are installed (wasm):
 *   the same kernels, given the `dilations` attr they understand.
 * - dilation > 1 elsewhere (cpu, webgl, ...): two forward convolutions with
 *   stock ops (`conv2dInputGradByConv`, `conv2dFilterGradByConv`), valid for
 *   stride 1, which tfjs requires whenever dilation > 1.
 */
import * as tf from '@tensorflow/tfjs';
import { convGeometry, pairOf } from './convGeometry.js';

/** Backends whose `Conv2DBackprop*` kernels honour a `dilations` attr. */
const dilationAwareBackends = new Set<string>();

export function markDilationAware(backendName: string, aware: boolean): void {
  if (aware) dilationAwareBackends.add(backendName);
  else dilationAwareBackends.delete(backendName);
}

function explicitPads(
  xShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
): { top: number; bottom: number; left: number; right: number; outHeight: number; outWidth: number } {
  const g = convGeometry('conv2dGrad', xShape, filterShape, attrs);
  const bottom = (g.outHeight - 1) * g.strideHeight + (g.filterHeight - 1) * g.dilationHeight + 1 - g.inHeight - g.padTop;
  const right = (g.outWidth - 1) * g.strideWidth + (g.filterWidth - 1) * g.dilationWidth + 1 - g.inWidth - g.padLeft;
  return { top: g.padTop, left: g.padLeft, bottom, right, outHeight: g.outHeight, outWidth: g.outWidth };
}

/**
 * dx of y = conv2d(x, w, stride 1, pad, dilation d), as a forward convolution
 * of dy with the flipped, channel-swapped filter (see conv2dBackpropInput.ts).
 * x `[B, H, W, Ci]`, w `[KH, KW, Ci, Co]`, dy `[B, Ho, Wo, Co]` → `[B, H, W, Ci]`.
 */
export function conv2dInputGradByConv(
  xShape: number[],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  attrs: tf.NamedAttrMap,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [dh, dw] = pairOf(attrs['dilations']);
    const [sh, sw] = pairOf(attrs['strides']);
    if (sh !== 1 || sw !== 1) throw new Error(`conv2dInputGradByConv: strides must be 1, received [${sh}, ${sw}]`);
    const [KH, KW] = filter.shape;
    const p = explicitPads(xShape, filter.shape, attrs);
    const [, H, W] = xShape as [number, number, number, number];
    const top = (KH - 1) * dh - p.top;
    const left = (KW - 1) * dw - p.left;
    const bottom = H + p.top - p.outHeight;
    const right = W + p.left - p.outWidth;
    // Negative pads (never produced by 'same'/'valid') become crops of dy.
    const cropped = tf.slice(
      dy,
      [0, Math.max(0, -top), Math.max(0, -left), 0],
      [-1, p.outHeight - Math.max(0, -top) - Math.max(0, -bottom), p.outWidth - Math.max(0, -left) - Math.max(0, -right), -1],
    );
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [Math.max(0, top), Math.max(0, bottom)],
      [Math.max(0, left), Math.max(0, right)],
      [0, 0],
    ];
    return tf.conv2d(cropped, flipped, 1, pad, 'NHWC', [dh, dw]);
  });
}

/**
 * dW of y = conv2d(x, w, stride 1, pad, dilation d), as a forward convolution
 * that swaps the roles of batch and channels:
 *   dW[kh, kw, ci, co] = Σ_{oh, ow, b} xpadᵀ[ci, kh·dh + oh, kw·dw + ow, b] · dyᵀ[oh, ow, b, co],
 * i.e. conv2d(xpadᵀ `[Ci, Hp, Wp, B]`, dyᵀ `[Ho, Wo, B, Co]`, strides = d) → `[Ci, KH, KW, Co]`.
 */
export function conv2dFilterGradByConv(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: number[],
  attrs: tf.NamedAttrMap,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [dh, dw] = pairOf(attrs['dilations']);
    const [sh, sw] = pairOf(attrs['strides']);
    if (sh !== 1 || sw !== 1) throw new Error(`conv2dFilterGradByConv: strides must be 1, received [${sh}, ${sw}]`);
    const [KH, KW] = filterShape as [number, number];
    const p = explicitPads(x.shape, filterShape, attrs);
    const padded = tf.pad(x, [[0, 0], [p.top, Math.max(0, p.bottom)], [p.left, Math.max(0, p.right)], [0, 0]]);
    const xT = tf.transpose(padded, [3, 1, 2, 0]) as tf.Tensor4D;
    const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    const full = tf.conv2d(xT, dyT, [dh, dw], 'valid');
    const cut = tf.slice(full, [0, 0, 0, 0], [-1, KH, KW, -1]);
    return tf.transpose(cut, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** The gradient config registered for `Conv2D` (replaces tfjs-core's). */
export const conv2dGradConfig: tf.GradConfig = {
  kernelName: 'Conv2D',
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const grad = dy as tf.Tensor4D;
    const [dh, dw] = pairOf(attrs['dilations']);
    const common: tf.NamedAttrMap = {
      strides: attrs['strides'] ?? 1,
      pad: attrs['pad'] ?? 'valid',
      dataFormat: attrs['dataFormat'] ?? 'NHWC',
    };
    if (attrs['dimRoundingMode'] !== undefined) common['dimRoundingMode'] = attrs['dimRoundingMode'];
    const engine = tf.engine();
    if (dh === 1 && dw === 1) {
      return {
        x: () => engine.runKernel('Conv2DBackpropInput', { dy: grad, filter }, { ...common, inputShape: x.shape }) as tf.Tensor4D,
        filter: () => engine.runKernel('Conv2DBackpropFilter', { x, dy: grad }, { ...common, filterShape: filter.shape }) as tf.Tensor4D,
      };
    }
    if (common['dataFormat'] !== 'NHWC') {
      throw new Error(`conv2d gradient: dilation > 1 needs dataFormat 'NHWC', received '${String(common['dataFormat'])}'`);
    }
    const dilated: tf.NamedAttrMap = { ...common, dilations: [dh, dw] };
    if (dilationAwareBackends.has(tf.getBackend())) {
      return {
        x: () => engine.runKernel('Conv2DBackpropInput', { dy: grad, filter }, { ...dilated, inputShape: x.shape }) as tf.Tensor4D,
        filter: () => engine.runKernel('Conv2DBackpropFilter', { x, dy: grad }, { ...dilated, filterShape: filter.shape }) as tf.Tensor4D,
      };
    }
    return {
      x: () => conv2dInputGradByConv(x.shape, grad, filter, dilated),
      filter: () => conv2dFilterGradByConv(x, grad, filter.shape, dilated),
    };
  },
};
