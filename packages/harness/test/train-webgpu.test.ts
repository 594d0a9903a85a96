import { BackendUnavailableError, setBackend, tf, webgpuAdapterDescription } from '@tessera/core';
import { describe, expect, test } from 'vitest';
import { TRAIN_DEFAULTS, type TrainConfig } from '../src/config.js';
import { evaluateRun } from '../src/evaluate-run.js';
import { resolveModelRef } from '../src/model.js';
import { loadPlugins } from '../src/plugins.js';
import { train } from '../src/train/trainer.js';
import { tempDir, TINY_SPEC } from './helpers.js';

/*
 * The webgpu backend (tfjs-backend-webgpu on Dawn, npm `webgpu`) trains and
 * evaluates. On a machine without a GPU, Dawn runs on Mesa's llvmpipe through
 * OpenGL (core's setBackend picks that adapter; .ci/run installs the Mesa EGL/GL
 * packages). Outside CI a machine that cannot create any adapter skips, saying why;
 * in CI (CI=true) it fails instead.
 */
const tinySpec = await resolveModelRef(TINY_SPEC);

const config = (out: string, overrides: Partial<TrainConfig>): TrainConfig => ({
  ...TRAIN_DEFAULTS,
  model: tinySpec,
  plugins: [],
  data: 'synthetic',
  trainSize: 16,
  testSize: 16,
  imgSize: 16,
  epochs: 1,
  batchSize: 8,
  evalBatchSize: 16,
  augment: [],
  smoothing: 0,
  out,
  ...overrides,
});

/**
 * First-step loss tolerance between wasm and webgpu: float32 sums in other orders
 * on both backends, on a loss of about 2.3 (log 10 classes): agreement to 2e-5 absolute.
 */
const FIRST_STEP_TOL = 2e-5;

async function webgpuAvailable(): Promise<string | undefined> {
  try {
    await setBackend('webgpu');
    return undefined;
  } catch (error) {
    if (!(error instanceof BackendUnavailableError)) throw error;
    return error.message;
  }
}

describe('webgpu backend (Dawn)', () => {
  test('a short training run: first-step loss equals wasm within 2e-5, then trains, evaluates and leaks no tensors', async (ctx) => {
    const unavailable = await webgpuAvailable();
    if (unavailable !== undefined) {
      if (process.env.CI === 'true') throw new Error(`CI must run the webgpu smoke test, but no WebGPU adapter could be created: ${unavailable}`);
      ctx.skip(`no WebGPU adapter on this machine (${unavailable}); .ci/run installs Mesa's EGL/GL for Dawn's OpenGL adapter`);
      return;
    }
    console.log(`webgpu adapter: ${webgpuAdapterDescription()}`);
    await loadPlugins();
    const wasm = await train(config(tempDir('gpu-ref'), { backend: 'wasm', steps: 1 }));
    const first = await train(config(tempDir('gpu-1'), { backend: 'webgpu', steps: 1 }));
    expect(first.backend).toBe('webgpu');
    console.log(`first-step loss: wasm ${wasm.trainLoss}, webgpu ${first.trainLoss}`);
    expect(Math.abs(first.trainLoss - wasm.trainLoss)).toBeLessThanOrEqual(FIRST_STEP_TOL);
    expect(Math.abs(first.loss - wasm.loss)).toBeLessThanOrEqual(1e-3);
    // tessera eval of that run on webgpu: the weights load without a synchronous readback, and --workers does not apply.
    const notes: string[] = [];
    const evaluated = await evaluateRun({ checkpoint: first.runDir, backend: 'webgpu', workers: 2, info: (line) => notes.push(line) });
    expect(evaluated.workers).toBe(1);
    expect(notes).toEqual(['--workers applies to the wasm and cpu backends; webgpu evaluates in one thread']);
    expect(evaluated.top1).toBe(first.top1);
    expect(Math.abs(evaluated.loss - first.loss)).toBeLessThanOrEqual(1e-5);
    const before = tf.memory().numTensors;
    const run = await train(config(tempDir('gpu-2'), { backend: 'webgpu', ema: 0.5 }));
    expect(run.steps).toBe(2);
    expect(Number.isFinite(run.trainLoss)).toBe(true);
    expect(run.top1).toBeGreaterThanOrEqual(0);
    expect(run.emaTop1).toBeDefined();
    expect(tf.memory().numTensors).toBe(before);
  });
});
