import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listModels, planModel, registry, setBackend, tf } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildModel, resolveModelRef, resolveModelSpec } from '../src/model.js';
import { loadPlugins } from '../src/plugins.js';
import { tesseraInProcess as tessera } from './cli-inprocess.js';
import { tempDir } from './helpers.js';

/*
 * `tessera spec <model>` prints the JSON a named model is built from; building that
 * JSON with `--model spec.json` gives the identical model: the same state-dict keys
 * and shapes, the same parameter count, and for the same seed the same logits.
 */

describe('tessera spec', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    await loadPlugins();
  });

  test('every named model round-trips through its printed spec: the same validated spec and the same plan', async () => {
    const dir = tempDir('spec');
    const names = listModels();
    expect(names).toEqual(expect.arrayContaining(['deit_base_patch16_224', 't2t_vit_24', 't2t_vit_t_24']));
    // Planning allocates no tensor, so every model is planned at 224 px, a size every family accepts
    // (FAN-Swin's 7x7 windows need a grid that is a multiple of 7 at every stage).
    const overrides = { imgSize: 224, numClasses: 10, seed: 3 };
    for (const name of names) {
      const file = join(dir, `${name}.json`);
      const printed = resolveModelSpec(await resolveModelRef(name), overrides);
      writeFileSync(file, JSON.stringify(printed));
      const readBack = resolveModelSpec(await resolveModelRef(file));
      expect(readBack, name).toEqual(registry.modelSpec(name, overrides));
      // One builder turns a plan into modules, so equal plans (blocks, prefixes, options, feature specs) build equal models.
      const plan = (spec: typeof printed) => planModel(spec, registry).map((p) => ({ ...p, definition: undefined }));
      expect(plan(readBack), name).toEqual(plan(registry.modelSpec(name, overrides)));
    }
  });

  test("every named model refuses an unknown or out-of-range option by name (core's modelOptions, extended per family)", () => {
    for (const name of listModels()) {
      expect(() => registry.modelSpec(name, { numClass: 10 }), name).toThrow(/numClass/);
      expect(() => registry.modelSpec(name, { dropPathRate: 1 }), name).toThrow(`${name} option dropPathRate = 1 is not accepted`);
      expect(() => registry.modelSpec(name, { imgSize: [32] as never }), name).toThrow(`${name} option imgSize`);
    }
  });

  test('built from the file, the smallest model of each family has the same keys, shapes, count and logits', async () => {
    const dir = tempDir('spec-build');
    const images = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    for (const name of ['deit_tiny_patch16_224', 't2t_vit_7', 't2t_vit_t_14', 'fan_tiny_12_p16_224', 'fan_tiny_8_p4_hybrid', 'uniformer_small', 'flexivit_small']) {
      const overrides = { imgSize: 32, numClasses: 10, seed: 3 };
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(resolveModelSpec(await resolveModelRef(name), overrides)));
      const named = buildModel(await resolveModelRef(name), overrides);
      const fromFile = buildModel(await resolveModelRef(file));
      const shapes = (m: typeof named) => Object.entries(m.stateDict()).map(([k, v]) => [k, v.shape]);
      expect(shapes(fromFile), name).toEqual(shapes(named));
      expect(fromFile.numParameters(), name).toBe(named.numParameters());
      const [a, b] = [named.predict(images), fromFile.predict(images)];
      expect(Array.from(b.dataSync()), name).toEqual(Array.from(a.dataSync()));
      tf.dispose([a, b]);
      named.dispose();
      fromFile.dispose();
    }
    images.dispose();
  }, 600_000);

  test('the CLI prints the spec, writes it with --out, and info builds the same model from the file', async () => {
    const printed = await tessera(['spec', 'deit_tiny_patch16_224']);
    expect(printed.status, printed.stderr).toBe(0);
    const spec = JSON.parse(printed.stdout) as { stem: { name: string }; stages: Array<{ name: string; depth?: number }>; head: { name: string }; cropPct: number };
    expect(spec.stem.name).toBe('patch_embed');
    expect(spec.stages.map((s) => [s.name, s.depth])).toEqual([['', undefined], ['blocks', 12]]);
    expect(spec.head.name).toBe('');
    expect(spec.cropPct).toBe(0.875);

    const file = join(tempDir('spec-cli'), 't2t.json');
    const written = await tessera(['spec', 't2t_vit_7', '--img-size', '64', '--num-classes', '10', '--out', file]);
    expect(written.status, written.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8')).stem).toMatchObject({ block: 't2t', name: 'tokens_to_token' });
    const fromFile = await tessera(['info', file, '--json', '--backend', 'wasm']);
    const byName = await tessera(['info', 't2t_vit_7', '--img-size', '64', '--num-classes', '10', '--json', '--backend', 'wasm']);
    expect(fromFile.status, fromFile.stderr).toBe(0);
    expect(fromFile.json<{ params: number }>().params).toBe(byName.json<{ params: number }>().params);
  }, 600_000);

  test('a misspelled block option in a spec file is refused with the spec path and the closest key', async () => {
    const file = join(tempDir('spec-bad'), 'bad.json');
    const spec = JSON.parse((await tessera(['spec', 'deit_tiny_patch16_224', '--img-size', '32'])).stdout);
    spec.stages[1].options.mlpRatoi = 2;
    writeFileSync(file, JSON.stringify(spec));
    const r = await tessera(['spec', file]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/stages\[1\]\.options\.mlpRatoi: unknown option\. Did you mean 'mlpRatio'\?/);
  });
});
