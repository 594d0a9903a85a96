import { tf } from '../tensor/tf.js';

/*
 * tfjs-wasm sends only plain, non-transposed 2-D matmuls to XNNPACK; any
 * transposeA/transposeB falls into a scalar loop. The automatic gradient of
 * y = x·W is exactly such a pair (dx = dy·Wᵀ, dW = xᵀ·dy), which made linear
 * layers' backward passes 81% of a DeiT-Tiny training step
 * (shared/docs/perf-anchors.md). These custom gradients materialise the
 * transposes first, so every product is a plain 2-D matmul.
 */

const affine2d = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, w, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, w]);
  const value = tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const dy2 = dy as tf.Tensor2D;
      return [tf.matMul(dy2, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy2), tf.sum(dy2, 0)];
    },
  };
});

const matmul2d = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const dy2 = dy as tf.Tensor2D;
      return [tf.matMul(dy2, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy2)];
    },
  };
});

/**
 * y = x·W + b over the last axis: x [..., in], W [in, out], b [out] → [..., out].
 * Same values as `tf.matMul` + `tf.add`, with a backward pass that stays on the
 * fast matmul path of every backend.
 */
export function linear(x: tf.Tensor, weight: tf.Tensor2D, bias?: tf.Tensor1D | null): tf.Tensor {
  return tf.tidy(() => {
    const inFeatures = weight.shape[0];
    const outFeatures = weight.shape[1];
    const lead = x.shape.slice(0, -1);
    const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, inFeatures]);
    const y = bias ? affine2d(x2, weight, bias) : matmul2d(x2, weight);
    return x.rank === 2 ? y : tf.reshape(y, [...lead, outFeatures]);
  });
}
