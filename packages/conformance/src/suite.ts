import { corePlugin, getBackend, Registry, setBackend, type BackendChoice, type TesseraPlugin } from '@tessera/core';
import { enumerateCombinations, sampleCombinations } from './combinations.js';
import { checkPlugin } from './invariants/plugin.js';
import { augmentationsLabel, failures } from './results.js';
import { runCombination } from './run.js';

/** A test registrar with vitest's (and Jest's, node:test's) shape: `test(name, fn, timeout?)`. */
export type TestFunction = (name: string, fn: () => void | Promise<void>, timeout?: number) => unknown;
/** A group registrar: `describe(name, fn)`. */
export type DescribeFunction = (name: string, fn: () => void) => unknown;

export interface PluginSuiteOptions {
  readonly plugin: TesseraPlugin;
  /** The test runner's `test` (or `it`). */
  readonly test: TestFunction;
  /** The test runner's `describe`, to group the tests under the plugin's name. */
  readonly describe?: DescribeFunction;
  /** Plugins whose blocks this plugin's models or combinations need, registered before it. */
  readonly dependencies?: readonly TesseraPlugin[];
  /** Tensor backend (default 'wasm', as CI runs). */
  readonly backend?: BackendChoice;
  /** Square input size of the combinations (default 16). */
  readonly imgSize?: number;
  /** Seed of inputs and weights (default 0). */
  readonly seed?: number;
  /** Run at most this many combinations, drawn with the seed (default: all the enumeration gives). */
  readonly runs?: number;
  /** Above this many combinations per position, reduce to pairwise coverage (default 60). */
  readonly maxProduct?: number;
  /** Per-test timeout in ms (default 60 000). */
  readonly timeout?: number;
}

let backendReady: Promise<unknown> | undefined;

function ensureBackend(backend: BackendChoice): Promise<unknown> {
  backendReady ??= (async () => {
    try {
      if (getBackend() === backend) return;
    } catch {
      // No backend chosen yet.
    }
    await setBackend(backend);
  })();
  return backendReady;
}

/**
 * Registers the conformance suite for one plugin with the caller's test runner:
 * the plugin-level checks, then one test per combination of the plugin's blocks
 * (each example option set in each position it declares, with the partners core and
 * `dependencies` offer), each running every invariant, with every registered
 * augmentation on every built model under its declared examples (all of them, or
 * one per combination in pairwise coverage when combinations × examples exceeds
 * `maxProduct`; the test name lists them, e.g. `… | cutmix#1 mixup#0`). Runs on a fresh registry (core, dependencies,
 * the plugin), never the process-wide one.
 *
 *   import { pluginSuite } from '@tessera/conformance';
 *   import { describe, test } from 'vitest';
 *   pluginSuite({ plugin: myPlugin, test, describe });
 */
export function pluginSuite(options: PluginSuiteOptions): void {
  const { plugin, test } = options;
  const timeout = options.timeout ?? 60_000;
  const backend = options.backend ?? 'wasm';
  const body = () => {
    test(
      'plugin: name, version, core range, collisions, declarations',
      () => {
        const problems = failures(checkPlugin(plugin, { dependencies: options.dependencies ?? [] }));
        if (problems.length) throw new Error(problems.join('\n'));
      },
      timeout,
    );
    // A plugin that cannot be registered has no combinations to run; the test above says why.
    let registry: Registry;
    try {
      registry = new Registry().use(corePlugin);
      for (const dependency of options.dependencies ?? []) registry.use(dependency);
      registry.use(plugin);
    } catch {
      return;
    }
    const { combinations } = enumerateCombinations(registry, {
      focus: plugin.name,
      imgSize: options.imgSize ?? 16,
      seed: options.seed ?? 0,
      maxProduct: options.maxProduct ?? 60,
    });
    const chosen = options.runs === undefined ? combinations : sampleCombinations(combinations, options.runs, options.seed ?? 0);
    for (const combination of chosen) {
      const augmentations = augmentationsLabel(combination.augmentations);
      test(
        augmentations ? `${combination.label} | ${augmentations}` : combination.label,
        async () => {
          await ensureBackend(backend);
          const result = runCombination(combination, registry);
          const problems = failures(result.checks);
          if (problems.length) throw new Error(`${problems.join('\n')}\nspec: ${JSON.stringify(combination.spec)}\naugmentations: ${JSON.stringify(combination.augmentations)}\nseed: ${combination.seed}`);
        },
        timeout,
      );
    }
  };
  if (options.describe) options.describe(`conformance: ${plugin.name}`, body);
  else body();
}
