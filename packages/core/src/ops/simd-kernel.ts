import { tf } from '../tensor/tf.js';
import { wasmHeap, type WasmHeap } from './wasm-adapter.js';
import { shareWasmIdentity } from './wasm-identity.js';

/*
 * The glue every core SIMD128 kernel (kernels/*.wat, compiled into *.wasm.ts at
 * build time) needs to run on tfjs-wasm's own heap: decode the embedded bytes,
 * compile them once per process, instantiate once per heap memory (a re-created
 * wasm backend comes with a new memory), and register the kernel functions on the
 * `wasm` backend the first time the adapter (wasm-adapter.ts, version-checked)
 * attaches. The kernels then read and write tensors in place: no copies.
 */

/** One tfjs kernel served by a SIMD module's exports. */
export interface SimdKernelFunc<E> {
  readonly kernelName: string;
  /**
   * Computes the kernel's outputs. Allocate outputs with `heap.makeOutput` before
   * reading any offset: allocating may grow (and so move) the heap.
   */
  readonly run: (exports: E, heap: WasmHeap, inputs: Record<string, tf.TensorInfo>, attrs: Record<string, unknown>) => tf.TensorInfo | tf.TensorInfo[];
}

export interface SimdKernel<E> {
  /** Whether the kernels serve the current backend: it is wasm, the adapter attaches, and the engine has SIMD128. */
  active(): boolean;
  /** The module's exports bound to `heap`'s memory, or null where it cannot be instantiated. */
  exportsFor(heap: WasmHeap): E | null;
}

function decodeBase64(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * A SIMD module (`base64`: the WASM_BYTES_BASE64 of a generated kernels/*.wasm.ts,
 * importing `env.memory`) and the tfjs kernels it implements on the wasm backend.
 */
export function simdKernel<E>(base64: string, kernels: ReadonlyArray<SimdKernelFunc<E>>): SimdKernel<E> {
  let compiled: WebAssembly.Module | null | undefined;
  const instances = new WeakMap<WebAssembly.Memory, E>();
  let registered = false;

  const exportsFor = (heap: WasmHeap): E | null => {
    let exports = instances.get(heap.memory);
    if (exports) return exports;
    if (compiled === undefined) {
      try {
        compiled = new WebAssembly.Module(decodeBase64(base64));
      } catch {
        // An engine without SIMD128.
        compiled = null;
      }
    }
    if (!compiled) return null;
    try {
      exports = new WebAssembly.Instance(compiled, { env: { memory: heap.memory } }).exports as unknown as E;
    } catch {
      // e.g. a threaded build whose shared memory does not match the import.
      return null;
    }
    instances.set(heap.memory, exports);
    return exports;
  };

  const install = (): boolean => {
    const backend = tf.findBackend('wasm');
    const heap = backend ? wasmHeap(backend) : null;
    if (!heap || !exportsFor(heap)) return false;
    if (!registered) {
      // With the adapter attached (a tfjs-wasm version it knows), clones share buffers too (wasm-identity.ts).
      shareWasmIdentity();
      for (const { kernelName, run } of kernels) {
        tf.registerKernel({
          kernelName,
          backendName: 'wasm',
          kernelFunc: ({ inputs, backend: b, attrs }) => {
            const h = wasmHeap(b as object)!;
            return run(exportsFor(h)!, h, inputs as unknown as Record<string, tf.TensorInfo>, (attrs ?? {}) as Record<string, unknown>);
          },
        });
      }
      registered = true;
    }
    return true;
  };

  return { active: () => tf.getBackend() === 'wasm' && install(), exportsFor };
}
