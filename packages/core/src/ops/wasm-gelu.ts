import { tf } from '../tensor/tf.js';
import { WASM_BYTES_BASE64 } from './kernels/gelu.wasm.js';
import { wasmHeap, type WasmHeap } from './wasm-adapter.js';

/*
 * Exact GELU and its gradient as one SIMD128 pass each (kernels/gelu.wat) on the
 * wasm backend, instead of the 4 + 9 tfjs kernels (scalar Erf and Exp among them)
 * the composite costs. Registered like the batched matmul (wasm-batch-matmul.ts):
 * extra kernels on tfjs-wasm's own heap, reading and writing tensors in place.
 */

export const WASM_GELU_KERNEL = 'TesseraGelu';
export const WASM_GELU_GRAD_KERNEL = 'TesseraGeluGrad';

interface GeluExports {
  gelu(x: number, y: number, n: number): void;
  gelu_grad(x: number, dy: number, dx: number, n: number): void;
}

function kernelBytes(): Uint8Array<ArrayBuffer> {
  const binary = atob(WASM_BYTES_BASE64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, GeluExports>();
let registered = false;

function kernelFor(heap: WasmHeap): GeluExports | null {
  let exports = instances.get(heap.memory);
  if (!exports) {
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
      exports = new WebAssembly.Instance(compiled, { env: { memory: heap.memory } }).exports as unknown as GeluExports;
    } catch {
      return null;
    }
    instances.set(heap.memory, exports);
  }
  return exports;
}

function install(): boolean {
  const backend = tf.findBackend('wasm');
  const heap = backend ? wasmHeap(backend) : null;
  if (!heap || !kernelFor(heap)) return false;
  if (!registered) {
    tf.registerKernel({
      kernelName: WASM_GELU_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend: b }) => {
        const h = wasmHeap(b as object)!;
        const { x } = inputs as { x: tf.TensorInfo };
        const out = h.makeOutput(x.shape);
        // Offsets are read after makeOutput: allocating may grow the heap.
        kernelFor(h)!.gelu(h.offsetOf(x), h.offsetOf(out), tf.util.sizeFromShape(x.shape));
        return out;
      },
    });
    tf.registerKernel({
      kernelName: WASM_GELU_GRAD_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend: b }) => {
        const h = wasmHeap(b as object)!;
        const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
        const out = h.makeOutput(x.shape);
        kernelFor(h)!.gelu_grad(h.offsetOf(x), h.offsetOf(dy), h.offsetOf(out), tf.util.sizeFromShape(x.shape));
        return out;
      },
    });
    registered = true;
  }
  return true;
}

/** Whether the SIMD GELU kernels serve the current backend (exposed for tests and benchmarks). */
export function wasmGeluActive(): boolean {
  return tf.getBackend() === 'wasm' && install();
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
