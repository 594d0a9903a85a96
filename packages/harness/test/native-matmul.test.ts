import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeMatMulStatus, setBackend } from '@tessera/core';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { TrainConfig } from '../src/config.js';
import { evaluateRun } from '../src/evaluate-run.js';
import { matmulThreadsPerWorker } from '../src/environment.js';
import { loadPlugins } from '../src/plugins.js';
import { readMetrics, train } from '../src/train/trainer.js';
import { tempDir, tessera, TINY_SPEC, tinyTrainConfig } from './helpers.js';

/*
 * The optional native matmul (core's onnxruntime-node path, a dev dependency here)
 * as `tessera train` uses it: on by default when installed, off with
 * TESSERA_NATIVE_MATMUL=off, in every data-parallel worker, and named in
 * result.json and the report. Products of this 64-wide ViT (136 rows × 64 × 192
 * and up) are above the size below which tfjs's kernels are kept.
 */
const spec = {
  name: 'vit_w64_d2_16',
  imgSize: 16,
  numClasses: 10,
  stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 64 } },
  stages: [{ block: 'class_token' }, { block: 'transformer', depth: 2, options: { numHeads: 2, mlpRatio: 3 } }],
  head: { block: 'classifier', options: { numClasses: 10 } },
};

const config = (out: string, overrides: Partial<TrainConfig> = {}): TrainConfig => tinyTrainConfig({ name: spec.name, spec }, out, overrides);

const trainLosses = async (runDir: string) => (await readMetrics(runDir)).filter((m) => m.type === 'train').map((m) => m.loss);

describe('native matmul in training', () => {
  beforeAll(async () => {
    await loadPlugins();
  });

  afterEach(async () => {
    delete process.env.TESSERA_NATIVE_MATMUL;
    await setBackend('wasm');
  });

  test('on by default, off by TESSERA_NATIVE_MATMUL=off, on in each data-parallel worker; losses agree to 1e-4; result.json and the report say which ran', async () => {
    process.env.TESSERA_NATIVE_MATMUL = 'off';
    const off = await train(config(tempDir('native-off'), { workers: 1 }));
    expect(off.matmul).toBe('tfjs');
    expect(nativeMatMulStatus().active).toBe(false);

    delete process.env.TESSERA_NATIVE_MATMUL;
    const on = await train(config(tempDir('native-on'), { workers: 1 }));
    expect(on.matmul).toMatch(/^onnxruntime-node 1\.30\.\d+ \(\d+ threads?\)$/);
    expect(nativeMatMulStatus().calls.native).toBeGreaterThan(0);
    const workers = await train(config(tempDir('native-workers'), { workers: 2 }));
    const threads = matmulThreadsPerWorker(2);
    expect(workers.matmul).toMatch(new RegExp(`^onnxruntime-node 1\\.30\\.\\d+ \\(${threads} threads? in each of 2 workers\\)$`));

    const reference = await trainLosses(off.runDir);
    expect(reference).toHaveLength(4);
    for (const run of [on, workers]) {
      const losses = await trainLosses(run.runDir);
      expect(losses).toHaveLength(4);
      losses.forEach((loss, i) => expect(Math.abs(loss - reference[i]!)).toBeLessThanOrEqual(1e-4));
    }
    expect(readFileSync(join(on.runDir, 'report.html'), 'utf8')).toContain(`<th>matmul</th><td>${on.matmul}</td>`);
    expect(JSON.parse(readFileSync(join(off.runDir, 'result.json'), 'utf8')).matmul).toBe('tfjs');
    // `tessera eval` names it too.
    const evaluated = await evaluateRun({ checkpoint: on.runDir, backend: 'wasm' });
    expect(evaluated.matmul).toMatch(/^onnxruntime-node 1\.30\.\d+ \(\d+ threads?\)$/);
  });

  test('tessera info says what runs the matrix products, and why the native matmul is off when it is', () => {
    const on = tessera(['info', TINY_SPEC, '--backend', 'wasm']);
    expect(on.status, on.stderr).toBe(0);
    expect(on.stdout).toMatch(/^backend wasm, matmul onnxruntime-node 1\.30\.\d+ \(\d+ threads?\)$/m);
    const cpu = tessera(['info', TINY_SPEC, '--backend', 'cpu']);
    expect(cpu.status, cpu.stderr).toBe(0);
    expect(cpu.stdout).toContain("backend cpu, matmul tfjs (native matmul off: it replaces the wasm backend's kernels and the backend is cpu)");
  });
});
