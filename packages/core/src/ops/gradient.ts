import { tf } from '../tensor/tf.js';

const blockGradient = tf.customGrad((x: tf.Tensor | tf.GradSaveFunc) => {
  const t = x as tf.Tensor;
  return { value: tf.clone(t), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
});

/**
 * Identity in the forward pass, zero gradient in the backward pass (TF's
 * stop_gradient, PyTorch's detach). tfjs-core has no such op.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return blockGradient(x) as T;
}
