import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm2d, ForwardContext, Rng, setBackend, tf } from '../src/index.js';
import { expectRelClose } from '@tessera/test-utils';
import { forwardLeak, uniformValues, valueAndGrads, type TensorFn } from './gradient-check.js';

/*
 * BatchNorm2d's train-mode gradient is written by hand (ops/batch-norm.ts).
 * Reference: the cpu backend's autodiff of the plain formula
 * (x − mean)/√(var + eps)·w + b with mean and biased variance over N, H, W.
 * Tolerance 1e-4 relative to the largest reference magnitude: the gradient
 * subtracts two per-channel means of up to 6·7·7 = 294 float32 terms, which
 * cancel to a small residual.
 */
const REL_TOL = 1e-4;

beforeAll(async () => {
  await setBackend('wasm');
});

const plain =
  (eps: number): TensorFn =>
  (x, w, b) => {
    const { mean, variance } = tf.moments(x!, [0, 1, 2], true);
    return tf.add(tf.mul(tf.mul(tf.sub(x!, mean), tf.rsqrt(tf.add(variance, eps))), w!), b!);
  };

describe('BatchNorm2d gradients (train mode)', () => {
  it('match the cpu autodiff of the batch-statistics formula for x, weight and bias', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.integer({ min: 1, max: 6 }),
          height: fc.integer({ min: 1, max: 7 }),
          width: fc.integer({ min: 1, max: 7 }),
          channels: fc.integer({ min: 1, max: 24 }),
          eps: fc.constantFrom(1e-5, 1e-3),
          seed: fc.nat(),
        }),
        async ({ batch, height, width, channels, eps, seed }) => {
          fc.pre(batch * height * width > 1);
          const rng = new Rng(seed);
          const xShape: [number, number, number, number] = [batch, height, width, channels];
          const inputs = [
            { data: uniformValues(xShape, rng, 3), shape: xShape },
            { data: uniformValues([channels], rng, 1), shape: [channels] },
            { data: uniformValues([channels], rng, 1), shape: [channels] },
          ];
          const r = uniformValues(xShape, rng, 1);
          await setBackend('cpu');
          const reference = valueAndGrads(plain(eps), inputs, r);
          await setBackend('wasm');
          const layer = new BatchNorm2d(channels, rng, eps);
          const before = tf.memory().numTensors;
          const ctx = new ForwardContext(true);
          const got = tf.tidy(() => {
            const x = tf.tensor(inputs[0]!.data, xShape) as tf.Tensor4D;
            layer.weight.assign(tf.tensor1d(inputs[1]!.data));
            layer.bias.assign(tf.tensor1d(inputs[2]!.data));
            const rt = tf.tensor(r, xShape);
            const y = layer.forward(x, ctx);
            const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(layer.forward(a as tf.Tensor4D, ctx), rt)))(x);
            const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.forward(x, ctx), rt)) as tf.Scalar, [layer.weight, layer.bias]);
            return [y, dx, grads[layer.weight.name]!, grads[layer.bias.name]!].map((t) => t.dataSync() as Float32Array);
          });
          expect(tf.memory().numTensors).toBe(before);
          expect(forwardLeak((x) => layer.forward(x as tf.Tensor4D, ctx), [inputs[0]!]), 'tensors left outside tidy').toBe(0);
          layer.dispose();
          const label = JSON.stringify({ batch, height, width, channels, eps });
          ['y', 'dx', 'dweight', 'dbias'].forEach((name, i) => expectRelClose(got[i]!, reference[i]!, `${name} ${label}`, REL_TOL));
        },
      ),
      { seed: 42, numRuns: 30 },
    );
  });

  it('updates the running statistics in a training forward pass and leaves them in an evaluation pass', () => {
    const bn = new BatchNorm2d(2, new Rng(0));
    const x = tf.tensor4d([1, 10, 3, 20, 5, 30, 7, 40], [2, 2, 1, 2]);
    tf.dispose(bn.forward(x, new ForwardContext(false)));
    expect(Array.from(bn.runningMean.dataSync())).toEqual([0, 0]);
    tf.dispose(bn.forward(x, new ForwardContext(true)));
    // mean (4, 25), unbiased variance (20/3, 500/3); momentum 0.1 from (0, 1)
    expectRelClose(bn.runningMean.dataSync(), [0.4, 2.5], 'running mean', 1e-6);
    expectRelClose(bn.runningVar.dataSync(), [0.9 + 2 / 3, 0.9 + 50 / 3], 'running var', 1e-6);
    expect(bn.numBatchesTracked.dataSync()[0]).toBe(1);
    tf.dispose([x]);
    bn.dispose();
  });

  it('follows the forward context, not the module mode', () => {
    const bn = new BatchNorm2d(1, new Rng(0));
    const x = tf.tensor4d([2, 4], [2, 1, 1, 1]);
    bn.eval();
    // Batch statistics (mean 3, variance 1) in a training pass even though the module is in eval mode.
    expectRelClose(bn.forward(x, new ForwardContext(true)).dataSync(), [-1 / Math.sqrt(1 + 1e-5), 1 / Math.sqrt(1 + 1e-5)], 'train pass', 1e-6);
    bn.train();
    // Running statistics (after one update: mean 0.3, var 0.9·1 + 0.1·2) in an evaluation pass.
    const expected = [2, 4].map((v) => (v - 0.3) / Math.sqrt(1.1 + 1e-5));
    expectRelClose(bn.forward(x, new ForwardContext(false)).dataSync(), expected, 'eval pass', 1e-6);
    x.dispose();
    bn.dispose();
  });
});
