import { tf } from '../tensor/tf.js';
import { customGrad } from './gradient.js';

/*
 * BatchNorm over the batch and spatial axes of an NHWC batch, with its gradient
 * written out (Ioffe & Szegedy 2015, §3, differentiated through the batch
 * statistics). Autodiff of the composite keeps the centred x, its square, the
 * variance, rsqrt and every product on the tape; tfjs's own FusedBatchNorm
 * gradient is a chain of broadcasts and reductions. Here the backward pass needs
 * only x̂ and 1/σ per channel, and every reduction is over the rows of an
 * [N·H·W, C] matrix.
 *
 * Why per-channel sums are a matmul: tfjs-wasm reduces along the last axis
 * only, so summing the rows of [M, C] first transposes the whole matrix; a
 * [1, M] × [M, C] product with a row of ones is a plain 2-D matmul, which
 * XNNPACK runs without the transpose (measured in packages/core/bench).
 */

/** Σ over the rows of [M, C] → [C], as one plain 2-D matmul. */
export function sumRows(x2: tf.Tensor2D): tf.Tensor1D {
  const ones = tf.ones([1, x2.shape[0]]) as tf.Tensor2D;
  return tf.reshape(tf.matMul(ones, x2), [x2.shape[1]]) as tf.Tensor1D;
}

/** Batch statistics of the channels of an NHWC batch: mean and biased variance over N, H and W. */
export interface BatchStatistics {
  readonly mean: tf.Tensor1D;
  readonly variance: tf.Tensor1D;
  /** Values per channel (N·H·W), for the unbiased running estimate. */
  readonly count: number;
}

const trainingOp = (eps: number, onStatistics?: (stats: BatchStatistics) => void) =>
  customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, weight, bias, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const channels = x.shape[3];
    const count = x.size / channels;
    const x2 = tf.reshape(x, [count, channels]) as tf.Tensor2D;
    const mean = tf.div(sumRows(x2), count) as tf.Tensor1D;
    const centred = tf.sub(x2, mean);
    const variance = tf.div(sumRows(tf.square(centred) as tf.Tensor2D), count) as tf.Tensor1D;
    // The running statistics are state: whatever the callback keeps is not differentiated.
    onStatistics?.({ mean, variance, count });
    const rstd = tf.rsqrt(tf.add(variance, eps)) as tf.Tensor1D;
    const normalised = tf.mul(centred, rstd) as tf.Tensor2D;
    save([normalised, rstd, weight]);
    return {
      value: tf.reshape(tf.add(tf.mul(normalised, weight), bias), x.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xhat, rs, w] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        const dy2 = tf.reshape(dy, [count, channels]) as tf.Tensor2D;
        const dBias = sumRows(dy2);
        const dWeight = sumRows(tf.mul(dy2, xhat) as tf.Tensor2D);
        // dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂)), means over the N·H·W rows of each channel
        const scale = tf.mul(w, rs);
        const centredDy = tf.sub(dy2, tf.div(dBias, count));
        const dx = tf.mul(tf.sub(centredDy, tf.mul(xhat, tf.div(dWeight, count))), scale);
        return [tf.reshape(dx, dy.shape), dWeight, dBias];
      },
    };
  });

/**
 * Train-mode BatchNorm of an NHWC batch: normalised with the batch's own mean and
 * biased variance per channel, then scaled by `weight` and shifted by `bias`.
 * `onStatistics` receives the batch statistics (for a running-average update);
 * they are freed when the call returns, so keep copies (e.g. by `assign`).
 */
export function batchNormTraining(
  x: tf.Tensor4D,
  weight: tf.Tensor1D,
  bias: tf.Tensor1D,
  eps: number,
  onStatistics?: (stats: BatchStatistics) => void,
): tf.Tensor4D {
  return trainingOp(eps, onStatistics)(x, weight, bias) as tf.Tensor4D;
}

/**
 * Eval-mode BatchNorm: the per-channel affine map x·s + t with s = γ/√(running var + eps)
 * and t = β − running mean·s. Two broadcast ops whose gradients tfjs takes on its fast path.
 */
export function batchNormInference(x: tf.Tensor4D, weight: tf.Tensor1D, bias: tf.Tensor1D, runningMean: tf.Tensor1D, runningVar: tf.Tensor1D, eps: number): tf.Tensor4D {
  return tf.tidy(() => {
    const scale = tf.mul(weight, tf.rsqrt(tf.add(runningVar, eps)));
    const shift = tf.sub(bias, tf.mul(runningMean, scale));
    return tf.add(tf.mul(x, scale), shift) as tf.Tensor4D;
  });
}
