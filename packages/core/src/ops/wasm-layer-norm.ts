import { tf } from '../tensor/tf.js';
import { WASM_BYTES_BASE64 } from './kernels/layer-norm.wasm.js';
import { simdKernel } from './simd-kernel.js';

/*
 * LayerNorm forward and backward as one SIMD128 pass per row each, and the column sums
 * of a [rows, c] matrix (a bias gradient), on the wasm backend (kernels/layer-norm.wat),
 * instead of the ~20 tfjs kernels of the composite and tfjs-wasm's Transpose-then-Sum
 * for reductions over axis 0. Registered like the other core kernels (simd-kernel.ts).
 */

export const WASM_LAYER_NORM_KERNEL = 'TesseraLayerNorm';
export const WASM_LAYER_NORM_GRAD_KERNEL = 'TesseraLayerNormGrad';
export const WASM_COLUMN_SUM_KERNEL = 'TesseraColumnSum';

interface LayerNormExports {
  layer_norm(x: number, w: number, b: number, y: number, stats: number, rows: number, c: number, eps: number): void;
  layer_norm_grad(dy: number, x: number, w: number, stats: number, dx: number, dw: number, db: number, rows: number, c: number): void;
  column_sum(x: number, out: number, rows: number, c: number): void;
}

const lastAxis = (t: tf.TensorInfo) => t.shape[t.shape.length - 1]!;
const rowsOf = (t: tf.TensorInfo) => tf.util.sizeFromShape(t.shape) / lastAxis(t);

const kernel = simdKernel<LayerNormExports>(WASM_BYTES_BASE64, [
  {
    kernelName: WASM_LAYER_NORM_KERNEL,
    run: (k, heap, { x, weight, bias }, { eps }) => {
      const rows = rowsOf(x!);
      const y = heap.makeOutput(x!.shape);
      const stats = heap.makeOutput([rows, 2]);
      k.layer_norm(heap.offsetOf(x!), heap.offsetOf(weight!), heap.offsetOf(bias!), heap.offsetOf(y), heap.offsetOf(stats), rows, lastAxis(x!), eps as number);
      return [y, stats];
    },
  },
  {
    kernelName: WASM_LAYER_NORM_GRAD_KERNEL,
    run: (k, heap, { dy, x, weight, stats }) => {
      const c = lastAxis(x!);
      const dx = heap.makeOutput(x!.shape);
      const dw = heap.makeOutput([c]);
      const db = heap.makeOutput([c]);
      k.layer_norm_grad(
        heap.offsetOf(dy!), heap.offsetOf(x!), heap.offsetOf(weight!), heap.offsetOf(stats!),
        heap.offsetOf(dx), heap.offsetOf(dw), heap.offsetOf(db), rowsOf(x!), c,
      );
      return [dx, dw, db];
    },
  },
  {
    kernelName: WASM_COLUMN_SUM_KERNEL,
    run: (k, heap, { x }) => {
      const c = lastAxis(x!);
      const out = heap.makeOutput([c]);
      k.column_sum(heap.offsetOf(x!), heap.offsetOf(out), rowsOf(x!), c);
      return out;
    },
  },
]);

/** Whether the SIMD LayerNorm kernels serve the current backend (exposed for tests and benchmarks). */
export function wasmLayerNormActive(): boolean {
  return kernel.active();
}

const float32 = (...ts: tf.Tensor[]) => ts.every((t) => t.dtype === 'float32');

/**
 * y = (x − μ)/√(σ² + eps)·weight + bias over the last axis on the wasm SIMD kernel, with
 * `stats` [rows, 2] = (μ, 1/√(σ² + eps)) per row for the gradient; null where the kernel
 * does not apply (other backends and dtypes, an empty x, a width not a multiple of 4).
 */
export function wasmLayerNorm(x: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps: number): { y: tf.Tensor; stats: tf.Tensor2D } | null {
  const c = x.shape[x.rank - 1]!;
  if (x.rank < 1 || x.size === 0 || c % 4 !== 0 || weight.size !== c || bias.size !== c || !float32(x, weight, bias) || !wasmLayerNormActive()) return null;
  const [y, stats] = tf.engine().runKernel(WASM_LAYER_NORM_KERNEL, { x, weight, bias } as unknown as tf.NamedTensorMap, { eps }) as [tf.Tensor, tf.Tensor2D];
  return { y, stats };
}

/** dx, dWeight and dBias of wasmLayerNorm from its input, weight and stats; null where the kernel does not apply. */
export function wasmLayerNormGrad(dy: tf.Tensor, x: tf.Tensor, weight: tf.Tensor1D, stats: tf.Tensor2D): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] | null {
  if (dy.size !== x.size || !float32(dy, x, weight, stats) || !wasmLayerNormActive()) return null;
  return tf.engine().runKernel(WASM_LAYER_NORM_GRAD_KERNEL, { dy, x, weight, stats } as unknown as tf.NamedTensorMap, {}) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
}

/** Σ over every axis but the last (x viewed as [rows, c] → [c]) on the wasm SIMD kernel; null where it does not apply. */
export function wasmColumnSum(x: tf.Tensor): tf.Tensor1D | null {
  if (x.rank < 1 || x.size === 0 || !float32(x) || !wasmLayerNormActive()) return null;
  return tf.engine().runKernel(WASM_COLUMN_SUM_KERNEL, { x } as unknown as tf.NamedTensorMap, {}) as tf.Tensor1D;
}
