import { tf } from '../tensor/tf.js';

type CustomGradFunc = (...args: Array<tf.Tensor | tf.GradSaveFunc>) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] };

/**
 * tf.customGrad whose gradient function runs inside tf.tidy. tfjs calls a
 * custom op's gradFunc outside any scope and keeps everything it allocates
 * until the whole backward pass ends; untidied, the temporaries of every
 * layer's backward pass pile up (at batch 16, DeiT-Tiny's GELU backward alone
 * held 345 MB), which is what overflowed the 4 GB wasm heap at batch 64.
 */
export function customGrad(f: CustomGradFunc): (...args: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const { value, gradFunc } = f(...args);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => gradFunc(dy, saved)) };
  }) as (...args: tf.Tensor[]) => tf.Tensor;
}

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
