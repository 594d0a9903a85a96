import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { getBackend, nativeMatMulStatus, tf } from '@tessera/core';
import { registeredPlugins } from './plugins.js';

const require = createRequire(import.meta.url);

function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export const HARNESS_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Threads for each data-parallel worker's native matmul: the cores, shared among the workers. */
export function matmulThreadsPerWorker(workers: number): number {
  return Math.max(1, Math.floor(availableParallelism() / workers));
}

/** What ran the matrix products: `tfjs` (the backend's own kernels) or e.g. `onnxruntime-node 1.30.0 (2 threads)`. */
export function describeMatMul(workers = 1): string {
  const status = nativeMatMulStatus();
  if (!status.active) return 'tfjs';
  const threads = workers > 1 ? matmulThreadsPerWorker(workers) : status.threads!;
  const plural = threads === 1 ? 'thread' : 'threads';
  return `${status.provider} (${workers > 1 ? `${threads} ${plural} in each of ${workers} workers` : `${threads} ${plural}`})`;
}

/** `tessera info`'s diagnostic line: the backend, what runs matrix products, and why the native matmul is off if it is. */
export function describeMatMulLine(): string {
  const status = nativeMatMulStatus();
  const why = !status.active && status.reason ? ` (native matmul off: ${status.reason})` : '';
  return `backend ${getBackend()}, matmul ${describeMatMul()}${why}`;
}

/** What produced a run: backend, matmul, package and runtime versions, for the report and the JSON result. */
export function describeEnvironment(workers = 1): { backend: string; matmul: string; node: string; platform: string; packages: Record<string, string> } {
  const packages: Record<string, string> = { '@tessera/harness': HARNESS_VERSION };
  for (const p of registeredPlugins()) packages[p.name] = p.version;
  packages['@tensorflow/tfjs-core'] = tf.version_core;
  const vega = packageVersion('vega');
  if (vega) packages.vega = vega;
  const onnxruntime = packageVersion('onnxruntime-node');
  if (onnxruntime) packages['onnxruntime-node'] = onnxruntime;
  return { backend: getBackend(), matmul: describeMatMul(workers), node: process.version, platform: `${process.platform}-${process.arch}`, packages };
}
