/**
 * tfjs 4.x has no public `stopGradient`; this op passes its input through in
 * the forward pass and sends a zero gradient back.
 */
import * as tf from '@tensorflow/tfjs';

const stop = tf.customGrad((input) => {
  const x = input as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy) => tf.zerosLike(dy as tf.Tensor) };
});

/** Identity in the forward pass, zero gradient in the backward pass. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stop(x) as T;
}
