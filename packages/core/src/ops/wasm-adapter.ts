import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import semver from 'semver';
import { tf } from '../tensor/tf.js';

/*
 * The one place core touches tfjs-backend-wasm internals: its linear memory
 * (`backend.wasm.asm.memory`, an emscripten detail), the heap offset of a
 * tensor (`dataIdMap`) and output allocation (`makeOutput`). None of these is
 * public API, so core's own wasm kernels run only on tfjs-wasm versions they
 * were tested with (the workspace catalog pins 4.22.0). On any other version,
 * or when the internals are not where they were, the adapter is unavailable,
 * warns once, and the callers use plain tfjs kernels instead: slower, same values.
 */

/** tfjs-backend-wasm versions whose internals this adapter was written and tested against. */
export const SUPPORTED_TFJS_WASM = '4.22.x';

export interface WasmHeap {
  /** tfjs-wasm's linear memory, to import into core's kernel modules. */
  readonly memory: WebAssembly.Memory;
  /** Byte offset of a tensor's data in `memory` (read after any allocation: allocating may grow the heap). */
  offsetOf(tensor: tf.TensorInfo): number;
  /** A new float32 tensor on the wasm heap. */
  makeOutput(shape: number[]): tf.TensorInfo;
}

interface WasmBackendInternals {
  wasm?: { asm?: { memory?: unknown } };
  dataIdMap?: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput?(shape: number[], dtype: 'float32'): tf.TensorInfo;
}

let warned = false;
let versionOverride: string | undefined;

function warnOnce(message: string): void {
  if (warned) return;
  warned = true;
  console.warn(`@tessera/core: ${message}; using the plain tfjs kernels instead (correct, slower).`);
}

/** Why core's kernels cannot attach to this backend, or null when they can. */
function incompatibility(backend: WasmBackendInternals, version: string): string | null {
  if (!semver.satisfies(version, SUPPORTED_TFJS_WASM)) {
    return `tfjs-backend-wasm ${version} is not a version core's SIMD kernels support (${SUPPORTED_TFJS_WASM})`;
  }
  if (!(backend.wasm?.asm?.memory instanceof WebAssembly.Memory)) return `tfjs-backend-wasm ${version} exposes no wasm memory`;
  if (typeof backend.dataIdMap?.get !== 'function' || typeof backend.makeOutput !== 'function') {
    return `tfjs-backend-wasm ${version} has no dataIdMap/makeOutput`;
  }
  return null;
}

/**
 * The adapter for a tfjs-wasm backend instance, or null (after one warning) when
 * its version or internals do not match what core's kernels were built for.
 */
export function wasmHeap(backend: object): WasmHeap | null {
  const internals = backend as WasmBackendInternals;
  const problem = incompatibility(internals, versionOverride ?? version_wasm);
  if (problem !== null) {
    warnOnce(problem);
    return null;
  }
  return {
    memory: internals.wasm!.asm!.memory as WebAssembly.Memory,
    offsetOf: (tensor) => {
      const entry = internals.dataIdMap!.get(tensor.dataId);
      if (!entry) throw new Error('tensor is not on the wasm backend');
      return entry.memoryOffset;
    },
    makeOutput: (shape) => internals.makeOutput!(shape, 'float32'),
  };
}

/**
 * Test hook: pretend the installed tfjs-backend-wasm has another version
 * (undefined restores the real one) and allow the warning again.
 */
export function overrideWasmVersionForTesting(version: string | undefined): void {
  versionOverride = version;
  warned = false;
}
