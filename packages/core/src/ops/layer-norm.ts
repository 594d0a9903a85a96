import { tf } from '../tensor/tf.js';
import { customGrad } from './gradient.js';
import { wasmColumnSum, wasmLayerNorm, wasmLayerNormGrad } from './wasm-layer-norm.js';

/*
 * LayerNorm with its gradient written out (the standard closed form, e.g. Ba et
 * al. 2016, §3 differentiated): the backward pass needs only the normalised x̂
 * and 1/σ per row, where autodiff of the composite keeps every intermediate
 * (centred x, squares, variance, rsqrt, products) on the tape, a large share of
 * the wasm heap in ViT training (shared/docs/perf-anchors.md). The forward ops
 * are the ones LayerNorm always used, so values are unchanged.
 *
 * On wasm both directions are one SIMD pass per row (wasm-layer-norm.ts), which saves
 * only x (no copy of x̂) and (μ, 1/σ) per row; the same formulas, so values agree with
 * the composite within float32 rounding (test/ops-layer-norm-kernel.test.ts).
 */
const layerNormOp = (eps: number) =>
  customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, weight, bias, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const axis = x.rank - 1;
    const fused = wasmLayerNorm(x, weight, bias, eps);
    if (fused) {
      save([x, weight, fused.stats]);
      return {
        value: fused.y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, w, stats] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor2D];
          const grads = wasmLayerNormGrad(dy, xs, w, stats);
          if (grads) return grads;
          // The backend changed between the passes: the closed form below, x̂ rebuilt from the stats.
          const [mean, rstd] = tf.split(tf.reshape(stats, [...xs.shape.slice(0, -1), 2]), 2, axis);
          return layerNormGrad(dy, tf.mul(tf.sub(xs, mean!), rstd!), rstd!, w, axis);
        },
      };
    }
    const { mean, variance } = tf.moments(x, axis, true);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const normalised = tf.mul(tf.sub(x, mean), rstd);
    save([normalised, rstd, weight]);
    return {
      value: tf.add(tf.mul(normalised, weight), bias),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xhat, rs, w] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D];
        return layerNormGrad(dy, xhat, rs, w, axis);
      },
    };
  });

function layerNormGrad(dy: tf.Tensor, xhat: tf.Tensor, rstd: tf.Tensor, w: tf.Tensor1D, axis: number): tf.Tensor[] {
  const channels = w.shape[0];
  const g = tf.mul(dy, w);
  // dx = (g − mean(g) − x̂·mean(g·x̂)) / σ, means over the normalised axis
  const dx = tf.mul(tf.sub(tf.sub(g, tf.mean(g, axis, true)), tf.mul(xhat, tf.mean(tf.mul(g, xhat), axis, true))), rstd);
  const dy2 = tf.reshape(dy, [-1, channels]);
  const dWeight = tf.sum(tf.mul(dy2, tf.reshape(xhat, [-1, channels])), 0);
  const dBias = wasmColumnSum(dy2) ?? tf.sum(dy2, 0);
  return [dx, dWeight, dBias];
}

const byEps = new Map<number, ReturnType<typeof layerNormOp>>();

/** (x − mean) / √(var + eps) · weight + bias over the last axis (biased variance, as PyTorch). */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps: number): tf.Tensor {
  let op = byEps.get(eps);
  if (!op) {
    op = layerNormOp(eps);
    byEps.set(eps, op);
  }
  return op(x, weight, bias);
}
