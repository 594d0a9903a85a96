import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, truncatedNormalValues } from '../src/index.js';

describe('Rng', () => {
  it('is deterministic from its seed, and restores from a saved state mid-stream', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 50 }), (seed, skip) => {
        const a = new Rng(seed);
        const b = new Rng(seed);
        for (let i = 0; i < skip; i++) expect(a.uniform()).toBe(b.uniform());
        const saved = JSON.parse(JSON.stringify(a.getState()));
        const expected = [a.uniform(), a.int(10), a.normal(), a.beta(0.8, 0.8), a.seed()];
        const r = Rng.fromState(saved);
        expect([r.uniform(), r.int(10), r.normal(), r.beta(0.8, 0.8), r.seed()]).toEqual(expected);
      }),
      { seed: 42, numRuns: 50 },
    );
  });

  it('draws uniforms in [0, 1) and Beta samples with the right mean', () => {
    const rng = new Rng(1);
    let sum = 0;
    for (let i = 0; i < 20000; i++) {
      const u = rng.uniform();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += rng.beta(2, 6);
    }
    // E[Beta(2, 6)] = 0.25; standard error ≈ 0.0011.
    expect(Math.abs(sum / 20000 - 0.25)).toBeLessThan(0.006);
  });

  it('Beta stays a number in [0, 1] for tiny alphas, where both gamma draws underflow', () => {
    const rng = new Rng(2);
    let extremes = 0;
    for (let i = 0; i < 2000; i++) {
      const v = rng.beta(1e-3, 1e-3);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
      if (v < 0.01 || v > 0.99) extremes++;
    }
    // Beta(ε, ε) puts nearly all its mass at the two ends, half on each.
    expect(extremes).toBeGreaterThan(1900);
  });

  it('forks independent streams', () => {
    const rng = new Rng(5);
    const child = rng.fork();
    expect(child.uniform()).not.toBe(rng.uniform());
  });

  it('refuses a non-integer seed and a foreign state', () => {
    expect(() => new Rng(1.5)).toThrow(/seed = 1.5 is not accepted: expected an integer/);
    expect(() => Rng.fromState({ algorithm: 'mt' } as never)).toThrow(/rng state/);
  });

  it('truncated normal respects its absolute bounds', () => {
    const v = truncatedNormalValues(new Rng(0), 5000, 1, 0, -0.5, 0.5);
    expect(Math.max(...v)).toBeLessThanOrEqual(0.5);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-0.5);
  });
});
