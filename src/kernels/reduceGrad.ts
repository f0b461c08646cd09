/**
 * `Mean` and `Sum` gradients without a ones tensor. tfjs-core's stock
 * gradients compute dx = (dy reshaped to keep the reduced axes as 1) · 1
 * (÷ n for the mean), building `ones(x.shape)` on the JavaScript side —
 * a full-size array filled element by element and copied to the backend at
 * every step (≈ 10 ms per training step of the default model on wasm, and
 * garbage for the collector). Broadcasting dy (÷ n) to x's shape gives the
 * same values exactly (y · 1 = y in float32): on wasm with block copies
 * (`HemnetBroadcastTo`, broadcast.ts; tfjs-wasm's Tile is slower than the
 * ones tensor); elsewhere the stock formula is kept.
 */
import * as tf from '@tensorflow/tfjs';
import { BROADCAST_TO } from './broadcast.js';

function expandedDy(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const shape = x.shape.slice();
  for (const a of axes) shape[a] = 1;
  return tf.reshape(dy, shape);
}

/** dy (axes kept) broadcast to x's shape: one heap kernel on wasm, else tfjs's stock dy · ones(x.shape). */
function broadcast(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (dy.dtype === 'float32' && tf.getKernel(BROADCAST_TO, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(BROADCAST_TO, { x: dy }, { shape: x.shape }) as tf.Tensor;
  }
  return tf.mul(dy, tf.ones(x.shape, 'float32'));
}

function reducedSize(x: tf.Tensor, axis: number | number[]): number {
  return tf.util.parseAxisParam(axis, x.shape).reduce((n, a) => n * (x.shape[a] as number), 1);
}

/** dx = broadcast(dy) for `Sum`, broadcast(dy ÷ n) for `Mean` (n = elements reduced per output). */
export const meanGradConfig: tf.GradConfig = {
  kernelName: 'Mean',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    const axis = (attrs as { axis: number | number[] }).axis;
    return {
      x: () => {
        const kept = expandedDy(dy as tf.Tensor, x, axis);
        const n = reducedSize(x, axis);
        // ÷ n before the copy on wasm, after the product elsewhere (stock): the same values.
        return tf.getKernel(BROADCAST_TO, tf.getBackend()) !== undefined ? broadcast(tf.div(kept, n), x) : tf.div(broadcast(kept, x), n);
      },
    };
  },
};

export const sumGradConfig: tf.GradConfig = {
  kernelName: 'Sum',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    const axis = (attrs as { axis: number | number[] }).axis;
    return { x: () => broadcast(expandedDy(dy as tf.Tensor, x, axis), x) };
  },
};
