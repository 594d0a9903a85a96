import { tf } from '../tensor/tf.js';
import { WASM_BYTES_BASE64 } from './kernels/batch-matmul.wasm.js';
import { wasmHeap, type WasmHeap } from './wasm-adapter.js';

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
 * memory (through wasm-adapter.ts, the only code that knows tfjs-wasm internals)
 * and is registered as an extra kernel, `TesseraBatchMatMul`, on the wasm
 * backend, so it reads and writes tensors in place: no copies.
 */

export const WASM_BATCH_MATMUL_KERNEL = 'TesseraBatchMatMul';

type Bmm = (a: number, b: number, c: number, batch: number, m: number, k: number, n: number) => void;

function kernelBytes(): Uint8Array<ArrayBuffer> {
  const binary = atob(WASM_BYTES_BASE64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

let compiled: WebAssembly.Module | null | undefined;
/** One kernel instance per wasm heap: a re-created wasm backend comes with a new memory. */
const instances = new WeakMap<WebAssembly.Memory, Bmm>();
let registered = false;

function kernelFor(heap: WasmHeap): Bmm | null {
  let bmm = instances.get(heap.memory);
  if (!bmm) {
    if (compiled === undefined) {
      try {
        compiled = new WebAssembly.Module(kernelBytes());
      } catch {
        // An engine without SIMD128.
        compiled = null;
      }
    }
    if (!compiled) return null;
    try {
      bmm = new WebAssembly.Instance(compiled, { env: { memory: heap.memory } }).exports.bmm as Bmm;
    } catch {
      // e.g. a threaded build whose shared memory does not match the import.
      return null;
    }
    instances.set(heap.memory, bmm);
  }
  return bmm;
}

function install(): boolean {
  const backend = tf.findBackend('wasm');
  const heap = backend ? wasmHeap(backend) : null;
  if (!heap || !kernelFor(heap)) return false;
  if (!registered) {
    tf.registerKernel({
      kernelName: WASM_BATCH_MATMUL_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend: b }) => {
        const h = wasmHeap(b as object)!;
        const { a, b: rhs } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        const [batch, m, k] = a.shape as [number, number, number];
        const n = rhs.shape[2]!;
        const out = h.makeOutput([batch, m, n]);
        // Offsets are read after makeOutput: allocating may grow the heap.
        kernelFor(h)!(h.offsetOf(a), h.offsetOf(rhs), h.offsetOf(out), batch, m, k, n);
        return out;
      },
    });
    registered = true;
  }
  return true;
}

/** Exposed for tests and benchmarks: whether the SIMD kernel serves the current backend. */
export function wasmBatchMatMulActive(): boolean {
  return tf.getBackend() === 'wasm' && install();
}

/**
 * a [batch, m, k] · b [batch, k, n] → [batch, m, n], float32, no gradient of its
 * own (callers wrap it in tf.customGrad). On wasm it runs the SIMD kernel above;
 * on other backends, or when the adapter refuses this tfjs-wasm version, it is tf.matMul.
 */
export function rawBatchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.dtype === 'float32' && b.dtype === 'float32' && a.size > 0 && b.size > 0 && wasmBatchMatMulActive()) {
    return tf.engine().runKernel(WASM_BATCH_MATMUL_KERNEL, { a, b } as unknown as tf.NamedTensorMap, {}) as tf.Tensor3D;
  }
  return tf.matMul(a, b);
}
