import { tf } from '../tensor/tf.js';
import { WASM_BYTES_BASE64 } from './kernels/gelu.wasm.js';
import { simdKernel } from './simd-kernel.js';

/*
 * Exact GELU and its gradient as one SIMD128 pass each (kernels/gelu.wat) on the
 * wasm backend, instead of the 4 + 9 tfjs kernels (scalar Erf and Exp among them)
 * the composite costs. Registered like the batched matmul (wasm-batch-matmul.ts):
 * extra kernels on tfjs-wasm's own heap (simd-kernel.ts), reading and writing tensors in place.
 */

export const WASM_GELU_KERNEL = 'TesseraGelu';
export const WASM_GELU_GRAD_KERNEL = 'TesseraGeluGrad';

interface GeluExports {
  gelu(x: number, y: number, n: number): void;
  gelu_grad(x: number, dy: number, dx: number, n: number): void;
}

const kernel = simdKernel<GeluExports>(WASM_BYTES_BASE64, [
  {
    kernelName: WASM_GELU_KERNEL,
    run: (k, heap, { x }) => {
      const out = heap.makeOutput(x!.shape);
      k.gelu(heap.offsetOf(x!), heap.offsetOf(out), tf.util.sizeFromShape(x!.shape));
      return out;
    },
  },
  {
    kernelName: WASM_GELU_GRAD_KERNEL,
    run: (k, heap, { x, dy }) => {
      const out = heap.makeOutput(x!.shape);
      k.gelu_grad(heap.offsetOf(x!), heap.offsetOf(dy!), heap.offsetOf(out), tf.util.sizeFromShape(x!.shape));
      return out;
    },
  },
]);

/** Whether the SIMD GELU kernels serve the current backend (exposed for tests and benchmarks). */
export function wasmGeluActive(): boolean {
  return kernel.active();
}

const usable = (...ts: tf.Tensor[]) => ts.every((t) => t.dtype === 'float32' && t.size > 0) && wasmGeluActive();

/** x·Φ(x) on the wasm SIMD kernel, or null where it does not apply (other backends and dtypes). */
export function wasmGelu(x: tf.Tensor): tf.Tensor | null {
  return usable(x) ? (tf.engine().runKernel(WASM_GELU_KERNEL, { x } as unknown as tf.NamedTensorMap, {}) as tf.Tensor) : null;
}

/** dy·(Φ(x) + x·φ(x)) on the wasm SIMD kernel, or null where it does not apply. */
export function wasmGeluGrad(x: tf.Tensor, dy: tf.Tensor): tf.Tensor | null {
  if (x.size !== dy.size) return null;
  return usable(x, dy) ? (tf.engine().runKernel(WASM_GELU_GRAD_KERNEL, { x, dy } as unknown as tf.NamedTensorMap, {}) as tf.Tensor) : null;
}
