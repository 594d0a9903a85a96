import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { gelu, geluTanh, LayerNorm, Rng, setBackend, tf } from '../src/index.js';
import { expectRelClose } from '@tessera/test-utils';
import { forwardLeak, uniformValues, valueAndGrads, type TensorFn } from './gradient-check.js';

/*
 * GELU, tanh-GELU and LayerNorm carry hand-written gradients (to keep fewer
 * tensors on the tape). Reference: the cpu backend's autodiff of the plain
 * formulas. Tolerance 1e-5 relative to the largest reference magnitude (float32
 * elementwise math and row means over at most 48 values).
 */
const REL_TOL = 1e-5;

const plainGelu: TensorFn = (x) => tf.mul(tf.mul(x!, 0.5), tf.add(tf.erf(tf.mul(x!, Math.SQRT1_2)), 1));
const plainGeluTanh: TensorFn = (x) => {
  const inner = tf.mul(tf.add(x!, tf.mul(tf.pow(x!, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x!, 0.5), tf.add(tf.tanh(inner), 1));
};

beforeAll(async () => {
  await setBackend('wasm');
});

const shapeArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 });

describe('activation gradients', () => {
  for (const [name, ours, plain] of [
    ['gelu', gelu, plainGelu],
    ['geluTanh', geluTanh, plainGeluTanh],
  ] as const) {
    it(`${name} has the value and gradient of the plain formula's cpu autodiff`, async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb, fc.nat(), async (shape, seed) => {
          const rng = new Rng(seed);
          const inputs = [{ data: uniformValues(shape, rng, 3), shape }];
          const r = uniformValues(shape, rng, 1);
          await setBackend('cpu');
          const reference = valueAndGrads(plain, inputs, r);
          await setBackend('wasm');
          const before = tf.memory().numTensors;
          const got = valueAndGrads((x) => ours(x!), inputs, r);
          expect(tf.memory().numTensors).toBe(before);
          expect(forwardLeak((x) => ours(x!), inputs), 'tensors left outside tidy').toBe(0);
          expectRelClose(got[0]!, reference[0]!, `${name} value ${shape}`, REL_TOL);
          expectRelClose(got[1]!, reference[1]!, `${name} gradient ${shape}`, REL_TOL);
        }),
        { seed: 42, numRuns: 25 },
      );
    });
  }
});

describe('LayerNorm gradients', () => {
  it('match the cpu autodiff of (x − mean)/√(var + eps)·w + b for x, weight and bias', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ lead: shapeArb, channels: fc.integer({ min: 1, max: 48 }), eps: fc.constantFrom(1e-6, 1e-5), seed: fc.nat() }),
        async ({ lead, channels, eps, seed }) => {
          const rng = new Rng(seed);
          const xShape = [...lead, channels];
          const inputs = [
            { data: uniformValues(xShape, rng, 3), shape: xShape },
            { data: uniformValues([channels], rng, 1), shape: [channels] },
            { data: uniformValues([channels], rng, 1), shape: [channels] },
          ];
          const r = uniformValues(xShape, rng, 1);
          const plain: TensorFn = (x, w, b) => {
            const { mean, variance } = tf.moments(x!, -1, true);
            return tf.add(tf.mul(tf.mul(tf.sub(x!, mean), tf.rsqrt(tf.add(variance, eps))), w!), b!);
          };
          const layer = new LayerNorm(channels, rng, eps);
          await setBackend('cpu');
          const reference = valueAndGrads(plain, inputs, r);
          await setBackend('wasm');
          const before = tf.memory().numTensors;
          const got = tf.tidy(() => {
            const x = tf.tensor(inputs[0]!.data, xShape);
            layer.weight.assign(tf.tensor1d(inputs[1]!.data));
            layer.bias.assign(tf.tensor1d(inputs[2]!.data));
            const rt = tf.tensor(r, xShape);
            const y = layer.forward(x);
            const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.forward(a), rt)))(x);
            const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.forward(x), rt)) as tf.Scalar, [layer.weight, layer.bias]);
            return [y, dx, grads[layer.weight.name]!, grads[layer.bias.name]!].map((t) => t.dataSync() as Float32Array);
          });
          expect(tf.memory().numTensors).toBe(before);
          expect(forwardLeak((x) => layer.forward(x!), [inputs[0]!]), 'tensors left outside tidy').toBe(0);
          layer.dispose();
          const label = JSON.stringify({ lead, channels, eps });
          ['y', 'dx', 'dweight', 'dbias'].forEach((name, i) => expectRelClose(got[i]!, reference[i]!, `${name} ${label}`, REL_TOL));
        },
      ),
      { seed: 42, numRuns: 30 },
    );
  });
});
