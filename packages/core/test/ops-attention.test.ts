import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchMatMul, InvalidArgumentError, Rng, scaledDotProductAttention, setBackend, tf } from '../src/index.js';
import { expectRelClose } from '@tessera/test-utils';
import { forwardLeak, uniformValues, valueAndGrads, type TensorFn } from './gradient-check.js';
import { wasmBatchMatMulActive } from '../src/ops/wasm-batch-matmul.js';

/*
 * batchMatMul (and the attention built on it) runs a hand-emitted SIMD kernel on
 * wasm. References: tf.matMul and the plain attention formula differentiated by
 * the cpu backend's autodiff. Tolerance 1e-5 relative to the largest reference
 * magnitude: float32 products of unit-scale values summed in a different order.
 */
const REL_TOL = 1e-5;

beforeAll(async () => {
  await setBackend('wasm');
});

describe('batchMatMul', () => {
  it('runs the SIMD kernel on wasm', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(wasmBatchMatMulActive()).toBe(true);
  });

  it('equals scale·tf.matMul and its cpu autodiff for any shapes and transposes (row and column tails included)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
          m: fc.integer({ min: 1, max: 21 }),
          k: fc.integer({ min: 1, max: 19 }),
          n: fc.integer({ min: 1, max: 37 }),
          transposeA: fc.boolean(),
          transposeB: fc.boolean(),
          scale: fc.constantFrom(1, 0.125, -2.5),
          seed: fc.nat(),
        }),
        async ({ lead, m, k, n, transposeA, transposeB, scale, seed }) => {
          const rng = new Rng(seed);
          const aShape = [...lead, ...(transposeA ? [k, m] : [m, k])];
          const bShape = [...lead, ...(transposeB ? [n, k] : [k, n])];
          const inputs = [
            { data: uniformValues(aShape, rng), shape: aShape },
            { data: uniformValues(bShape, rng), shape: bShape },
          ];
          const r = uniformValues([...lead, m, n], rng);
          await setBackend('cpu');
          const reference = valueAndGrads((a, b) => tf.mul(tf.matMul(a!, b!, transposeA, transposeB), scale), inputs, r);
          await setBackend('wasm');
          const before = tf.memory().numTensors;
          const got = valueAndGrads((a, b) => batchMatMul(a!, b!, transposeA, transposeB, scale), inputs, r);
          expect(tf.memory().numTensors).toBe(before);
          expect(forwardLeak((a, b) => batchMatMul(a!, b!, transposeA, transposeB, scale), inputs), 'tensors left outside tidy').toBe(0);
          const label = JSON.stringify({ lead, m, k, n, transposeA, transposeB, scale });
          ['y', 'da', 'db'].forEach((name, i) => expectRelClose(got[i]!, reference[i]!, `${name} ${label}`, REL_TOL));
        },
      ),
      { seed: 42, numRuns: 40 },
    );
  });

  it('rejects operands that do not fit, naming the parameter', () => {
    const a = tf.zeros([2, 3, 4]);
    expect(() => batchMatMul(a, tf.zeros([2, 5, 6]))).toThrow(InvalidArgumentError);
    expect(() => batchMatMul(a, tf.zeros([2, 5, 6]))).toThrow(/b = "tensor of shape \[2, 5, 6\]".*inner dimension of 4/);
    expect(() => batchMatMul(a, tf.zeros([3, 4, 6]))).toThrow(/leading axes \[2\]/);
    expect(() => batchMatMul(tf.zeros([3, 4]), tf.zeros([4, 6]))).toThrow(/rank \(>= 3\)/);
    expect(() => batchMatMul(a, tf.zeros([2, 4, 6]), false, false, Number.NaN)).toThrow(/scale = "NaN".*finite number/);
    tf.dispose(a);
  });
});

describe('scaledDotProductAttention on wasm', () => {
  it('matches the plain softmax(q·kᵀ·scale)·v and its cpu autodiff, DeiT-like head shapes', async () => {
    const rng = new Rng(3);
    // 2 images, 3 heads, 65 tokens (a class token + 8×8 patches), head width 64: exercises every tail of the kernel.
    const shape = [2, 3, 65, 64];
    const inputs = [0, 1, 2].map(() => ({ data: uniformValues(shape, rng), shape }));
    const r = uniformValues(shape, rng);
    const scale = 64 ** -0.5;
    const plain: TensorFn = (q, k, v) => tf.matMul(tf.softmax(tf.matMul(tf.mul(q!, scale), k!, false, true)), v!);
    await setBackend('cpu');
    const reference = valueAndGrads(plain, inputs, r);
    const referenceProbs = tf.tidy(() => {
      const [q, k] = inputs.map((i) => tf.tensor(i.data, i.shape));
      return tf.softmax(tf.matMul(tf.mul(q!, scale), k!, false, true)).dataSync() as Float32Array;
    });
    await setBackend('wasm');
    const before = tf.memory().numTensors;
    const ours: TensorFn = (q, k, v) => scaledDotProductAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, scale).output;
    const got = valueAndGrads(ours, inputs, r);
    const probs = tf.tidy(() => {
      const [q, k, v] = inputs.map((i) => tf.tensor4d(i.data, i.shape as [number, number, number, number]));
      const out = scaledDotProductAttention(q!, k!, v!, scale);
      return out.probs.dataSync() as Float32Array;
    });
    expect(tf.memory().numTensors).toBe(before);
    // Outside any tidy the call may leave exactly its two results (output and probs), nothing else.
    expect(forwardLeak((q, k, v) => {
      const out = scaledDotProductAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, scale);
      out.probs.dispose();
      return out.output;
    }, inputs), 'tensors left outside tidy').toBe(0);
    ['output', 'dq', 'dk', 'dv'].forEach((name, i) => expectRelClose(got[i]!, reference[i]!, name, REL_TOL));
    expectRelClose(probs, referenceProbs, 'probs', REL_TOL);
  });
});
