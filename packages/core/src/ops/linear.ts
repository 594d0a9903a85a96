import { tf } from '../tensor/tf.js';
import { nativeMatMulRoutes } from '../native/native-matmul.js';
import { customGrad } from './gradient.js';
import { wasmColumnSum } from './wasm-layer-norm.js';

/*
 * tfjs-wasm sends only plain, non-transposed 2-D matmuls to XNNPACK; any
 * transposeA/transposeB falls into a scalar loop. The automatic gradient of
 * y = x·W is exactly such a pair (dx = dy·Wᵀ, dW = xᵀ·dy), which made linear
 * layers' backward passes 81% of a DeiT-Tiny training step
 * (shared/docs/perf-anchors.md). These custom gradients materialise the
 * transposes first, so every product is a plain 2-D matmul.
 */

/*
 * The reshapes to and from 2-D happen inside the custom ops: a taped tf.reshape
 * saves its input for the backward pass, and on wasm every saved tensor is a
 * copy (its Identity kernel copies), so reshaping outside would keep an extra
 * copy of each layer's input and output alive until the backward pass.
 */
function flatten(x: tf.Tensor, features: number): tf.Tensor2D {
  return (x.rank === 2 ? x : tf.reshape(x, [-1, features])) as tf.Tensor2D;
}

function unflatten(y: tf.Tensor2D, like: number[], features: number): tf.Tensor {
  return like.length === 2 ? y : tf.reshape(y, [...like.slice(0, -1), features]);
}

/*
 * With native matrix products (core/src/native) a transposed operand costs nothing:
 * onnxruntime's Gemm takes transA/transB. There the gradient products are handed over
 * transposed instead of materialising the transposes with tfjs-wasm's Transpose kernel
 * (8 % of a DeiT-Tiny-sized step's kernel time with native products, docs/performance.md).
 */
function inputGrad(dy2: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const [inFeatures, outFeatures] = w.shape;
  return nativeMatMulRoutes(dy2.shape[0] * inFeatures * outFeatures) ? tf.matMul(dy2, w, false, true) : tf.matMul(dy2, tf.transpose(w));
}

function weightGrad(x2: tf.Tensor2D, dy2: tf.Tensor2D): tf.Tensor2D {
  return nativeMatMulRoutes(x2.shape[0] * x2.shape[1] * dy2.shape[1]) ? tf.matMul(x2, dy2, true, false) : tf.matMul(tf.transpose(x2), dy2);
}

/** Σ of dy over the rows: one SIMD pass on wasm, where tf.sum over axis 0 transposes first. */
function biasGrad(dy2: tf.Tensor2D): tf.Tensor1D {
  return wasmColumnSum(dy2) ?? tf.sum(dy2, 0);
}

const affine = customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, w, b, save] = args as [tf.Tensor, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  const x2 = flatten(x, w.shape[0]);
  save([x2, w]);
  // The bias rides in the matmul (tfjs-wasm's _FusedMatMul hands it to XNNPACK): no separate Add pass over the output.
  const value = unflatten(tf.fused.matMul({ a: x2, b: w, bias: b }) as tf.Tensor2D, x.shape, w.shape[1]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const dy2 = flatten(dy, ws.shape[1]);
      return [unflatten(inputGrad(dy2, ws), x.shape, ws.shape[0]), weightGrad(xs, dy2), biasGrad(dy2)];
    },
  };
});

const product = customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, w, save] = args as [tf.Tensor, tf.Tensor2D, tf.GradSaveFunc];
  const x2 = flatten(x, w.shape[0]);
  save([x2, w]);
  return {
    value: unflatten(tf.matMul(x2, w), x.shape, w.shape[1]),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const dy2 = flatten(dy, ws.shape[1]);
      return [unflatten(inputGrad(dy2, ws), x.shape, ws.shape[0]), weightGrad(xs, dy2)];
    },
  };
});

/**
 * y = x·W + b over the last axis: x [..., in], W [in, out], b [out] → [..., out].
 * Same values as `tf.matMul` + `tf.add`, with a backward pass that stays on the
 * fast matmul path of every backend.
 */
export function linear(x: tf.Tensor, weight: tf.Tensor2D, bias?: tf.Tensor1D | null): tf.Tensor {
  return bias ? affine(x, weight, bias) : product(x, weight);
}
