import { corePlugin, Registry, setBackend } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { combinationFromCounterexample, counterexample, failures, runCombination, shrinkCombination, type Combination } from '../src/index.js';
import { samplePlugin } from './fixtures/sample-plugin.js';

beforeAll(async () => {
  await setBackend('wasm');
});

describe('shrinking and replay', () => {
  test('a failing combination shrinks to fewer stages and options, still failing the same contract, and replays from its file', () => {
    const registry = new Registry().use(corePlugin).use(samplePlugin('nan'));
    const big: Combination = {
      label: 'big',
      seed: 5,
      augmentations: [{ name: 'mixup', options: {} }],
      spec: {
        imgSize: 16,
        numClasses: 5,
        dropPathRate: 0.1,
        stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 8 } },
        stages: [
          { block: 'class_token', options: { posEmbed: 'sinusoid' } },
          { block: 'transformer', depth: 2, options: { numHeads: 2, mlpRatio: 2 } },
          { block: 'sample_residual', options: { scale: 0.5 } },
        ],
        head: { block: 'classifier', options: { pool: 'token', norm: 'none' } },
      },
    };
    const failing = runCombination(big, registry);
    expect(failing.passed).toBe(false);
    const shrunk = shrinkCombination(failing, registry);
    expect(shrunk.contract).toBe('finite');
    expect(shrunk.steps).toBeGreaterThan(0);
    const stages = shrunk.combination.spec.stages ?? [];
    // The transformer stage, the drop path and the options are not needed to produce NaN; the broken block is.
    expect(stages.map((s) => s.block)).toContain('sample_residual');
    expect(stages.length).toBeLessThan(3);
    expect(shrunk.combination.augmentations).toEqual([]);
    expect(shrunk.combination.spec.numClasses).toBe(2);
    const file = JSON.parse(JSON.stringify(counterexample(shrunk, ['tessera-plugin-sample-nan@1.2.3'])));
    expect(file.message).toMatch(/^finite: /);
    const replayed = runCombination(combinationFromCounterexample(file), registry);
    expect(failures(replayed.checks).join('\n')).toContain('finite: ');
    expect(() => combinationFromCounterexample({ spec: {} })).toThrow(/not a tessera check counterexample/);
  });
});

describe('shrinking an augmentation example', () => {
  test("a failure under one declared example keeps that example's options in the counterexample, and replays", () => {
    const registry = new Registry().use(corePlugin).use(samplePlugin('targets-example'));
    const combination: Combination = {
      label: 'patch_embed#0 > class_token#0 sample_residual#0 > classifier#0',
      seed: 3,
      augmentations: [
        { name: 'mixup', options: {}, example: 0 },
        { name: 'sample_smooth', options: {}, example: 0 },
        { name: 'sample_smooth', options: { epsilon: 0.1, spread: 'others' }, example: 1 },
      ],
      spec: {
        imgSize: 16,
        numClasses: 3,
        stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 8 } },
        stages: [{ block: 'class_token', options: {} }, { block: 'sample_residual', options: {} }],
        head: { block: 'classifier', options: { pool: 'token' } },
      },
    };
    const failing = runCombination(combination, registry);
    // Only examples[1] breaks: the defaults of the same augmentation keep the contract.
    const failed = failing.checks.filter((c) => c.status === 'fail');
    expect(failed.map((c) => [c.contract, c.augmentation, c.example])).toEqual([['augmentation-targets', 'sample_smooth', 1]]);
    expect(failed[0]!.message).toMatch(/^augmentation-targets \(augmentation 'sample_smooth' example #1 with options \{"epsilon":0\.1,"spread":"others"\}\): /);
    const shrunk = shrinkCombination(failing, registry);
    expect(shrunk.contract).toBe('augmentation-targets');
    // The other augmentations go; the option that breaks it stays (epsilon may go back to its default: it still breaks there).
    expect(shrunk.combination.augmentations).toHaveLength(1);
    expect(shrunk.combination.augmentations[0]).toMatchObject({ name: 'sample_smooth', options: { spread: 'others' } });
    const file = JSON.parse(JSON.stringify(counterexample(shrunk, ['tessera-plugin-sample-targets-example@1.2.3'])));
    expect(file.augmentations[0].options.spread).toBe('others');
    const replayed = runCombination(combinationFromCounterexample(file), registry);
    expect(failures(replayed.checks).join('\n')).toMatch(/^augmentation-targets \(augmentation 'sample_smooth' with options \{.*"spread":"others".*\}\): /);
  });
});
