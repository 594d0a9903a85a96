import fc from 'fast-check';
import { setBackend, softTargetCrossEntropy, tf } from '@tessera/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { klDivergence, klToTargets } from '../src/train/distill.js';
import { defaultPatchSizes, drawPatchSize, PAPER_PATCH_SIZES_240, parsePatchSizes } from '../src/train/patch-sizes.js';

beforeAll(async () => {
  await setBackend('cpu');
});

describe('patch sizes', () => {
  it("defaults to the paper's ten at 240 px and to every divisor leaving a 2x2 grid otherwise", () => {
    expect(defaultPatchSizes(240)).toEqual([8, 10, 12, 15, 16, 20, 24, 30, 40, 48]);
    expect(defaultPatchSizes(32)).toEqual([1, 2, 4, 8, 16]);
    expect(defaultPatchSizes(48)).toEqual([1, 2, 3, 4, 6, 8, 12, 16, 24]);
    for (const n of [16, 24, 30, 96]) for (const p of defaultPatchSizes(n)) expect(n % p === 0 && n / p >= 2).toBe(true);
  });

  it('parses a flag and refuses bad lists, naming the flag', () => {
    expect(parsePatchSizes('8, 10,12')).toEqual([8, 10, 12]);
    expect(() => parsePatchSizes('8,x')).toThrow(/--patch-sizes = "8,x".*comma-separated/);
    expect(() => parsePatchSizes('8,0')).toThrow(/--patch-sizes/);
    expect(() => parsePatchSizes('8,8')).toThrow(/distinct/);
    expect(() => parsePatchSizes('8,64', 32)).toThrow(/at most the image size 32 \(not 64\)/);
  });

  it('draws one size per step, uniformly, from (seed, step) alone', () => {
    const sizes = [...PAPER_PATCH_SIZES_240];
    const counts = new Map<number, number>();
    const steps = 20_000;
    for (let step = 0; step < steps; step++) {
      const p = drawPatchSize(sizes, 0, step);
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(sizes);
    // Each frequency is 1/10 with standard deviation √(0.09/20000) ≈ 0.0021; 5σ bounds.
    for (const c of counts.values()) expect(Math.abs(c / steps - 0.1)).toBeLessThan(0.0106);
    // Pearson χ² with 9 degrees of freedom: 27.9 is its 0.999 quantile.
    const chi2 = [...counts.values()].reduce((s, c) => s + (c - steps / 10) ** 2 / (steps / 10), 0);
    expect(chi2).toBeLessThan(27.9);
    // Replayable: the same (seed, step) gives the same size; another seed another sequence.
    const again = Array.from({ length: 50 }, (_, s) => drawPatchSize(sizes, 0, s));
    expect(again).toEqual(Array.from({ length: 50 }, (_, s) => drawPatchSize(sizes, 0, s)));
    expect(Array.from({ length: 50 }, (_, s) => drawPatchSize(sizes, 1, s))).not.toEqual(again);
    // Consecutive steps are not correlated: the next size equals this one about 1/10 of the time.
    let repeats = 0;
    for (let step = 1; step < steps; step++) if (drawPatchSize(sizes, 0, step) === drawPatchSize(sizes, 0, step - 1)) repeats++;
    expect(Math.abs(repeats / steps - 0.1)).toBeLessThan(0.0106);
  });
});

describe('distillation loss', () => {
  const logitsArb = fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 12, maxLength: 12 });

  it('KL(teacher ‖ student) ≥ 0, and 0 when the student logits are the teacher logits plus a constant per row', () => {
    fc.assert(
      fc.property(logitsArb, logitsArb, fc.double({ min: -50, max: 50, noNaN: true }), (t, s, c) => {
        tf.tidy(() => {
          const teacher = tf.tensor2d(t, [3, 4]);
          const student = tf.tensor2d(s, [3, 4]);
          expect(klDivergence(teacher, student).dataSync()[0]!).toBeGreaterThanOrEqual(-1e-6);
          const shifted = tf.add(teacher, tf.tensor2d([[c], [-c], [c / 2]])) as tf.Tensor2D;
          expect(Math.abs(klDivergence(teacher, shifted).dataSync()[0]!)).toBeLessThan(1e-5);
        });
      }),
      { numRuns: 60, seed: 3 },
    );
    // Not constant: strictly positive.
    tf.tidy(() => {
      expect(klDivergence(tf.tensor2d([[0, 1, 2]]), tf.tensor2d([[0, 2, 1]])).dataSync()[0]!).toBeGreaterThan(0.1);
    });
  });

  it('matches the closed form on a hand-computed example and scales by T²', () => {
    tf.tidy(() => {
      // p = softmax([0, ln 3]) = [1/4, 3/4], q = [1/2, 1/2]: KL = ¼ln½ + ¾ln(3/2).
      const kl = klDivergence(tf.tensor2d([[0, Math.log(3)]]), tf.tensor2d([[5, 5]])).dataSync()[0]!;
      expect(kl).toBeCloseTo(0.25 * Math.log(0.5) + 0.75 * Math.log(1.5), 6);
      const t = tf.tensor2d([[1, 2, 3]]);
      const s = tf.tensor2d([[3, 1, 0]]);
      const atTwo = klDivergence(t, s, 2).dataSync()[0]!;
      expect(atTwo).toBeCloseTo(4 * klDivergence(tf.div(t, 2) as tf.Tensor2D, tf.div(s, 2) as tf.Tensor2D).dataSync()[0]!, 5);
    });
    expect(() => klDivergence(tf.zeros([2, 3]), tf.zeros([2, 4]))).toThrow(/teacherLogits/);
    expect(() => klDivergence(tf.zeros([2, 3]), tf.zeros([2, 3]), 0)).toThrow(/temperature = 0/);
  });

  it('klToTargets is KL from the teacher probabilities, with the gradient of the soft-target cross-entropy', () => {
    tf.tidy(() => {
      const teacher = tf.tensor2d([[1, -2, 0.5, 3], [0, 0, 0, 0]]);
      const student = tf.tensor2d([[0.3, 1, -1, 2], [2, -1, 0, 1]]);
      const p = tf.softmax(teacher) as tf.Tensor2D;
      expect(klToTargets(p, student).dataSync()[0]!).toBeCloseTo(klDivergence(teacher, student).dataSync()[0]!, 5);
      const gKl = tf.grad((s: tf.Tensor) => klToTargets(p, s as tf.Tensor2D))(student).dataSync();
      const gCe = tf.grad((s: tf.Tensor) => softTargetCrossEntropy(s as tf.Tensor2D, p))(student).dataSync();
      for (let i = 0; i < gKl.length; i++) expect(gKl[i]!).toBeCloseTo(gCe[i]!, 6);
      // One-hot targets (zeros in p) stay finite.
      expect(Number.isFinite(klToTargets(tf.tensor2d([[0, 1, 0, 0], [1, 0, 0, 0]]), student).dataSync()[0]!)).toBe(true);
    });
  });
});
