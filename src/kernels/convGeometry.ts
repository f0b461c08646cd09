/**
 * Shared geometry of a 2-D convolution, NHWC, as the gradient kernels need it.
 *
 * Forward convention (tfjs): y[b, oh, ow, co] =
 *   Σ_{kh, kw, ci} x[b, oh·sh − top + kh·dh, ow·sw − left + kw·dw, ci] · w[kh, kw, ci, co],
 * with out-of-range input positions read as zero.
 */
import * as tf from '@tensorflow/tfjs';

export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
}

/** Reads the `[dh, dw]` pair from a number or a pair (default 1). */
export function pairOf(value: tf.NamedAttrMap[string] | undefined, fallback = 1): [number, number] {
  if (value === undefined || value === null) return [fallback, fallback];
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'number') return [value[0], value[1]];
  throw new Error(`hemnet conv kernels: expected a number or a pair of numbers, received ${JSON.stringify(value)}`);
}

type PadAttr = Parameters<typeof tf.conv2d>[3];
type RoundingAttr = Parameters<typeof tf.conv2d>[6];

/** Computes the geometry with tfjs's own padding rules, NHWC only. */
export function convGeometry(
  kernelName: string,
  inShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
): ConvGeometry {
  const dataFormat = attrs['dataFormat'];
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernelName}: hemnet wasm kernel supports dataFormat 'NHWC' only, received '${String(dataFormat)}'`);
  }
  if (inShape.length !== 4 || filterShape.length !== 4) {
    throw new Error(
      `${kernelName}: expected rank-4 input and filter shapes, received [${inShape.join(', ')}] and [${filterShape.join(', ')}]`,
    );
  }
  const strides = pairOf(attrs['strides']);
  const dilations = pairOf(attrs['dilations']);
  const info = tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    attrs['pad'] as PadAttr,
    attrs['dimRoundingMode'] as RoundingAttr,
    false,
    'channelsLast',
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/**
 * The output positions [lo, hi) along one axis whose input position
 * o·stride + shift (shift = k·dilation − pad of a tap k) lies in [0, inSize):
 * the rows or columns a tap reaches (empty when hi = lo).
 */
export function tapRange(shift: number, stride: number, inSize: number, outSize: number): [number, number] {
  const lo = Math.min(outSize, Math.max(0, Math.ceil(-shift / stride)));
  const hi = Math.max(lo, Math.min(outSize, Math.floor((inSize - 1 - shift) / stride) + 1));
  return [lo, hi];
}

/** What a tap (kh, kw) of a conv reaches: its index kh·KW + kw, the input offsets of output (0, 0), and its output rows and columns. */
export interface TapReach {
  tap: number;
  ihShift: number;
  iwShift: number;
  rows: [number, number];
  columns: [number, number];
}

/** Calls `fn` for every tap of `g` that reaches at least one output (`tapRange` on both axes). */
export function forEachTap(g: ConvGeometry, fn: (reach: TapReach) => void): void {
  for (let kh = 0; kh < g.filterHeight; kh++) {
    const ihShift = kh * g.dilationHeight - g.padTop;
    const rows = tapRange(ihShift, g.strideHeight, g.inHeight, g.outHeight);
    if (rows[1] <= rows[0]) continue;
    for (let kw = 0; kw < g.filterWidth; kw++) {
      const iwShift = kw * g.dilationWidth - g.padLeft;
      const columns = tapRange(iwShift, g.strideWidth, g.inWidth, g.outWidth);
      if (columns[1] > columns[0]) fn({ tap: kh * g.filterWidth + kw, ihShift, iwShift, rows, columns });
    }
  }
}
