import { readFileSync } from 'node:fs';
import { setBackend, tf, type Parameter } from '@tessera/core';
import { expectRelClose } from '@tessera/test-utils';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { AdamW, clipGradNorm } from '../src/train/optimizer.js';
import { cosineLr } from '../src/train/schedule.js';

beforeAll(async () => {
  await setBackend('wasm');
});

const param = (values: number[], weightDecay: boolean): Parameter => ({ variable: tf.variable(tf.tensor1d(values)), trainable: true, weightDecay, torchLayout: 'same' });

/** torch.optim.AdamW's own trajectory (float64), written by fixtures/make_adamw.py. */
const torchAdamW = JSON.parse(readFileSync(new URL('./fixtures/adamw.json', import.meta.url), 'utf8')) as {
  init: number[];
  grads: number[][];
  lrs: number[];
  weightDecay: number;
  steps: Array<{ decayed: number[]; exempt: number[] }>;
};

describe('AdamW', () => {
  test('follows torch.optim.AdamW step by step (fixture from torch), decaying only flagged parameters', () => {
    const { init, grads, lrs, weightDecay, steps } = torchAdamW;
    const decayed = param(init, true);
    const exempt = param(init, false);
    const opt = new AdamW([['w', decayed], ['b', exempt]], { weightDecay });
    grads.forEach((g, t) => {
      const gradTensors = { [decayed.variable.name]: tf.tensor1d(g), [exempt.variable.name]: tf.tensor1d(g) };
      opt.apply(gradTensors, lrs[t]!);
      tf.dispose(Object.values(gradTensors));
      // float32 parameters against float64 torch: a few ulps of values up to 2.
      expectRelClose(decayed.variable.dataSync(), steps[t]!.decayed, `decayed parameter after step ${t + 1}`, 1e-6);
      expectRelClose(exempt.variable.dataSync(), steps[t]!.exempt, `exempt parameter after step ${t + 1}`, 1e-6);
    });
    // The two groups differ by more than the tolerance, so the fixture tells decay from no decay.
    const last = steps[steps.length - 1]!;
    expect(Math.max(...last.decayed.map((v, i) => Math.abs(v - last.exempt[i]!)))).toBeGreaterThan(1e-4);
    expect(opt.step).toBe(3);
    opt.dispose();
    decayed.variable.dispose();
    exempt.variable.dispose();
  });

  test('its moments round-trip through stateTensors, and steps leak no tensors', () => {
    const p = param([1, 2], true);
    const opt = new AdamW([['p', p]]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const g = { [p.variable.name]: tf.tensor1d([0.3, -0.1]) };
      opt.apply(g, 1e-3);
      tf.dispose(Object.values(g));
    }
    expect(tf.memory().numTensors).toBe(before);
    const copy = new AdamW([['p', p]]);
    copy.loadStateTensors(opt.stateTensors(), opt.step);
    expect(Array.from(copy.stateTensors()['exp_avg.p']!.dataSync())).toEqual(Array.from(opt.stateTensors()['exp_avg.p']!.dataSync()));
    expect(copy.step).toBe(3);
    opt.dispose();
    copy.dispose();
    p.variable.dispose();
  });
});

describe('clipGradNorm', () => {
  test('rescales to the requested global norm above it and leaves gradients below it untouched (both branches, relative tolerance)', async () => {
    // fc.float favours tiny values, which never clip: draw a direction and the norm's ratio to maxNorm (10^±2) separately.
    let clippedRuns = 0;
    let untouchedRuns = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 2, maxLength: 6 }).filter((d) => Math.hypot(...d) > 1e-3),
        fc.double({ min: -2, max: 2, noNaN: true }).filter((e) => Math.abs(e) > 1e-3),
        fc.double({ min: 0.1, max: 5, noNaN: true }),
        async (direction, log10Ratio, maxNorm) => {
          const length = Math.hypot(...direction);
          const values = Float32Array.from(direction, (d) => (d / length) * maxNorm * 10 ** log10Ratio);
          const norm = Math.hypot(...values);
          const grads = { a: tf.tensor1d(values.slice(0, 1)), b: tf.tensor1d(values.slice(1)) };
          const before = tf.memory().numTensors;
          const out = await clipGradNorm(grads, maxNorm);
          expect(tf.memory().numTensors).toBe(before);
          // float32 sums of at most 6 squares: 1e-5 relative.
          expectRelClose([out.norm], [norm], 'reported norm', 1e-5, 1e-30);
          const after = [...out.grads.a!.dataSync(), ...out.grads.b!.dataSync()];
          if (norm > maxNorm) {
            clippedRuns++;
            // PyTorch's clip_grad_norm_: every entry times maxNorm / (norm + 1e-6).
            expectRelClose(after, Array.from(values, (v) => (v * maxNorm) / (norm + 1e-6)), 'clipped gradients', 1e-5, 1e-30);
          } else {
            untouchedRuns++;
            expect(out.grads.a).toBe(grads.a);
            expect(after).toEqual(Array.from(values));
          }
          tf.dispose([...Object.values(out.grads), grads.a, grads.b]);
        },
      ),
      { seed: 42, numRuns: 40 },
    );
    expect(clippedRuns).toBeGreaterThanOrEqual(10);
    expect(untouchedRuns).toBeGreaterThanOrEqual(10);
  });

  test('leaves gradients alone when no maximum is given', async () => {
    const grads = { a: tf.tensor1d([300, 400]) };
    const out = await clipGradNorm(grads, undefined);
    expect(out.norm).toBeCloseTo(500, 3);
    expect(out.grads.a).toBe(grads.a);
    grads.a.dispose();
  });
});

describe('cosineLr', () => {
  test('warms up linearly, peaks at lr, and ends at minLr', () => {
    const o = { lr: 1e-3, minLr: 1e-5, warmupSteps: 10, totalSteps: 110 };
    expect(cosineLr(0, o)).toBeCloseTo(1e-6, 12);
    expect(cosineLr(5, o)).toBeCloseTo(1e-6 + (1e-3 - 1e-6) / 2, 12);
    expect(cosineLr(10, o)).toBeCloseTo(1e-3, 12);
    expect(cosineLr(60, o)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5), 12);
    expect(cosineLr(110, o)).toBeCloseTo(1e-5, 12);
    for (let s = 10; s < 110; s++) expect(cosineLr(s + 1, o)).toBeLessThanOrEqual(cosineLr(s, o));
  });
});
