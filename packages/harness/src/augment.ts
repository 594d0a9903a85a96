import { chainAugmentations, createAugmentation, InvalidArgumentError, registry, type Augmentation, type VisionModel } from '@tessera/core';
import type { AugmentSpec } from './config.js';

/**
 * Parses `--augment mixup,cutmix` or `--augment mixup:mixupAlpha=0.8;prob=0.5,transmix`:
 * comma-separated names, each with optional `key=value` options (values read as JSON, else strings).
 */
export function parseAugmentList(text: string): AugmentSpec[] {
  if (text.trim() === '' || text.trim() === 'none') return [];
  const parts = text.split(',');
  if (parts.some((part) => part.trim() === 'none')) {
    throw new InvalidArgumentError('--augment', text, "'none' alone (no augmentation) or a list of augmentations; 'none' cannot be combined with others");
  }
  return parts.map((part) => {
    const [name, rest] = part.trim().split(/:(.*)/s, 2) as [string, string | undefined];
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new InvalidArgumentError('--augment', text, 'comma-separated augmentation names, each optionally followed by :key=value;key=value');
    const options: Record<string, unknown> = {};
    for (const pair of (rest ?? '').split(';').filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq < 1) throw new InvalidArgumentError('--augment', text, `key=value options after '${name}:' (got '${pair}')`);
      const raw = pair.slice(eq + 1);
      let value: unknown = raw;
      try {
        value = JSON.parse(raw);
      } catch {
        // A bare word stays a string (mode=elem).
      }
      options[pair.slice(0, eq)] = value;
    }
    return { name, options };
  });
}

export interface BuiltAugmentation {
  readonly augmentation: Augmentation;
  /** True when the augmentation smooths labels itself (the harness then hands it plain one-hot targets). */
  readonly smoothsLabels: boolean;
}

/**
 * `mixup,cutmix` means what it means in DeiT's recipe (timm's Mixup with both
 * alphas): per batch, Mixup (α 0.8) or CutMix (α 1.0), switching with probability
 * 0.5. Core registers that as one `mixup` augmentation with both alphas set.
 */
function mergeMixupCutmix(specs: readonly AugmentSpec[]): AugmentSpec[] {
  const mixup = specs.find((s) => s.name === 'mixup');
  const cutmix = specs.find((s) => s.name === 'cutmix');
  if (!mixup || !cutmix) return [...specs];
  const { cutmixAlpha, ...cutmixRest } = cutmix.options;
  const merged: AugmentSpec = {
    name: 'mixup',
    options: { mixupAlpha: 0.8, ...cutmixRest, ...mixup.options, cutmixAlpha: cutmixAlpha ?? mixup.options.cutmixAlpha ?? 1 },
  };
  return specs.filter((s) => s !== cutmix).map((s) => (s === mixup ? merged : s));
}

/** Creates the augmentations by name (core's createAugmentation names a bad option), not yet checked against a model. */
function createAugmentations(specs: readonly AugmentSpec[], smoothing: number): { steps: Augmentation[]; smoothsLabels: boolean } {
  let smoothsLabels = false;
  const steps = mergeMixupCutmix(specs).map((spec) => {
    const { definition } = registry.getAugmentation(spec.name);
    const options = { ...spec.options };
    // Declared by the augmentation: it takes `labelSmoothing` and smooths the targets itself.
    if (definition.smoothsLabels) {
      if (options.labelSmoothing === undefined) options.labelSmoothing = smoothsLabels ? 0 : smoothing;
      smoothsLabels = true;
    }
    return createAugmentation(spec.name, options);
  });
  return { steps, smoothsLabels };
}

/**
 * Validates the names and options of `--augment` without a model, so that a run is
 * refused before its folder, its data or any tensor exists.
 */
export function checkAugmentations(specs: readonly AugmentSpec[], smoothing: number): void {
  if (specs.length) createAugmentations(specs, smoothing);
}

/**
 * Creates the augmentations and checks them against the model. Several are chained in
 * order. Label smoothing happens once: inside the first augmentation that has a
 * `labelSmoothing` option (Mixup smooths before mixing, as timm), else in the harness.
 */
export function buildAugmentation(specs: readonly AugmentSpec[], model: VisionModel, smoothing: number): BuiltAugmentation | undefined {
  if (!specs.length) return undefined;
  const { steps, smoothsLabels } = createAugmentations(specs, smoothing);
  for (const augmentation of steps) augmentation.checkModel(model);
  return { augmentation: steps.length === 1 ? steps[0]! : chainAugmentations(steps), smoothsLabels };
}
