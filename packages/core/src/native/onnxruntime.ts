/*
 * The one place core touches onnxruntime-node internals. Its public
 * `InferenceSession.run` returns a promise, which a tfjs kernel (synchronous)
 * cannot await; the N-API binding underneath (dist/binding.js in the package,
 * which has no `exports` map, so the deep path resolves) runs synchronously and
 * writes into preallocated output tensors. That binding is not public API, so
 * core loads it only from the onnxruntime-node versions it was tested with, and
 * says exactly what it found otherwise.
 */

/** onnxruntime-node versions whose internal binding layout core was written and tested against. */
export const SUPPORTED_ONNXRUNTIME = '1.30.x';
const SUPPORTED_PREFIX = '1.30.';

/** onnxruntime-common's Tensor, as far as core uses it. */
export interface OrtTensorConstructor {
  new (type: 'float32', data: Float32Array, dims: readonly number[]): object;
}

export interface OrtSessionOptions {
  intraOpNumThreads: number;
  interOpNumThreads: number;
  graphOptimizationLevel: 'all';
  executionMode: 'sequential';
  extra: Record<string, Record<string, Record<string, string>>>;
}

/** The binding's session: load a model from bytes, run it synchronously. */
export interface OrtSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: OrtSessionOptions): void;
  run(feeds: Record<string, object>, fetches: Record<string, object>, options: Record<string, never>): Record<string, unknown>;
}

export interface OnnxRuntime {
  readonly version: string;
  readonly Tensor: OrtTensorConstructor;
  createSession(): OrtSession;
}

export class OnnxRuntimeUnavailable extends Error {}

type Require = (id: string) => unknown;
type Loader = () => OnnxRuntime;

type ResolvingRequire = Require & { resolve(id: string): string };

/** Node's createRequire, reached without a static import so that core's main entry still runs in browsers. */
function createRequire(from: string): ResolvingRequire {
  const proc = (globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } }).process;
  const nodeModule = proc?.versions?.node ? (proc.getBuiltinModule?.('node:module') as { createRequire(from: string): ResolvingRequire } | undefined) : undefined;
  if (!nodeModule) throw new OnnxRuntimeUnavailable('onnxruntime-node runs only in Node.js (>= 20.16)');
  return nodeModule.createRequire(from);
}

function load(): OnnxRuntime {
  // Resolved from core's own location: onnxruntime-node is core's optional peer dependency.
  const require = createRequire(import.meta.url);
  let manifestPath: string;
  try {
    manifestPath = require.resolve('onnxruntime-node/package.json');
  } catch {
    throw new OnnxRuntimeUnavailable('the optional package onnxruntime-node is not installed');
  }
  const version = (require(manifestPath) as { version?: string }).version ?? 'unknown';
  if (!version.startsWith(SUPPORTED_PREFIX)) {
    throw new OnnxRuntimeUnavailable(`onnxruntime-node ${version} is installed, but core's native matmul uses its internal binding and supports only ${SUPPORTED_ONNXRUNTIME} (npm install onnxruntime-node@1.30)`);
  }
  // onnxruntime-common must be the copy the binding was initialised with (its Tensor class is checked natively).
  const fromPackage = createRequire(manifestPath);
  try {
    const { binding, initOrt } = fromPackage('./dist/binding.js') as { binding: { InferenceSession: new () => OrtSession }; initOrt: () => void };
    const { Tensor } = fromPackage('onnxruntime-common') as { Tensor: OrtTensorConstructor };
    if (typeof initOrt !== 'function' || typeof binding?.InferenceSession !== 'function' || typeof Tensor !== 'function') {
      throw new Error('dist/binding.js no longer exports { binding.InferenceSession, initOrt }');
    }
    initOrt();
    return { version, Tensor, createSession: () => new binding.InferenceSession() };
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new OnnxRuntimeUnavailable(`onnxruntime-node ${version} is installed but its native binding could not be loaded (${detail})`);
  }
}

let loader: Loader = load;
let loaded: OnnxRuntime | OnnxRuntimeUnavailable | undefined;

/** onnxruntime-node's synchronous binding, loaded once; throws OnnxRuntimeUnavailable saying why not. */
export function onnxRuntime(): OnnxRuntime {
  if (loaded === undefined) {
    try {
      loaded = loader();
    } catch (error) {
      loaded = error instanceof OnnxRuntimeUnavailable ? error : new OnnxRuntimeUnavailable(error instanceof Error ? error.message : String(error));
    }
  }
  if (loaded instanceof OnnxRuntimeUnavailable) throw loaded;
  return loaded;
}

/** Test hook: replace how onnxruntime-node is loaded (undefined restores the real loader) and forget the last load. */
export function overrideOnnxRuntimeLoaderForTesting(replacement: Loader | undefined): void {
  loader = replacement ?? load;
  loaded = undefined;
}

/** Cores this process may use (os.availableParallelism), 1 where it cannot be read. */
export function availableCores(): number {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('node:os') as { availableParallelism?(): number } | undefined;
  return Math.max(1, os?.availableParallelism?.() ?? 1);
}
