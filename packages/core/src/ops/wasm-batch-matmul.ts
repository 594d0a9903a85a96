import { nativeMatMulRoutes } from '../native/native-matmul.js';
import { tf } from '../tensor/tf.js';
import { WASM_BYTES_BASE64 } from './kernels/batch-matmul.wasm.js';
import { simdKernel } from './simd-kernel.js';

/*
 * tfjs-wasm 4.22 hands a BatchMatMul to XNNPACK only when it is a single,
 * non-transposed 2-D product; everything else (attention's q·kᵀ and p·v with
 * batch = images × heads) runs in a scalar C++ loop at about 2–3 GFLOP/s, 61% of
 * a DeiT-Tiny training step after the linear layers were fixed
 * (shared/docs/perf-anchors.md). Splitting the batch into 2-D products does not
 * help: on wasm every Slice copies its whole input, and XNNPACK repacks the
 * right-hand matrix on every call.
 *
 * The SIMD128 kernel is kernels/batch-matmul.wat, compiled by wabt at build time
 * into kernels/batch-matmul.wasm.ts. It imports the tfjs-wasm backend's own linear
 * memory (through wasm-adapter.ts, the only code that knows tfjs-wasm internals,
 * and simd-kernel.ts, which loads every core SIMD module) and is registered as an extra kernel, `TesseraBatchMatMul`, on the wasm
 * backend, so it reads and writes tensors in place: no copies.
 */

export const WASM_BATCH_MATMUL_KERNEL = 'TesseraBatchMatMul';

type Bmm = (a: number, b: number, c: number, batch: number, m: number, k: number, n: number) => void;

const kernel = simdKernel<{ bmm: Bmm }>(WASM_BYTES_BASE64, [
  {
    kernelName: WASM_BATCH_MATMUL_KERNEL,
    run: (k, heap, { a, b }) => {
      const [batch, m, kk] = a!.shape as [number, number, number];
      const n = b!.shape[2]!;
      const out = heap.makeOutput([batch, m, n]);
      // Offsets are read after makeOutput: allocating may grow the heap.
      k.bmm(heap.offsetOf(a!), heap.offsetOf(b!), heap.offsetOf(out), batch, m, kk, n);
      return out;
    },
  },
]);

/** Exposed for tests and benchmarks: whether the SIMD kernel serves the current backend. */
export function wasmBatchMatMulActive(): boolean {
  return kernel.active();
}

/**
 * a [batch, m, k] · b [batch, k, n] → [batch, m, n], float32, no gradient of its
 * own (callers wrap it in tf.customGrad). On wasm it runs the SIMD kernel above;
 * on other backends, or when the adapter refuses this tfjs-wasm version, it is tf.matMul.
 */
export function rawBatchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  // With the native matmul on (native/native-matmul.ts), tfjs's BatchMatMul kernel runs there: faster for all but small products.
  if (nativeMatMulRoutes(a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2])) return tf.matMul(a, b);
  if (a.dtype === 'float32' && b.dtype === 'float32' && a.size > 0 && b.size > 0 && wasmBatchMatMulActive()) {
    return tf.engine().runKernel(WASM_BATCH_MATMUL_KERNEL, { a, b } as unknown as tf.NamedTensorMap, {}) as tf.Tensor3D;
  }
  return tf.matMul(a, b);
}
