import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createModel, planModel, registry, setBackend, tf } from '@tessera/core';
import { saveSafetensors } from '@tessera/core/node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../src/commands.js';
import { SYNTHETIC_CLASSES } from '../src/data/index.js';
import { loadPlugins } from '../src/plugins.js';
import { WASM_HEAP_BYTES } from '../src/resources.js';
import { tempDir } from './helpers.js';

/*
 * Every named model of every installed plugin through the user's paths: createModel,
 * `tessera info`, `tessera spec`, a one-step `tessera train --model <name>` on
 * synthetic data at the smallest input size the model plans at, and `tessera eval`
 * on that run folder. This is what catches `train --model t2t_vit_7` failing with
 * "unknown model" when the plugins load after the name is resolved. The CLI runs in
 * this process (one backend, one registry), so each model costs its own work only.
 *
 * At full width that work is mostly drawing initial values (~100 ns a parameter in
 * JavaScript), so the paths draw them only where a user needs them: createModel and
 * the training thread. `info` counts without values, and eval, resume and the
 * data-parallel workers build with the weights they load (buildWithWeights).
 *
 * A model whose parameters, gradients and AdamW moments alone exceed the wasm heap
 * (flexivit_large: 16 bytes × 303 M) cannot train on wasm at any size: train must
 * refuse it before building, naming the model, the estimate, the limit and the
 * backends that can, and the model then goes through eval by the other documented
 * path, a weights file saved from createModel (`eval --checkpoint w.safetensors --model`).
 */

/** Candidate input sizes, smallest first; FAN-Swin's 7x7 windows need a grid divisible by 7 at every stage, so 224. */
const SIZES = [16, 32, 48, 64, 96, 112, 224] as const;
const CLASSES = SYNTHETIC_CLASSES.length;
/** Parameters, gradients and AdamW's two moments: four float32 copies. */
const TRAIN_STATE_BYTES_PER_PARAMETER = 16;

function smallestSize(name: string): number {
  for (const size of SIZES) {
    try {
      planModel(registry.modelSpec(name, { imgSize: size, numClasses: CLASSES }), registry);
      return size;
    } catch {
      // Too small for this model's geometry; try the next size.
    }
  }
  throw new Error(`${name} plans at none of ${SIZES.join(', ')} px`);
}

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function cli(args: readonly string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['node', 'tessera', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const lastJson = <T>(run: Run): T => JSON.parse(run.out[run.out.length - 1]!) as T;

await setBackend('wasm');
await loadPlugins();
const MODELS = registry.listModels();
const root = tempDir('named-models');

describe('every named model through the CLI', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('covers the models of every official plugin', () => {
    const plugins = new Set(MODELS.map((m) => registry.getModel(m).plugin));
    for (const p of ['@tessera/core', '@tessera/plugin-t2t', '@tessera/plugin-fan', '@tessera/plugin-flexivit', '@tessera/plugin-uniformer']) expect(plugins).toContain(p);
  });

  test.each(MODELS)('%s: createModel, info, spec, train one step (or the refusal with advice) and eval', async (name) => {
    const size = smallestSize(name);
    const sizeFlags = ['--img-size', String(size)];
    const dir = join(root, name);

    const spec = await cli(['spec', name, ...sizeFlags, '--num-classes', String(CLASSES)]);
    expect(spec.code, spec.err.join('\n')).toBe(0);
    const printed = JSON.parse(spec.out.join('\n')) as { name: string; imgSize: number | [number, number]; numClasses: number };
    expect([printed.imgSize].flat()[0]).toBe(size);
    expect(printed.numClasses).toBe(CLASSES);

    const model = createModel(name, { imgSize: size, numClasses: CLASSES });
    const params = model.numParameters();
    expect(model.config.numClasses).toBe(CLASSES);
    const fitsWasm = TRAIN_STATE_BYTES_PER_PARAMETER * params <= WASM_HEAP_BYTES;
    const weightsFile = join(dir, 'weights.safetensors');
    try {
      if (!fitsWasm) await saveSafetensors(weightsFile, model.stateDict());
    } finally {
      model.dispose();
    }

    const info = await cli(['info', name, ...sizeFlags, '--num-classes', String(CLASSES), '--backend', 'wasm', '--json']);
    expect(info.code, info.err.join('\n')).toBe(0);
    expect(lastJson<{ params: number }>(info).params).toBe(params);

    const tensorsBefore = tf.memory().numTensors;
    const train = await cli([
      'train', '--model', name, ...sizeFlags, '--steps', '1', '--data', 'synthetic',
      '--train-size', '4', '--test-size', '4', '--batch-size', '2', '--eval-batch-size', '4',
      '--backend', 'wasm', '--out', join(dir, 'run'), '--quiet', '--json',
    ]);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    let evalArgs: string[];
    if (fitsWasm) {
      expect(train.code, train.err.join('\n')).toBe(0);
      expect(lastJson<{ steps: number }>(train).steps).toBe(1);
      evalArgs = ['--checkpoint', join(dir, 'run')];
    } else {
      // Refused before building (no draw, no run folder), with the estimate, the limit and what to do instead.
      expect(train.code).toBe(1);
      const error = lastJson<{ error: string }>(train).error;
      expect(error).toMatch(new RegExp(`^${name} at ${size}x${size}: a training step .* needs at least [\\d.]+ GiB, more than the 4 GiB wasm heap`));
      expect(error).toMatch(/parameters, gradients and AdamW moments alone need at least [\d.]+ GiB, so no --batch-size or --img-size fits/);
      expect(error).toMatch(/--backend cpu .*--backend webgpu/);
      expect(existsSync(join(dir, 'run')), 'a refused run creates no run folder').toBe(false);
      evalArgs = ['--checkpoint', weightsFile, '--model', name, ...sizeFlags, '--data', 'synthetic', '--test-size', '4'];
    }

    const evaluated = await cli(['eval', ...evalArgs, '--batch-size', '4', '--backend', 'wasm', '--json']);
    expect(evaluated.code, evaluated.err.join('\n')).toBe(0);
    const metrics = lastJson<{ images: number; loss: number; weights: string }>(evaluated);
    expect(metrics.images).toBe(4);
    expect(Number.isFinite(metrics.loss)).toBe(true);
    expect(metrics.weights).toMatch(/\.safetensors$/);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    rmSync(dir, { recursive: true, force: true });
  }, 600_000);
});
