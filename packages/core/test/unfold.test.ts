import fc from 'fast-check';
import { expectRelClose } from '@tessera/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, setBackend, tf, unfold, unfoldGrid, unfoldOutputSize, type UnfoldArgs } from '../src/index.js';

interface Case {
  b: number;
  h: number;
  w: number;
  c: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

/** Explicit patch extraction in float64: out[b, y·ow + x, c·kh·kw + ki·kw + kj] = padded input at (y·sh + ki, x·sw + kj). */
function referenceUnfold(values: Float64Array, k: Case): { data: Float64Array; oh: number; ow: number } {
  const [kh, kw] = k.kernel;
  const [sh, sw] = k.stride;
  const [ph, pw] = k.padding;
  const oh = Math.floor((k.h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((k.w + 2 * pw - kw) / sw) + 1;
  const feat = k.c * kh * kw;
  const data = new Float64Array(k.b * oh * ow * feat);
  for (let b = 0; b < k.b; b++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++)
        for (let c = 0; c < k.c; c++)
          for (let ki = 0; ki < kh; ki++)
            for (let kj = 0; kj < kw; kj++) {
              const iy = y * sh + ki - ph;
              const ix = x * sw + kj - pw;
              const inside = iy >= 0 && iy < k.h && ix >= 0 && ix < k.w;
              data[((b * oh + y) * ow + x) * feat + c * kh * kw + ki * kw + kj] = inside ? values[((b * k.h + iy) * k.w + ix) * k.c + c]! : 0;
            }
  return { data, oh, ow };
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    b: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 11 }),
    w: fc.integer({ min: 1, max: 11 }),
    c: fc.integer({ min: 1, max: 3 }),
    kernel: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
    stride: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
    padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
  })
  .filter((k) => k.h + 2 * k.padding[0] >= k.kernel[0] && k.w + 2 * k.padding[1] >= k.kernel[1]);

function argsOf(k: Case): UnfoldArgs {
  return { kernelSize: k.kernel, stride: k.stride, padding: k.padding };
}

function randomInput(k: Case, seed: number): Float64Array {
  const n = k.b * k.h * k.w * k.c;
  const out = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.fround((s / 2 ** 32) * 20 - 10); // representable in float32, so comparisons are exact
  }
  return out;
}

describe('unfold (soft split)', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });

  it('equals explicit patch extraction for random shapes, kernels, strides and paddings', () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), (k, seed) => {
        const values = randomInput(k, seed);
        const expected = referenceUnfold(values, k);
        const x = tf.tensor4d(Float32Array.from(values), [k.b, k.h, k.w, k.c]);
        const y = unfold(x, argsOf(k));
        expect(y.shape).toEqual([k.b, expected.oh * expected.ow, k.c * k.kernel[0] * k.kernel[1]]);
        expect(Array.from(y.dataSync())).toEqual(Array.from(expected.data));
        tf.dispose([x, y]);
      }),
      { seed: 42, numRuns: 150 },
    );
  });

  it('token count formula floor((L + 2p - k)/s) + 1 matches the tensor, including T2T-ViT sizes off multiples of 16', () => {
    // T2T's three soft splits: 7/4/2, 3/2/1, 3/2/1. 200 px gives 13x13 = 169 tokens (the official img_size // 16 says 144).
    const t2t = (l: number) => unfoldOutputSize(unfoldOutputSize(unfoldOutputSize(l, 7, 4, 2), 3, 2, 1), 3, 2, 1);
    expect([224, 384, 256, 240, 200].map(t2t)).toEqual([14, 24, 16, 15, 13]);
    fc.assert(
      fc.property(caseArb, (k) => {
        const grid = unfoldGrid(k.h, k.w, argsOf(k));
        const y = tf.tidy(() => unfold(tf.zeros([k.b, k.h, k.w, k.c]) as tf.Tensor4D, argsOf(k)));
        expect(y.shape[1]).toBe(grid.height * grid.width);
        expect(grid.height).toBe(Math.floor((k.h + 2 * k.padding[0] - k.kernel[0]) / k.stride[0]) + 1);
        y.dispose();
      }),
      { seed: 7, numRuns: 100 },
    );
    const y = tf.tidy(() => unfold(tf.zeros([1, 200, 120, 3]) as tf.Tensor4D, { kernelSize: 7, stride: 4, padding: 2 }));
    expect(y.shape).toEqual([1, 50 * 30, 147]);
    y.dispose();
  });

  it('its gradient is the fold: the gradient of sum(unfold(x)) counts the windows covering each pixel', () => {
    const k: Case = { b: 1, h: 9, w: 7, c: 2, kernel: [3, 3], stride: [2, 2], padding: [1, 1] };
    const x = tf.zeros([1, 9, 7, 2]) as tf.Tensor4D;
    const g = tf.grad((t: tf.Tensor) => tf.sum(unfold(t as tf.Tensor4D, argsOf(k))))(x);
    // Windows covering pixel i along an axis: pairs (window y, tap ki) with y·s + ki − p = i.
    const cover = (len: number) =>
      Array.from({ length: len }, (_, i) => {
        let n = 0;
        for (let y = 0; y < unfoldOutputSize(len, 3, 2, 1); y++) for (let ki = 0; ki < 3; ki++) if (y * 2 + ki - 1 === i) n++;
        return n;
      });
    const rows = cover(9);
    const cols = cover(7);
    const expected: number[] = [];
    for (let i = 0; i < 9; i++) for (let j = 0; j < 7; j++) expected.push(rows[i]! * cols[j]!, rows[i]! * cols[j]!);
    expect(Array.from(g.dataSync())).toEqual(expected);
    tf.dispose([x, g]);
  });

  it('has the same gradient on wasm as on cpu', async () => {
    const k: Case = { b: 2, h: 13, w: 10, c: 3, kernel: [7, 5], stride: [4, 3], padding: [2, 1] };
    const values = Float32Array.from(randomInput(k, 3));
    const grid = unfoldGrid(k.h, k.w, argsOf(k));
    const weights = Float32Array.from(randomInput({ ...k, h: grid.height * grid.width, w: 1, c: k.c * 35 }, 5));
    const gradOn = async (backend: 'wasm' | 'cpu') => {
      await setBackend(backend);
      const x = tf.tensor4d(values, [k.b, k.h, k.w, k.c]);
      const r = tf.tensor3d(weights, [k.b, grid.height * grid.width, k.c * 35]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(unfold(t as tf.Tensor4D, argsOf(k)), r)))(x);
      const out = Array.from(await g.data());
      tf.dispose([x, r, g]);
      return out;
    };
    const cpu = await gradOn('cpu');
    const wasm = await gradOn('wasm');
    expect(wasm.length).toBe(k.b * k.h * k.w * k.c);
    // unfold's gradient only sums the (at most 4) windows that cover a pixel: float32 rounding of a few terms.
    expectRelClose(wasm, cpu, 'unfold gradient, wasm vs cpu', 1e-6);
  });

  it('leaks no tensors, forward or backward', () => {
    const x = tf.randomNormal([2, 16, 16, 4]) as tf.Tensor4D;
    const args = { kernelSize: 3, stride: 2, padding: 1 };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.dispose(unfold(x, args));
      const g = tf.grad((t: tf.Tensor) => tf.sum(unfold(t as tf.Tensor4D, args)))(x);
      g.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('refuses bad arguments before computing, naming the parameter', () => {
    const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
    expect(() => unfold(x, { kernelSize: 0 })).toThrow(InvalidArgumentError);
    expect(() => unfold(x, { kernelSize: 3, stride: 0 })).toThrow(/stride = 0/);
    expect(() => unfold(x, { kernelSize: 3, padding: -1 })).toThrow(/padding = -1/);
    expect(() => unfold(x, { kernelSize: 7 })).toThrow(/kernelSize = 7 .*4x4/);
    expect(() => unfold(tf.zeros([4, 4]) as unknown as tf.Tensor4D, { kernelSize: 1 })).toThrow(/NHWC/);
    x.dispose();
  });
});
