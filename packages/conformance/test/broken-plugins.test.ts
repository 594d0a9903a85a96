import { setBackend } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { checkPlugin, CONTRACTS, failures, type Contract } from '../src/index.js';
import { samplePlugin, type Breakage } from './fixtures/sample-plugin.js';
import { runSuite } from './helpers.js';

beforeAll(async () => {
  await setBackend('wasm');
});

/** The contracts a failure message names (each message leads with its contract). */
function contractsNamed(errors: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (const e of errors) for (const line of e.split('\n')) {
    const m = /^([a-z-]+)(?: \(augmentation '[^']+'(?: example #\d+)?(?: with options \{.*?\})?\))?: /.exec(line);
    if (m && m[1]! in CONTRACTS) named.add(m[1]!);
  }
  return named;
}

describe('the conformance kit', () => {
  test('passes the correct sample plugin: every registered test green', async () => {
    const results = await runSuite({ plugin: samplePlugin() });
    // Plugin checks + the combinations of its one block (stage) with core's stems and heads.
    expect(results.length).toBeGreaterThan(10);
    expect(results.filter((r) => r.error)).toEqual([]);
  });

  const cases: Array<[Breakage, Contract, RegExp]> = [
    ['leak', 'leaks', /leaves 1 tensor\(s\) per call/],
    ['wrong-shape', 'shapes', /reports outputSpec|planned .*but forward returned/],
    ['nan', 'finite', /NaN/],
    ['targets', 'augmentation-targets', /sums to 0\.8/],
    // Fine at its defaults; breaks only under its declared example #1: the failure names that example and its options.
    ['targets-example', 'augmentation-targets', /^augmentation-targets \(augmentation 'sample_smooth' example #1 with options \{"epsilon":0\.1,"spread":"others"\}\): .*sums to 1\.0[45]/m],
    ['core-range', 'plugin-core-range', /\^999\.0\.0/],
  ];
  test("fails, under plugin-declarations, an augmentation example its own options refuse (use() refuses the plugin), naming the example", () => {
    const plugin = samplePlugin();
    const smooth = plugin.augmentations!.sample_smooth!;
    const broken = { ...plugin, augmentations: { sample_smooth: { ...smooth, examples: [{}, { epsilon: 1.5 }] } } };
    const problems = failures(checkPlugin(broken));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^plugin-declarations: .*use\(\) refuses it: .*augmentation 'sample_smooth' examples\[1\] \{"epsilon":1\.5\} is refused by its own options: epsilon: /);
  });

  test.each(cases)('fails the plugin that breaks %s, naming the %s contract', async (breakage, contract, detail) => {
    const results = await runSuite({ plugin: samplePlugin(breakage) });
    const errors = results.flatMap((r) => (r.error ? [r.error] : []));
    expect(errors.length).toBeGreaterThan(0);
    // The broken contract is named, with what broke; no other contract is blamed.
    expect([...contractsNamed(errors)]).toEqual([contract]);
    expect(errors.some((e) => detail.test(e))).toBe(true);
  });
});
