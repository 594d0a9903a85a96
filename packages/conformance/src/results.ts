import type { ModelSpecInput } from '@tessera/core';

/**
 * The contract, one name per invariant. Every failure message starts with the
 * contract it breaks, so a red test or a `tessera check` row says what to fix.
 */
export const CONTRACTS = {
  build: 'built or refused before any tensor exists, the refusal naming the spec path',
  shapes: 'output shapes and layouts equal the planned ones',
  finite: 'logits and the gradients of every trainable parameter are finite',
  'batch-independence': 'in eval mode, outputs do not depend on the rest of the batch',
  determinism: 'the same seed gives identical weights and outputs',
  'state-dict': 'a state-dict round trip through safetensors reproduces the outputs',
  leaks: 'tensor counts are unchanged over forward, backward and optimiser steps',
  'loss-decreases': 'one optimiser step on a fixed batch lowers the loss',
  'augmentation-targets': 'augmentation targets are finite, non-negative rows that sum to 1',
  'augmentation-model-check': "an augmentation's checkModel refuses exactly the models it cannot serve",
  'augmentation-leaks': 'an augmentation step leaves no tensor behind',
  'plugin-name': 'the plugin is named like an npm package',
  'plugin-version': 'the plugin version is semver',
  'plugin-core-range': 'the plugin core range admits the installed @tessera/core',
  'plugin-collisions': 'the plugin contributes no name another official plugin or core contributes',
  'plugin-declarations': 'every block declares positions and examples its options accept, and every named model plans',
} as const;

export type Contract = keyof typeof CONTRACTS;

export type CheckStatus = 'pass' | 'fail' | 'skip';

/** The outcome of one invariant on one combination (or one plugin). */
export interface CheckResult {
  readonly contract: Contract;
  readonly status: CheckStatus;
  /** For a failure, what broke (the contract name leads); for a skip, why it does not apply. */
  readonly message: string;
  /** The augmentation this result is about, for augmentation contracts. */
  readonly augmentation?: string;
  /** Which of the augmentation's declared examples it ran with (absent for options that are no declared example). */
  readonly example?: number;
}

/** An augmentation by registered name, with its options: one of its declared examples (`example` is the index) or any others. */
export interface AugmentationRef {
  readonly name: string;
  readonly options: Record<string, unknown>;
  /** Index into the augmentation's `examples` when `options` is that example; absent once a shrink changed the options. */
  readonly example?: number;
}

/** Several references in short, grouped by augmentation: `cutmix#0,2 mixup#1`. */
export function augmentationsLabel(refs: readonly AugmentationRef[]): string {
  const groups = new Map<string, string[]>();
  for (const ref of refs) {
    const label = augmentationLabel(ref);
    const [name, index] = ref.example !== undefined ? [ref.name, String(ref.example)] : [label, ''];
    groups.set(name, [...(groups.get(name) ?? []), index]);
  }
  return [...groups].map(([name, indices]) => (indices.every((i) => i !== '') ? `${name}#${indices.join(',')}` : name)).join(' ');
}

/** `mixup#1` for a declared example, `mixup {"prob":0.5}` for other options, `mixup` for its defaults. */
export function augmentationLabel(ref: AugmentationRef): string {
  if (ref.example !== undefined) return `${ref.name}#${ref.example}`;
  return Object.keys(ref.options).length ? `${ref.name} ${JSON.stringify(ref.options)}` : ref.name;
}

/**
 * One thing to check: a model spec, the augmentations to run on it, and the seed
 * of its inputs (the spec carries the seed of its weights).
 */
export interface Combination {
  /** Short label: the blocks and example indices, e.g. `patch_embed#0 > transformer#1 > classifier#0`. */
  readonly label: string;
  readonly spec: ModelSpecInput;
  readonly augmentations: readonly AugmentationRef[];
  readonly seed: number;
}

export interface CombinationResult {
  readonly combination: Combination;
  /** built: the model was made and checked; refused: it was refused up front (a pass when the refusal keeps the contract). */
  readonly outcome: 'built' | 'refused' | 'failed';
  /** The refusal message, when refused. */
  readonly refusal?: string;
  readonly checks: readonly CheckResult[];
  readonly passed: boolean;
  readonly seconds: number;
}

/** The augmentation a result is about: a name, or a reference that also says which example and options. */
type Subject = string | AugmentationRef | undefined;

function about(subject: Subject): Pick<CheckResult, 'augmentation' | 'example'> {
  if (subject === undefined) return {};
  if (typeof subject === 'string') return { augmentation: subject };
  return { augmentation: subject.name, ...(subject.example !== undefined ? { example: subject.example } : {}) };
}

export function pass(contract: Contract, message = '', augmentation?: Subject): CheckResult {
  return { contract, status: 'pass', message, ...about(augmentation) };
}

export function skip(contract: Contract, reason: string, augmentation?: Subject): CheckResult {
  return { contract, status: 'skip', message: reason, ...about(augmentation) };
}

/**
 * A failure whose message leads with the contract, then the augmentation it is
 * about with the example index and its options (what a replay needs), then what broke.
 */
export function fail(contract: Contract, detail: string, augmentation?: Subject): CheckResult {
  let subject = '';
  if (typeof augmentation === 'string') subject = ` (augmentation '${augmentation}')`;
  else if (augmentation) {
    const which = augmentation.example !== undefined ? ` example #${augmentation.example}` : '';
    subject = ` (augmentation '${augmentation.name}'${which} with options ${JSON.stringify(augmentation.options)})`;
  }
  return { contract, status: 'fail', message: `${contract}${subject}: ${CONTRACTS[contract]} — ${detail}`, ...about(augmentation) };
}

/** The failures of a result, one line each. */
export function failures(checks: readonly CheckResult[]): string[] {
  return checks.filter((c) => c.status === 'fail').map((c) => c.message);
}
