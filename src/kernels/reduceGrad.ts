/**
 * `Mean` and `Sum` gradients without a ones tensor. tfjs-core's stock
 * gradients compute dx = (dy reshaped to keep the reduced axes as 1) · 1
 * (÷ n for the mean), building `ones(x.shape)` on the JavaScript side —
 * a full-size array filled element by element and copied to the backend at
 * every step (≈ 10 ms per training step of the default model on wasm, and
 * garbage for the collector). Broadcasting dy (÷ n) to x's shape gives the
 * same values exactly (y · 1 = y in float32) with one Tile kernel.
 */
import * as tf from '@tensorflow/tfjs';

function expandedDy(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const shape = x.shape.slice();
  for (const a of axes) shape[a] = 1;
  return tf.reshape(dy, shape);
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
    return { x: () => tf.broadcastTo(tf.div(expandedDy(dy as tf.Tensor, x, axis), reducedSize(x, axis)), x.shape) };
  },
};

export const sumGradConfig: tf.GradConfig = {
  kernelName: 'Sum',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    const axis = (attrs as { axis: number | number[] }).axis;
    return { x: () => tf.broadcastTo(expandedDy(dy as tf.Tensor, x, axis), x.shape) };
  },
};
