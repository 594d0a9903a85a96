import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { linear, Rng, setBackend, tf } from '../src/index.js';
import { expectRelClose } from '@tessera/test-utils';
import { forwardLeak, uniformValues, valueAndGrads } from './gradient-check.js';

/*
 * linear's custom gradient (explicit transposes, plain 2-D products) against the
 * cpu backend's autodiff of tf.matMul + tf.add. Tolerance 1e-5 relative to the
 * largest reference magnitude (float32, at most 40-term sums of unit values).
 */
const REL_TOL = 1e-5;

beforeAll(async () => {
  await setBackend('wasm');
});

describe('linear', () => {
  it('has the value and gradients of autodiff through tf.matMul + tf.add, with and without bias, over any leading axes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          lead: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
          inFeatures: fc.integer({ min: 1, max: 40 }),
          outFeatures: fc.integer({ min: 1, max: 40 }),
          bias: fc.boolean(),
          seed: fc.nat(),
        }),
        async ({ lead, inFeatures, outFeatures, bias, seed }) => {
          const rng = new Rng(seed);
          const x = uniformValues([...lead, inFeatures], rng);
          const w = uniformValues([inFeatures, outFeatures], rng);
          const b = uniformValues([outFeatures], rng);
          const r = uniformValues([...lead, outFeatures], rng);
          const compute = (f: (x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor) =>
            tf.tidy(() => {
              const xt = tf.tensor(x, [...lead, inFeatures]);
              const wt = tf.tensor2d(w, [inFeatures, outFeatures]);
              const bt = tf.tensor1d(b);
              const rt = tf.tensor(r, [...lead, outFeatures]);
              const y = f(xt, wt, bt);
              const grads = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, c as tf.Tensor2D, d as tf.Tensor1D), rt)))([xt, wt, bt]);
              return [y, ...grads].map((t) => t.dataSync() as Float32Array);
            });
          const plain = (xt: tf.Tensor, wt: tf.Tensor2D, bt: tf.Tensor1D) => {
            const y = tf.reshape(tf.matMul(tf.reshape(xt, [-1, inFeatures]), wt), [...lead, outFeatures]);
            // Multiplying by zero keeps b in the graph (its reference gradient is then 0) when the layer has no bias.
            return tf.add(y, bias ? bt : tf.mul(bt, 0));
          };
          await setBackend('cpu');
          const reference = compute(plain);
          await setBackend('wasm');
          const before = tf.memory().numTensors;
          const got = compute((xt, wt, bt) => {
            const y = linear(xt, wt, bias ? bt : null);
            return bias ? y : tf.add(y, tf.mul(bt, 0));
          });
          expect(tf.memory().numTensors).toBe(before);
          const operands = [
            { data: x, shape: [...lead, inFeatures] },
            { data: w, shape: [inFeatures, outFeatures] },
            { data: b, shape: [outFeatures] },
          ];
          expect(forwardLeak((xt, wt, bt) => linear(xt!, wt as tf.Tensor2D, bias ? (bt as tf.Tensor1D) : null), operands), 'tensors left outside tidy').toBe(0);
          const label = JSON.stringify({ lead, inFeatures, outFeatures, bias });
          ['y', 'dx', 'dW', 'db'].forEach((name, i) => expectRelClose(got[i]!, reference[i]!, `${name} ${label}`, REL_TOL));
        },
      ),
      { seed: 42, numRuns: 40 },
    );
  });
});
