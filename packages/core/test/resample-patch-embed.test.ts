import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Matrix, pseudoInverse } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, patchResamplePinv, resamplePatchEmbed, setBackend, tf } from '../src/index.js';
import { expectNoLeak } from './helpers.js';

interface ResampleCase {
  base: number;
  target: number;
  shape: [number, number, number, number];
  weight: number[];
  plain: number[];
  antialias: number[];
}
const fixtures = JSON.parse(readFileSync(new URL('./fixtures/patch_resample.json', import.meta.url), 'utf8')) as { cases: ResampleCase[] };

beforeAll(async () => {
  await setBackend('cpu');
});

/**
 * The 2-D patch resize as a float64 matrix B [t², b²] (vec(resize(x)) = B·vec(x), row-major pixels), built
 * independently of the code under test: tfjs's own half-pixel bilinear resize applied to each one-hot basis image.
 */
function resizeMatrix(base: number, target: number): Float64Array {
  const n = base * base;
  const resized = tf.tidy(() =>
    tf.image.resizeBilinear(tf.reshape(tf.eye(n), [n, base, base, 1]) as tf.Tensor4D, [target, target], false, true).dataSync(),
  );
  const m = target * target;
  const b = new Float64Array(m * n);
  for (let k = 0; k < n; k++) for (let i = 0; i < m; i++) b[i * n + k] = resized[k * m + i]!;
  return b;
}

function randomValues(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Kernel HWIO [b, b, c, d] → slice (c, d) as a float64 vector over the b² pixels. */
function slice(values: ArrayLike<number>, size: number, c: number, d: number, channels: number, dims: number): Float64Array {
  const out = new Float64Array(size * size);
  for (let p = 0; p < size * size; p++) out[p] = values[(p * channels + c) * dims + d]!;
  return out;
}

describe('resamplePatchEmbed (FlexiViT PI-resize)', () => {
  it('enlarging keeps every patch embedding: ⟨x, w⟩ = ⟨resize(x), PI(w)⟩ to 1e-5 relative', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 24 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 1e6 }),
        (base, extra, channels, dims, seed) => {
          const target = base + extra;
          const b = resizeMatrix(base, target);
          const x = randomValues(base * base * channels, seed);
          const w = randomValues(base * base * channels * dims, seed + 7);
          const resized = tf.tidy(() => resamplePatchEmbed(tf.tensor4d(w, [base, base, channels, dims]), target).dataSync());
          for (let d = 0; d < dims; d++) {
            let direct = 0;
            let scale = 0;
            let viaResize = 0;
            for (let c = 0; c < channels; c++) {
              const xs = slice(x, base, c, 0, channels, 1);
              const ws = slice(w, base, c, d, channels, dims);
              const hs = slice(resized, target, c, d, channels, dims);
              for (let k = 0; k < base * base; k++) {
                direct += xs[k]! * ws[k]!;
                scale += Math.abs(xs[k]! * ws[k]!);
              }
              for (let i = 0; i < target * target; i++) {
                let bx = 0;
                for (let k = 0; k < base * base; k++) bx += b[i * base * base + k]! * xs[k]!;
                viaResize += bx * hs[i]!;
              }
            }
            expect(Math.abs(direct - viaResize)).toBeLessThanOrEqual(1e-5 * scale);
          }
        },
      ),
      { numRuns: 40, seed: 11 },
    );
  });

  it('shrinking leaves a residual orthogonal to the resize: B·(w − Bᵀ·PI(w)) = 0', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 16 }), fc.integer({ min: 1, max: 15 }), fc.integer({ min: 1, max: 1e6 }), (base, less, seed) => {
        const target = Math.max(1, base - less);
        fc.pre(target < base);
        const b = resizeMatrix(base, target);
        const n = base * base;
        const m = target * target;
        const w = randomValues(n, seed);
        const hat = tf.tidy(() => resamplePatchEmbed(tf.tensor4d(w, [base, base, 1, 1]), target).dataSync());
        const residual = Float64Array.from(w);
        for (let i = 0; i < m; i++) for (let k = 0; k < n; k++) residual[k]! -= b[i * n + k]! * hat[i]!;
        let norm = 0;
        for (const v of w) norm += v * v;
        for (let i = 0; i < m; i++) {
          let br = 0;
          for (let k = 0; k < n; k++) br += b[i * n + k]! * residual[k]!;
          expect(Math.abs(br)).toBeLessThanOrEqual(1e-5 * Math.sqrt(norm));
        }
      }),
      { numRuns: 40, seed: 12 },
    );
  });

  it('is the identity at the base size and linear in the kernel', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 10 }), fc.integer({ min: 1, max: 20 }), fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), (base, target, a, c) => {
        tf.tidy(() => {
          const w1 = tf.tensor4d(randomValues(base * base * 2, base * 31 + target), [base, base, 2, 1]);
          const w2 = tf.tensor4d(randomValues(base * base * 2, base * 37 + target), [base, base, 2, 1]);
          expect(Array.from(resamplePatchEmbed(w1, base).dataSync())).toEqual(Array.from(w1.dataSync()));
          const combined = resamplePatchEmbed(tf.add(tf.mul(a, w1), tf.mul(c, w2)), target).dataSync();
          const separate = tf.add(tf.mul(a, resamplePatchEmbed(w1, target)), tf.mul(c, resamplePatchEmbed(w2, target))).dataSync();
          const scale = 1 + Math.abs(a) + Math.abs(c);
          for (let i = 0; i < combined.length; i++) expect(Math.abs(combined[i]! - separate[i]!)).toBeLessThanOrEqual(1e-5 * scale);
        });
      }),
      { numRuns: 30, seed: 13 },
    );
  });

  it('equals the full 2-D pseudo-inverse pinv(Bᵀ)·w (the separable shortcut is exact)', () => {
    for (const [base, target] of [[3, 5], [5, 3], [4, 9], [6, 4]] as const) {
      const n = base * base;
      const m = target * target;
      const b = resizeMatrix(base, target);
      const bt = new Matrix(n, m);
      for (let i = 0; i < m; i++) for (let k = 0; k < n; k++) bt.set(k, i, b[i * n + k]!);
      const full = pseudoInverse(bt); // [m, n]
      const w = randomValues(n, base * 100 + target);
      const hat = tf.tidy(() => resamplePatchEmbed(tf.tensor4d(w, [base, base, 1, 1]), target).dataSync());
      for (let i = 0; i < m; i++) {
        let expected = 0;
        for (let k = 0; k < n; k++) expected += full.get(i, k) * w[k]!;
        expect(Math.abs(hat[i]! - expected)).toBeLessThan(1e-5);
      }
    }
  });

  it("equals timm's resample_patch_embed (bilinear, with and without antialias) on float64 fixtures", () => {
    // Float32 matmuls against float64 references: 2e-6 of the kernel's largest entry.
    for (const entry of fixtures.cases) {
      const [cout, cin, base] = entry.shape;
      const peak = Math.max(...entry.weight.map(Math.abs));
      for (const antialias of [false, true]) {
        const got = tf.tidy(() => {
          const hwio = tf.transpose(tf.tensor4d(entry.weight, entry.shape), [2, 3, 1, 0]);
          return tf.transpose(resamplePatchEmbed(hwio, [entry.target, entry.target], { antialias }), [3, 2, 0, 1]).dataSync();
        });
        const want = antialias ? entry.antialias : entry.plain;
        expect(got.length).toBe(cout * cin * entry.target * entry.target);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst, `${base}→${entry.target} antialias=${antialias}`).toBeLessThanOrEqual(2e-6 * peak);
      }
    }
  });

  it('passes gradients to the stored kernel (⟨PI(w), g⟩ = ⟨w, ∇⟩ since PI is linear) without leaking', () => {
    const w = tf.variable(tf.tensor4d(randomValues(8 * 8 * 3 * 2, 5), [8, 8, 3, 2]));
    const g = tf.tensor4d(randomValues(12 * 12 * 3 * 2, 6), [12, 12, 3, 2]);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(resamplePatchEmbed(w, 12), g)) as tf.Scalar, [w]);
      const inner = tf.tidy(() => tf.sum(tf.mul(w, grads[w.name]!)));
      expect(Math.abs(value.dataSync()[0]! - inner.dataSync()[0]!)).toBeLessThan(1e-4);
      tf.dispose([value, inner, ...Object.values(grads)]);
    };
    step();
    expectNoLeak(step);
    expectNoLeak(() => resamplePatchEmbed(w, 5).dispose());
    tf.dispose([w, g]);
  });

  it('caches the resize matrices per (base, target, filter)', () => {
    expect(patchResamplePinv(32, 48)).toBe(patchResamplePinv(32, 48));
    expect(patchResamplePinv(32, 8)).not.toBe(patchResamplePinv(32, 8, { antialias: true }));
  });

  it('refuses bad input before computing, naming the parameter', () => {
    const w = tf.zeros([4, 4, 1, 1]);
    expect(() => resamplePatchEmbed(tf.zeros([4, 4, 1]), 8)).toThrow(InvalidArgumentError);
    expect(() => resamplePatchEmbed(tf.zeros([4, 4, 1]), 8)).toThrow(/kernel/);
    expect(() => resamplePatchEmbed(w, [8] as unknown as [number, number])).toThrow(/newSize/);
    expect(() => resamplePatchEmbed(w, 0)).toThrow(/newSize\[0\]/);
    expect(() => resamplePatchEmbed(w, 2.5)).toThrow(/newSize\[0\]/);
    expect(() => resamplePatchEmbed(w, 8, { interpolation: 'bicubic' as 'bilinear' })).toThrow(/options.interpolation/);
    tf.dispose(w);
  });
});
