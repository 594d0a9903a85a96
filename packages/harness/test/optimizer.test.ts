import { setBackend, tf, type Parameter } from '@tessera/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { AdamW, clipGradNorm } from '../src/train/optimizer.js';
import { cosineLr } from '../src/train/schedule.js';

beforeAll(async () => {
  await setBackend('wasm');
});

const param = (values: number[], weightDecay: boolean): Parameter => ({ variable: tf.variable(tf.tensor1d(values)), trainable: true, weightDecay, torchLayout: 'same' });

/** torch.optim.AdamW's update, in float64: decay first, then the bias-corrected Adam step. */
function referenceAdamW(p: number[], grads: number[][], lrs: number[], wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[] {
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const x = [...p];
  grads.forEach((g, t) => {
    const step = t + 1;
    const lr = lrs[t]!;
    for (let i = 0; i < x.length; i++) {
      x[i]! *= 1 - lr * wd;
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - b2 ** step) + eps;
      x[i]! -= (lr / (1 - b1 ** step)) * (m[i]! / denom);
    }
  });
  return x;
}

describe('AdamW', () => {
  test('matches torch.optim.AdamW in float64 over several steps, decaying only flagged parameters (rtol 1e-5)', () => {
    const init = [0.5, -1.25, 2];
    const grads = [
      [0.1, -0.2, 0.3],
      [-0.05, 0.4, 0.0],
      [0.2, 0.2, -0.7],
    ];
    const lrs = [1e-2, 5e-3, 2e-3];
    const decayed = param(init, true);
    const exempt = param(init, false);
    const opt = new AdamW([['w', decayed], ['b', exempt]], { weightDecay: 0.1 });
    grads.forEach((g, t) => {
      const gradTensors = { [decayed.variable.name]: tf.tensor1d(g), [exempt.variable.name]: tf.tensor1d(g) };
      opt.apply(gradTensors, lrs[t]!);
      tf.dispose(Object.values(gradTensors));
    });
    const expectDecayed = referenceAdamW(init, grads, lrs, 0.1);
    const expectExempt = referenceAdamW(init, grads, lrs, 0);
    Array.from(decayed.variable.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expectDecayed[i]!, 5));
    Array.from(exempt.variable.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expectExempt[i]!, 5));
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
  test('rescales to the requested global norm and leaves small gradients alone', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 2, maxLength: 6 }), fc.float({ min: Math.fround(0.1), max: 5, noNaN: true }), (values, maxNorm) => {
        const norm = Math.hypot(...values);
        const grads = { a: tf.tensor1d(values.slice(0, 1)), b: tf.tensor1d(values.slice(1)) };
        const before = tf.memory().numTensors;
        const out = clipGradNorm(grads, maxNorm);
        expect(tf.memory().numTensors).toBe(before);
        expect(out.norm).toBeCloseTo(norm, 3);
        const after = Math.hypot(...out.grads.a!.dataSync(), ...out.grads.b!.dataSync());
        expect(after).toBeCloseTo(Math.min(norm, norm > maxNorm ? (maxNorm * norm) / (norm + 1e-6) : norm), 3);
        tf.dispose(Object.values(out.grads));
      }),
      { seed: 42, numRuns: 30 },
    );
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
