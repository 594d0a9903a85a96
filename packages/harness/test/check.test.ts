import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OFFICIAL_PLUGINS } from '@tessera/conformance';
import { registry, setBackend } from '@tessera/core';
import { describe, expect, test } from 'vitest';
import { loadPlugins } from '../src/plugins.js';
import { tempDir, tessera } from './helpers.js';

const LEAKY = fileURLToPath(new URL('./fixtures/leaky-plugin.mjs', import.meta.url));

interface CheckJson {
  plugins: string[];
  combinations: number;
  enumerated: number;
  product: number;
  pairwise: boolean;
  built: number;
  refused: number;
  failed: number;
  pluginFailures: number;
  augmentationExamples: Array<{ name: string; examples: number; coverage: string }>;
  results: Array<{
    label: string;
    outcome: string;
    passed: boolean;
    augmentations: Array<{ name: string; example?: number; options: Record<string, unknown> }>;
    checks: Array<{ contract: string; status: string; message: string }>;
  }>;
  counterexample?: string;
}

describe('tessera check', () => {
  test('passes on all official plugins together (a seeded 40 of the pairwise combinations), in a table and in JSON', () => {
    const r = tessera(['check', '--runs', '40', '--seed', '7', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const json = r.json<CheckJson>();
    for (const name of ['@tessera/plugin-t2t', '@tessera/plugin-transmix', '@tessera/plugin-fan', '@tessera/plugin-flexivit', '@tessera/plugin-uniformer']) {
      expect(json.plugins.some((p) => p.startsWith(`${name}@`))).toBe(true);
    }
    expect(json.combinations).toBe(40);
    // Every stem x stage list x head of the official blocks, reduced to pairwise coverage.
    expect(json.pairwise).toBe(true);
    expect(json.enumerated).toBeLessThan(json.product);
    expect(json.failed).toBe(0);
    expect(json.pluginFailures).toBe(0);
    // Both outcomes occur, so neither side of "built or refused" is vacuous.
    expect(json.built).toBeGreaterThan(10);
    expect(json.refused).toBeGreaterThan(0);
    // Each augmentation runs under its declared examples (one per combination, spread pairwise), each carrying its options.
    expect(json.augmentationExamples.map((a) => a.name)).toEqual(['corrupt', 'cutmix', 'mixup', 'transmix']);
    for (const a of json.augmentationExamples) expect(a.examples, a.name).toBeGreaterThanOrEqual(2);
    const refs = json.results.flatMap((r) => r.augmentations);
    for (const { name, examples } of json.augmentationExamples) {
      const used = new Set(refs.filter((a) => a.name === name).map((a) => a.example));
      expect(used.size, name).toBe(examples);
    }
    expect(refs.some((a) => a.name === 'transmix' && a.options.lambda === 'attention')).toBe(true);
    const table = tessera(['check', '--runs', '3', '--seed', '7']);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/combination\s+outcome\s+build\s+shape\s+finite\s+batch\s+seed\s+state\s+leaks\s+loss\s+augment \(corrupt, cutmix, mixup, transmix\)/);
    // Built rows mark each augmentation with the index of the example it ran with.
    expect(table.stdout).toMatch(/built .*  [✓r✗·]\d [✓r✗·]\d [✓r✗·]\d [✓r✗·]\d\n/);
    expect(table.stdout).toMatch(/augmentation examples: corrupt 2 \(pairwise over the combinations\), cutmix 3 .*transmix 3/);
    expect(table.stdout).toMatch(/3 combinations \(pairwise coverage of a \d+-row product\), 3 of \d+ drawn with seed 7: \d+ built, \d+ refused up front, 0 failed/);
  });

  test('a plugin that leaks fails via --plugin, naming the contract; the shrunk counterexample replays', () => {
    const dir = tempDir('check');
    const out = join(dir, 'failure.json');
    const r = tessera(['check', '--plugin', LEAKY, '--only', 'tessera-plugin-leaky', '--runs', '4', '--out', out, '--json']);
    expect(r.status).toBe(1);
    const json = r.json<CheckJson>();
    expect(json.failed).toBeGreaterThan(0);
    const broken = json.results.filter((x) => !x.passed);
    expect(broken.every((x) => x.label.includes('leaky_identity#0'))).toBe(true);
    expect(broken[0]!.checks.filter((c) => c.status === 'fail').map((c) => c.contract)).toEqual(['leaks']);
    expect(json.counterexample).toBe(out);
    const file = JSON.parse(readFileSync(out, 'utf8')) as { contract: string; message: string; seed: number; spec: { stages: Array<{ block: string }> }; augmentations: unknown[] };
    expect(file.contract).toBe('leaks');
    expect(file.message).toMatch(/^leaks: tensor counts are unchanged .* leaves 1 tensor\(s\) per call/);
    // Shrunk: the augmentations are not needed to leak, the leaky block is.
    expect(file.augmentations).toEqual([]);
    expect(file.spec.stages.map((s) => s.block)).toContain('leaky_identity');
    const replay = tessera(['check', '--plugin', LEAKY, '--replay', out]);
    expect(replay.status).toBe(1);
    expect(replay.stdout).toMatch(/fails:\n\s+leaks: /);
    const table = tessera(['check', '--plugin', LEAKY, '--only', 'tessera-plugin-leaky', '--runs', '1', '--out', join(dir, 'again.json')]);
    expect(table.status).toBe(1);
    expect(table.stdout).toMatch(/FAILED/);
    expect(table.stdout).toMatch(/FAIL .*leaky_identity#0.*: leaks: /);
    expect(existsSync(join(dir, 'again.json'))).toBe(true);
  });

  test('the conformance kit knows every name the official plugins contribute (OFFICIAL_PLUGINS is current)', async () => {
    await setBackend('wasm');
    await loadPlugins();
    for (const plugin of registry.listPlugins()) {
      const names = OFFICIAL_PLUGINS[plugin.name];
      expect(names, `${plugin.name} is missing from @tessera/conformance's OFFICIAL_PLUGINS: run node packages/conformance/scripts/official-names.mjs after a build`).toBeDefined();
      expect({ blocks: Object.keys(plugin.blocks ?? {}).sort(), models: Object.keys(plugin.models ?? {}).sort(), augmentations: Object.keys(plugin.augmentations ?? {}).sort() }, 'run node packages/conformance/scripts/official-names.mjs after a build').toEqual(names);
    }
  });
});
