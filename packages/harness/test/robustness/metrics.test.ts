import { describe, expect, it } from 'vitest';
import { COMMON_CORRUPTIONS, EXTRA_CORRUPTIONS } from '../../src/robustness/corruptions/index.js';
import { ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS, computeMetrics, type ErrorTable } from '../../src/robustness/metrics.js';

const fiveSeverities = (at: (s: number) => number) => Object.fromEntries([1, 2, 3, 4, 5].map((s) => [s, at(s)]));

describe('computeMetrics on hand-made error tables', () => {
  it('normalises by a baseline over the severities both evaluated', () => {
    const model: ErrorTable = { cleanError: 0.2, errors: { fog: { 1: 0.3, 2: 0.5 }, contrast: { 1: 0.4, 2: 0.4 } } };
    const baseline: ErrorTable = { cleanError: 0.1, errors: { fog: { 1: 0.4, 2: 0.6, 3: 0.9 }, contrast: { 1: 0.2, 2: 0.3 } } };
    const m = computeMetrics(model, baseline);
    // fog: CE (0.3 + 0.5) / (0.4 + 0.6) = 0.8; relative ((0.3 − 0.2) + (0.5 − 0.2)) / ((0.4 − 0.1) + (0.6 − 0.1)) = 0.4 / 0.8.
    expect(m.ce.fog).toBeCloseTo(0.8, 12);
    expect(m.relativeCe!.fog).toBeCloseTo(0.5, 12);
    // contrast: CE 0.8 / 0.5 = 1.6; relative 0.4 / 0.3.
    expect(m.ce.contrast).toBeCloseTo(1.6, 12);
    expect(m.relativeCe!.contrast).toBeCloseTo(4 / 3, 12);
    expect(m.mCE).toBeCloseTo(1.2, 12);
    expect(m.relativeMCE).toBeCloseTo((0.5 + 4 / 3) / 2, 12);
    // Accuracies 0.7, 0.5, 0.6, 0.6 → 0.6; clean accuracy 0.8 → retention 0.75.
    expect(m.meanCorruptionAccuracy).toBeCloseTo(0.6, 12);
    expect(m.retention).toBeCloseTo(0.75, 12);
    expect(m.mceComplete).toBe(false);
    expect(m.normalisation).toBe('baseline');
  });

  it('gives AlexNet itself an mCE and a relative mCE of exactly 100 %', () => {
    const errors = Object.fromEntries(COMMON_CORRUPTIONS.map((c) => [c, fiveSeverities((s) => ALEXNET_ERRORS[c] + (s - 3) * 0.02)]));
    const m = computeMetrics({ cleanError: ALEXNET_CLEAN_ERROR, errors }, 'alexnet');
    expect(m.mCE).toBeCloseTo(1, 12);
    expect(m.relativeMCE).toBeCloseTo(1, 12);
    for (const c of COMMON_CORRUPTIONS) expect(m.ce[c]).toBeCloseTo(1, 12);
    expect(m.mceComplete).toBe(true);
  });

  it('reproduces ResNet-50 mCE 76.7 % from its published per-corruption CEs (Hendrycks & Dietterich 2019, Table 2)', () => {
    // The paper's CE per corruption (percent, rounded), canonical order; errors = CE · AlexNet error.
    const published = [80, 82, 83, 75, 89, 78, 80, 78, 75, 66, 57, 71, 85, 77, 77];
    const errors = Object.fromEntries(COMMON_CORRUPTIONS.map((c, i) => [c, fiveSeverities(() => (published[i]! / 100) * ALEXNET_ERRORS[c])]));
    const m = computeMetrics({ cleanError: 0.239, errors }, 'alexnet');
    published.forEach((ce, i) => expect(m.ce[COMMON_CORRUPTIONS[i]!]! * 100).toBeCloseTo(ce, 9));
    // The 15 published CEs are rounded to whole percent, so their mean may differ from 76.7 by up to 0.5.
    expect(Math.abs(m.mCE! * 100 - 76.7)).toBeLessThan(0.5);
  });

  it('computes relative CE against AlexNet from its clean error', () => {
    // One corruption: errors 0.5 at every severity, clean 0.3: Σ (0.5 − 0.3) = 1.0; AlexNet: 5 · (0.819324 − 0.4345).
    const m = computeMetrics({ cleanError: 0.3, errors: { fog: fiveSeverities(() => 0.5) } }, 'alexnet');
    expect(m.relativeCe!.fog).toBeCloseTo(1 / (5 * (0.819324 - 0.4345)), 12);
    expect(m.ce.fog).toBeCloseTo(0.5 / 0.819324, 12);
  });

  it('without a baseline reports plain mean errors (CIFAR-10-C convention), extra corruptions outside mCE', () => {
    const m = computeMetrics({ cleanError: 0.1, errors: { gaussian_noise: { 1: 0.2, 5: 0.6 }, speckle_noise: { 1: 0.9 } } });
    expect(m.normalisation).toBe('none');
    expect(m.ce.gaussian_noise).toBeCloseTo(0.4, 12);
    expect(m.mCE).toBeCloseTo(0.4, 12);
    expect(m.relativeCe).toBeNull();
    expect(m.relativeMCE).toBeNull();
    expect(m.meanCorruptionAccuracy).toBeCloseTo(0.6, 12);
    expect(m.meanCorruptionAccuracyAll).toBeCloseTo((0.8 + 0.4 + 0.1) / 3, 12);
    expect(m.retention).toBeCloseTo(0.6 / 0.9, 12);
    expect(EXTRA_CORRUPTIONS).toContain('speckle_noise');
  });

  it('refuses AlexNet normalisation over a subset of severities, and bad tables, naming the value', () => {
    expect(() => computeMetrics({ cleanError: 0.1, errors: { fog: { 1: 0.2 } } }, 'alexnet')).toThrow(/severities.*1-5/);
    expect(() => computeMetrics({ cleanError: 1.5, errors: {} })).toThrow(/cleanError.*1.5/);
    expect(() => computeMetrics({ cleanError: 0.1, errors: { smoke: { 1: 0.2 } } })).toThrow(/smoke/);
    expect(() => computeMetrics({ cleanError: 0.1, errors: { fog: { 7: 0.2 } } })).toThrow(/severity.*7/);
  });
});
