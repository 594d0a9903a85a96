import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createModel, planModel, registry, setBackend } from '@tessera/core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../src/commands.js';
import { loadPlugins } from '../src/plugins.js';
import { tempDir } from './helpers.js';

/*
 * Every named model of every installed plugin through the user's paths: createModel,
 * `tessera info`, `tessera spec`, a one-step `tessera train --model <name>` on
 * synthetic data at the smallest input size the model plans at, and `tessera eval`
 * on that run folder. This is what catches `train --model t2t_vit_7` failing with
 * "unknown model" when the plugins load after the name is resolved. The CLI runs in
 * this process (one backend, one registry), so each model costs its own work only.
 *
 * That work is the models' full widths: initialising 86M parameters takes ~15 s here
 * and each path builds the model again (deit_base: 72 s for the five steps, a 1 GB
 * run folder), so all 40 models would take most of an hour. By default every model
 * goes through `tessera spec` (every block planned, no tensor), and the whole path
 * runs for the models up to 384 channels wide and the cheapest model of each plugin.
 * TESSERA_ALL_MODELS=1 runs the whole path for every model.
 */

/** Candidate input sizes, smallest first; FAN-Swin's 7x7 windows need a grid divisible by 7 at every stage, so 224. */
const SIZES = [16, 32, 48, 64, 96, 112, 224] as const;

function smallestSize(name: string): number {
  for (const size of SIZES) {
    try {
      planModel(registry.modelSpec(name, { imgSize: size, numClasses: 4 }), registry);
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

/** The widest feature a model plans (its channels), a proxy for its cost that needs no tensor. */
function maxWidth(name: string, size: number): number {
  return Math.max(...planModel(registry.modelSpec(name, { imgSize: size, numClasses: 4 }), registry).map((p) => p.output.channels));
}

const FULL_PATH_WIDTH = process.env.TESSERA_ALL_MODELS === '1' ? Number.POSITIVE_INFINITY : 384;

const lastJson = <T>(run: Run): T => JSON.parse(run.out[run.out.length - 1]!) as T;

await setBackend('wasm');
await loadPlugins();
const MODELS = registry.listModels();
/** Σ channels² over the planned blocks: proportional to a transformer's parameter count, known without a tensor. */
function cost(name: string): number {
  return planModel(registry.modelSpec(name, { imgSize: smallestSize(name), numClasses: 4 }), registry).reduce((sum, p) => sum + p.output.channels ** 2, 0);
}

/** Models that take the whole path: up to FULL_PATH_WIDTH channels, and the cheapest model of each plugin. */
const FULL_PATH = (() => {
  const chosen = new Set(MODELS.filter((m) => maxWidth(m, smallestSize(m)) <= FULL_PATH_WIDTH));
  const narrowest = new Map<string, [string, number]>();
  for (const m of MODELS) {
    const plugin = registry.getModel(m).plugin;
    const c = cost(m);
    const best = narrowest.get(plugin);
    if (best === undefined || c < best[1]) narrowest.set(plugin, [m, c]);
  }
  for (const [m] of narrowest.values()) chosen.add(m);
  return chosen;
})();
const root = tempDir('named-models');

describe('every named model through the CLI', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('covers the models of every official plugin, the whole path for at least one of each', () => {
    const plugins = new Set(MODELS.map((m) => registry.getModel(m).plugin));
    const full = new Set([...FULL_PATH].map((m) => registry.getModel(m).plugin));
    for (const p of ['@tessera/core', '@tessera/plugin-t2t', '@tessera/plugin-fan', '@tessera/plugin-flexivit', '@tessera/plugin-uniformer']) {
      expect(plugins).toContain(p);
      expect(full).toContain(p);
    }
  });

  test.each(MODELS)('%s: spec; createModel, info, train one step and eval when at most 384 channels wide or its plugin\'s cheapest', async (name) => {
    const size = smallestSize(name);
    const spec = await cli(['spec', name, '--img-size', String(size), '--num-classes', '4']);
    expect(spec.code, spec.err.join('\n')).toBe(0);
    const printed = JSON.parse(spec.out.join('\n')) as { name: string; imgSize: number | [number, number]; numClasses: number };
    expect([printed.imgSize].flat()[0]).toBe(size);
    expect(printed.numClasses).toBe(4);
    if (!FULL_PATH.has(name)) return;

    const model = createModel(name, { imgSize: size, numClasses: 4 });
    const params = model.numParameters();
    expect(model.config.numClasses).toBe(4);
    model.dispose();

    const info = await cli(['info', name, '--img-size', String(size), '--num-classes', '4', '--backend', 'wasm', '--json']);
    expect(info.code, info.err.join('\n')).toBe(0);
    expect(lastJson<{ params: number }>(info).params).toBe(params);

    const dir = join(root, name);
    const train = await cli([
      'train', '--model', name, '--img-size', String(size), '--steps', '1', '--data', 'synthetic',
      '--train-size', '4', '--test-size', '4', '--batch-size', '2', '--eval-batch-size', '4',
      '--backend', 'wasm', '--out', dir, '--quiet', '--json',
    ]);
    expect(train.code, train.err.join('\n')).toBe(0);
    expect(lastJson<{ steps: number }>(train).steps).toBe(1);

    // One thread: the run's own final evaluation above already ran on its training workers (one
    // per core, each a replica of this model); starting more here would only add their start-up time.
    const evaluated = await cli(['eval', '--checkpoint', dir, '--backend', 'wasm', '--workers', '1', '--json']);
    expect(evaluated.code, evaluated.err.join('\n')).toBe(0);
    const metrics = lastJson<{ images: number; top1: number; loss: number }>(evaluated);
    expect(metrics.images).toBe(4);
    expect(Number.isFinite(metrics.loss)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  }, 600_000);
});
