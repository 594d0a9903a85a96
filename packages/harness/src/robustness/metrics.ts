import { InvalidArgumentError } from '@tessera/core';
import { COMMON_CORRUPTIONS, isCorruptionName } from './corruptions/index.js';

/**
 * AlexNet's top-1 error on each common ImageNet-C corruption, averaged over the
 * five severities, in canonical order (hendrycks/robustness; widely vendored as
 * ALEXNET_ERR, e.g. in AugMix's evaluation code).
 */
export const ALEXNET_ERRORS: Readonly<Record<(typeof COMMON_CORRUPTIONS)[number], number>> = {
  gaussian_noise: 0.886428,
  shot_noise: 0.894468,
  impulse_noise: 0.92264,
  defocus_blur: 0.81988,
  glass_blur: 0.826268,
  motion_blur: 0.785948,
  zoom_blur: 0.79836,
  snow: 0.866816,
  frost: 0.826572,
  fog: 0.819324,
  brightness: 0.564592,
  contrast: 0.853204,
  elastic_transform: 0.646056,
  pixelate: 0.71784,
  jpeg_compression: 0.6065,
};

/** AlexNet's clean ImageNet top-1 error, the reference point of relative CE. */
export const ALEXNET_CLEAN_ERROR = 0.4345;

/** Top-1 errors in [0, 1]: clean, and per corruption per severity (severity keys 1..5). */
export interface ErrorTable {
  readonly cleanError: number;
  readonly errors: Readonly<Record<string, Readonly<Record<number, number>>>>;
}

export type Normalisation = 'baseline' | 'alexnet' | 'none';

export interface RobustnessMetrics {
  readonly cleanAccuracy: number;
  readonly cleanError: number;
  /** How CE is normalised: by a baseline model's errors, by AlexNet's (ImageNet-C), or not at all (CIFAR-10-C convention: plain mean error). */
  readonly normalisation: Normalisation;
  /** Σ_s E_f / Σ_s E_baseline per corruption (or mean_s E_f / ALEXNET_ERRORS); plain mean_s E_f when not normalised. */
  readonly ce: Readonly<Record<string, number>>;
  /** Σ_s (E_f − clean_f) / Σ_s (E_base − clean_base) per corruption; absent when not normalised. */
  readonly relativeCe: Readonly<Record<string, number>> | null;
  /** Mean CE over the common corruptions evaluated (null if none was). */
  readonly mCE: number | null;
  readonly relativeMCE: number | null;
  /** True when all 15 common corruptions at all 5 severities entered mCE (the published definition). */
  readonly mceComplete: boolean;
  /** Mean top-1 over the common corruptions and severities evaluated (FAN's "robust accuracy"); over all evaluated when no common one was. */
  readonly meanCorruptionAccuracy: number;
  /** Mean top-1 over every corruption and severity evaluated, extra ones included. */
  readonly meanCorruptionAccuracyAll: number;
  /** FAN's retention rate: meanCorruptionAccuracy / clean accuracy. */
  readonly retention: number;
}

function checkRate(parameter: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) throw new InvalidArgumentError(parameter, value, 'an error rate in [0, 1]');
  return value;
}

export function checkErrorTable(table: ErrorTable, parameter = 'errors'): ErrorTable {
  if (!table || typeof table !== 'object' || !table.errors || typeof table.errors !== 'object') throw new InvalidArgumentError(parameter, table, '{cleanError, errors: {corruption: {severity: error}}}');
  checkRate(`${parameter}.cleanError`, table.cleanError);
  for (const [name, bySeverity] of Object.entries(table.errors)) {
    if (!isCorruptionName(name)) throw new InvalidArgumentError(`${parameter} corruption`, name, 'an ImageNet-C corruption name');
    const keys = Object.keys(bySeverity);
    if (!keys.length) throw new InvalidArgumentError(`${parameter}.${name}`, bySeverity, 'errors for at least one severity');
    for (const s of keys) {
      if (!/^[1-5]$/.test(s)) throw new InvalidArgumentError(`${parameter}.${name} severity`, s, 'a severity from 1 to 5');
      checkRate(`${parameter}.${name}[${s}]`, bySeverity[Number(s)]);
    }
  }
  return table;
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * CE, mCE, relative CE and relative mCE (Hendrycks & Dietterich, ICLR 2019, §3),
 * mean corruption accuracy and FAN's retention from a model's error table.
 *
 * - `baseline`: normalise by another model's errors over the severities both evaluated.
 * - `'alexnet'`: normalise by ALEXNET_ERRORS (needs all 5 severities: the constants are 5-severity means).
 * - `undefined`: no normalisation; CE is the mean error (how CIFAR-10-C results are reported).
 */
export function computeMetrics(model: ErrorTable, baseline?: ErrorTable | 'alexnet'): RobustnessMetrics {
  checkErrorTable(model);
  if (baseline !== undefined && baseline !== 'alexnet') checkErrorTable(baseline, 'baseline');
  const names = Object.keys(model.errors);
  const severitiesOf = (name: string) => Object.keys(model.errors[name]!).map(Number);
  const ce: Record<string, number> = {};
  const relativeCe: Record<string, number> = {};
  const normalisation: Normalisation = baseline === undefined ? 'none' : baseline === 'alexnet' ? 'alexnet' : 'baseline';
  for (const name of names) {
    const ours = model.errors[name]!;
    const severities = severitiesOf(name);
    if (baseline === undefined) {
      ce[name] = mean(severities.map((s) => ours[s]!));
    } else if (baseline === 'alexnet') {
      if (!(name in ALEXNET_ERRORS)) continue;
      if (severities.length !== 5) throw new InvalidArgumentError('severities', severities.join(','), "all of 1-5 for AlexNet-normalised CE (the AlexNet constants are means over the five severities); give --baseline or evaluate '1-5'");
      const alex = ALEXNET_ERRORS[name as keyof typeof ALEXNET_ERRORS];
      ce[name] = mean(severities.map((s) => ours[s]!)) / alex;
      relativeCe[name] = severities.reduce((acc, s) => acc + ours[s]! - model.cleanError, 0) / (5 * (alex - ALEXNET_CLEAN_ERROR));
    } else {
      const theirs = baseline.errors[name];
      if (!theirs) continue;
      const shared = severities.filter((s) => theirs[s] !== undefined);
      if (!shared.length) continue;
      const denominator = shared.reduce((acc, s) => acc + theirs[s]!, 0);
      ce[name] = shared.reduce((acc, s) => acc + ours[s]!, 0) / denominator;
      const relDenominator = shared.reduce((acc, s) => acc + theirs[s]! - baseline.cleanError, 0);
      relativeCe[name] = shared.reduce((acc, s) => acc + ours[s]! - model.cleanError, 0) / relDenominator;
    }
  }
  const common = COMMON_CORRUPTIONS.filter((c) => c in ce);
  const relCommon = COMMON_CORRUPTIONS.filter((c) => c in relativeCe);
  const accuracies = (list: readonly string[]) => list.flatMap((name) => severitiesOf(name).map((s) => 1 - model.errors[name]![s]!));
  const commonEvaluated = COMMON_CORRUPTIONS.filter((c) => c in model.errors);
  const allAcc = accuracies(names);
  const mca = commonEvaluated.length ? mean(accuracies(commonEvaluated)) : allAcc.length ? mean(allAcc) : Number.NaN;
  const cleanAccuracy = 1 - model.cleanError;
  return {
    cleanAccuracy,
    cleanError: model.cleanError,
    normalisation,
    ce,
    relativeCe: normalisation === 'none' ? null : relativeCe,
    mCE: common.length ? mean(common.map((c) => ce[c]!)) : null,
    relativeMCE: normalisation !== 'none' && relCommon.length ? mean(relCommon.map((c) => relativeCe[c]!)) : null,
    mceComplete: common.length === COMMON_CORRUPTIONS.length && common.every((c) => severitiesOf(c).length === 5),
    meanCorruptionAccuracy: mca,
    meanCorruptionAccuracyAll: allAcc.length ? mean(allAcc) : Number.NaN,
    retention: cleanAccuracy > 0 ? mca / cleanAccuracy : Number.NaN,
  };
}
