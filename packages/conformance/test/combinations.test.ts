import { corePlugin, parseModelSpec, planModel, Registry } from '@tessera/core';
import { describe, expect, test } from 'vitest';
import { enumerateCombinations } from '../src/index.js';
import { samplePlugin } from './fixtures/sample-plugin.js';

const registry = new Registry().use(corePlugin).use(samplePlugin());

function planned(spec: Parameters<typeof parseModelSpec>[0]): boolean {
  try {
    planModel(parseModelSpec(spec), registry);
    return true;
  } catch {
    return false;
  }
}

describe('augmentation examples in the enumeration', () => {
  test('with few combinations, every example of every augmentation runs on every combination', () => {
    const e = enumerateCombinations(registry, { focus: 'tessera-plugin-sample', maxProduct: 10_000 });
    expect(e.augmentations).toEqual([
      { name: 'cutmix', examples: 3, coverage: 'every' },
      { name: 'mixup', examples: 3, coverage: 'every' },
      { name: 'sample_smooth', examples: 2, coverage: 'every' },
    ]);
    for (const c of e.combinations) {
      expect(c.augmentations.map((a) => `${a.name}#${a.example}`)).toEqual(['cutmix#0', 'cutmix#1', 'cutmix#2', 'mixup#0', 'mixup#1', 'mixup#2', 'sample_smooth#0', 'sample_smooth#1']);
    }
    const smooth = e.combinations[0]!.augmentations.find((a) => a.name === 'sample_smooth' && a.example === 1)!;
    expect(smooth.options).toEqual(samplePlugin().augmentations!.sample_smooth!.examples![1]);
  });

  test('above maxProduct, one example per combination, each example meeting every stem, stage list and head among the combinations that build', () => {
    const e = enumerateCombinations(registry, { maxProduct: 60 });
    expect(e.augmentations.map((a) => a.coverage)).toEqual(['pairwise', 'pairwise', 'pairwise']);
    const built = e.combinations.filter((c) => planned(c.spec));
    expect(built.length).toBeGreaterThan(20);
    expect(built.length).toBeLessThan(e.combinations.length);
    for (const { name, examples } of e.augmentations) {
      const met = new Map<string, Set<number>>();
      for (const c of built) {
        const refs = c.augmentations.filter((a) => a.name === name);
        expect(refs).toHaveLength(1);
        const [stem, stages, head] = c.label.split(' > ');
        for (const key of [`stem ${stem}`, `stages ${stages}`, `head ${head}`]) met.set(key, new Set([...(met.get(key) ?? []), refs[0]!.example!]));
      }
      // Every value of every position that builds at least `examples` times meets each example.
      const counts = new Map<string, number>();
      for (const c of built) {
        const [stem, stages, head] = c.label.split(' > ');
        for (const key of [`stem ${stem}`, `stages ${stages}`, `head ${head}`]) counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      const checked = [...counts].filter(([, n]) => n >= examples);
      expect(checked.length).toBeGreaterThan(8);
      for (const [key] of checked) expect(met.get(key)!.size, `${name} at ${key}`).toBe(examples);
    }
  });
});
