import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { batchMatMul, setBackend, tf } from '../src/index.js';
import { overrideWasmVersionForTesting, SUPPORTED_TFJS_WASM } from '../src/ops/wasm-adapter.js';
import { wasmBatchMatMulActive } from '../src/ops/wasm-batch-matmul.js';
import { compileWat, generatedModuleFor } from '../scripts/wat.mjs';

const kernels = fileURLToPath(new URL('../src/ops/kernels/', import.meta.url));
const watFiles = readdirSync(kernels).filter((f) => f.endsWith('.wat'));

describe('WebAssembly text kernels', () => {
  it('has the batched matmul kernel as .wat source', () => {
    expect(watFiles).toContain('batch-matmul.wat');
  });

  it.each(watFiles)('the embedded bytes of %s are what wabt compiles from it today (run `node scripts/compile-wat.mjs` when this fails)', async (file) => {
    const source = readFileSync(join(kernels, file), 'utf8');
    const generated = readFileSync(join(kernels, file.replace(/\.wat$/, '.wasm.ts')), 'utf8');
    expect(generated).toBe(generatedModuleFor(file, await compileWat(file, source)));
  });
});

describe('tfjs-wasm adapter', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });
  afterEach(() => {
    overrideWasmVersionForTesting(undefined);
    vi.restoreAllMocks();
  });

  it(`attaches to the installed tfjs-backend-wasm (${SUPPORTED_TFJS_WASM})`, () => {
    expect(wasmBatchMatMulActive()).toBe(true);
  });

  it('on another tfjs-wasm version, warns once and falls back to tf.matMul with the same values, leak-free', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    overrideWasmVersionForTesting('4.23.0');
    expect(wasmBatchMatMulActive()).toBe(false);
    const a = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3]);
    const b = tf.tensor3d([1, 0, -1, 2, 0.5, 1, 3, -2, 1, 1, 1, 1], [2, 3, 2]);
    const before = tf.memory().numTensors;
    const y = batchMatMul(a, b);
    const y2 = batchMatMul(a, b, false, false, 0.5);
    // Hand-computed: [[1,2,3]·[[1,0],[-1,2],[0.5,1]] = [0.5, 7], [4,5,6]·… = [2, 16]];
    // [[7,8,9]·[[3,-2],[1,1],[1,1]] = [38, 3], [10,11,12]·… = [53, 3]].
    expect(Array.from(y.dataSync())).toEqual([0.5, 7, 2, 16, 38, 3, 53, 3]);
    expect(Array.from(y2.dataSync())).toEqual([0.25, 3.5, 1, 8, 19, 1.5, 26.5, 1.5]);
    tf.dispose([y, y2]);
    expect(tf.memory().numTensors).toBe(before);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/tfjs-backend-wasm 4\.23\.0 is not a version core's SIMD kernels support \(4\.22\.x\).*plain tfjs kernels/);
    tf.dispose([a, b]);
  });

  it('attaches again once the version matches', () => {
    overrideWasmVersionForTesting('4.22.0');
    expect(wasmBatchMatMulActive()).toBe(true);
  });
});
