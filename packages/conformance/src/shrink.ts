import type { ModelSpecInput, Registry } from '@tessera/core';
import { runCombination, type RunOptions } from './run.js';
import type { Combination, CombinationResult, Contract } from './results.js';

type Stage = NonNullable<ModelSpecInput['stages']>[number];
type Ref = { block: string; options?: Record<string, unknown> };

/** Simpler variants of a combination, simplest change first. */
function* simpler(c: Combination): Generator<Combination> {
  const spec = c.spec;
  const stages = (spec.stages ?? []) as Stage[];
  const withSpec = (s: Partial<ModelSpecInput>, what: string): Combination => ({ ...c, spec: { ...spec, ...s } as ModelSpecInput, label: `${c.label} (${what})` });
  if (c.augmentations.length > 1) for (let i = 0; i < c.augmentations.length; i++) yield { ...c, augmentations: [c.augmentations[i]!] };
  if (c.augmentations.length) yield { ...c, augmentations: [] };
  // An augmentation's example back at its defaults, then one option at a time: what stays is what the failure needs.
  for (let i = 0; i < c.augmentations.length; i++) {
    const ref = c.augmentations[i]!;
    const keys = Object.keys(ref.options);
    const withOptions = (options: Record<string, unknown>): Combination => ({ ...c, augmentations: c.augmentations.map((r, j) => (j === i ? { name: r.name, options } : r)) });
    if (keys.length > 1) yield withOptions({});
    for (const key of keys) {
      const { [key]: _dropped, ...rest } = ref.options;
      yield withOptions(rest);
    }
  }
  for (let i = 0; i < stages.length; i++) yield withSpec({ stages: stages.filter((_, j) => j !== i) }, `without stages[${i}]`);
  for (let i = 0; i < stages.length; i++) {
    const depth = stages[i]!.depth;
    if (depth !== undefined && depth > 1) yield withSpec({ stages: stages.map((s, j) => (j === i ? { ...s, depth: 1 } : s)) }, `stages[${i}].depth 1`);
  }
  if ((spec.dropPathRate ?? 0) > 0) yield withSpec({ dropPathRate: 0 }, 'no drop path');
  if ((spec.numClasses ?? 1000) > 2) yield withSpec({ numClasses: 2 }, '2 classes');
  const refs: Array<[string, Ref, (r: Ref) => Partial<ModelSpecInput>]> = [
    ['stem', spec.stem as Ref, (r) => ({ stem: { ...spec.stem, ...r } })],
    ...stages.map((s, i): [string, Ref, (r: Ref) => Partial<ModelSpecInput>] => [`stages[${i}]`, s as Ref, (r) => ({ stages: stages.map((t, j) => (j === i ? { ...t, ...r } : t)) })]),
    ['head', spec.head as Ref, (r) => ({ head: { ...spec.head, ...r } })],
  ];
  for (const [path, ref, replace] of refs) {
    for (const key of Object.keys(ref.options ?? {})) {
      const { [key]: _dropped, ...rest } = ref.options!;
      yield withSpec(replace({ block: ref.block, options: rest }), `${path}.options.${key} at its default`);
    }
  }
}

function fails(result: CombinationResult, contract: Contract): boolean {
  return result.checks.some((c) => c.status === 'fail' && c.contract === contract);
}

export interface ShrunkCounterexample {
  /** The smallest combination found that still breaks the contract. */
  readonly combination: Combination;
  readonly result: CombinationResult;
  readonly contract: Contract;
  /** How many simplifications were accepted. */
  readonly steps: number;
}

/**
 * Shrinks a failing combination greedily, as property-testing libraries shrink a
 * counterexample: tries simpler variants (fewer augmentations, an augmentation's
 * options back at their defaults, fewer stages, depth 1, no drop path, two classes,
 * each block option back at its default) and keeps any that
 * still break the same contract, until none does or `budget` runs are spent.
 */
export function shrinkCombination(failing: CombinationResult, registry: Registry, options: RunOptions & { budget?: number } = {}): ShrunkCounterexample {
  const contract = failing.checks.find((c) => c.status === 'fail')!.contract;
  let current = failing;
  let steps = 0;
  let budget = options.budget ?? 40;
  let improved = true;
  while (improved && budget > 0) {
    improved = false;
    for (const candidate of simpler(current.combination)) {
      if (budget-- <= 0) break;
      const result = runCombination({ ...candidate, label: failing.combination.label }, registry, options);
      if (fails(result, contract)) {
        current = result;
        steps++;
        improved = true;
        break;
      }
    }
  }
  return { combination: current.combination, result: current, contract, steps };
}

/** The replay file `tessera check` writes for a failure: the spec and seed that reproduce it. */
export interface Counterexample {
  readonly format: 'tessera-check-counterexample';
  readonly version: 1;
  readonly contract: Contract;
  readonly message: string;
  readonly label: string;
  readonly seed: number;
  readonly spec: ModelSpecInput;
  /** Each with the options it ran with (and the index of the declared example they are, unless shrinking changed them). */
  readonly augmentations: Combination['augmentations'];
  /** The plugins that were registered (name@version), for the reader. */
  readonly plugins: readonly string[];
}

export function counterexample(shrunk: ShrunkCounterexample, plugins: readonly string[]): Counterexample {
  const failure = shrunk.result.checks.find((c) => c.status === 'fail' && c.contract === shrunk.contract)!;
  return {
    format: 'tessera-check-counterexample',
    version: 1,
    contract: shrunk.contract,
    message: failure.message,
    label: shrunk.combination.label,
    seed: shrunk.combination.seed,
    spec: shrunk.combination.spec,
    augmentations: shrunk.combination.augmentations,
    plugins,
  };
}

/** Reads a counterexample back into a combination to run (refusing anything else). */
export function combinationFromCounterexample(value: unknown): Combination {
  const v = value as Partial<Counterexample> | null;
  if (!v || typeof v !== 'object' || v.format !== 'tessera-check-counterexample' || !v.spec || typeof v.seed !== 'number') {
    throw new Error('not a tessera check counterexample: expected a JSON object with format "tessera-check-counterexample", spec and seed');
  }
  return { label: v.label ?? 'replay', spec: v.spec, seed: v.seed, augmentations: Array.isArray(v.augmentations) ? v.augmentations : [] };
}
