import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ForwardContext, Rng, setBackend, sinusoidPositionEmbedding, tf } from '@tessera/core';
import { orthogonalMatrix, t2tGrids, T2TModule, TokenPerformer, TokenTransformer } from '../src/index.js';

describe('Token_performer invariants', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });

  it('random features are positive and each output is a convex combination of the values it averages', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0.1, max: 2, noNaN: true }),
        (b, n, dim, outDim, seed, scale) => {
          const layer = new TokenPerformer(dim, outDim, new Rng(seed));
          const rng = new Rng(seed + 1);
          const x = tf.tensor3d(Float32Array.from({ length: b * n * dim }, () => scale * rng.normal()), [b, n, dim]);
          const { q, k, v, y } = tf.tidy(() => {
            const a = layer.attend(layer.norm1.forward(x) as tf.Tensor3D);
            return { q: a.queryFeatures.dataSync(), k: a.keyFeatures.dataSync(), v: a.values.arraySync(), y: a.output.arraySync() };
          });
          expect(Math.min(...q, ...k)).toBeGreaterThan(0);
          for (let bi = 0; bi < b; bi++)
            for (let t = 0; t < n; t++)
              for (let c = 0; c < outDim; c++) {
                const column = v[bi]!.map((row) => row[c]!);
                const lo = Math.min(...column);
                const hi = Math.max(...column);
                const slack = 1e-5 * Math.max(1, Math.abs(lo), Math.abs(hi));
                const value = y[bi]![t]![c]!;
                expect(value).toBeGreaterThanOrEqual(lo - slack);
                expect(value).toBeLessThanOrEqual(hi + slack);
              }
          x.dispose();
          layer.dispose();
        },
      ),
      { seed: 42, numRuns: 25 },
    );
  });

  it('w is fixed, saved, counted, and has orthonormal rows scaled by sqrt(m) (m = outDim · 0.5)', () => {
    const layer = new TokenPerformer(147, 64, new Rng(0));
    expect(layer.numFeatures).toBe(32);
    const [, param] = layer.namedParameters().find(([name]) => name === 'w')!;
    expect(param.trainable).toBe(false);
    expect(param.variable.shape).toEqual([32, 64]);
    expect(layer.trainableVariables()).not.toContain(param.variable);
    expect(Object.keys(layer.stateDict())).toContain('w');
    const w = param.variable.arraySync() as number[][];
    for (let i = 0; i < 32; i++)
      for (let j = 0; j < 32; j++) {
        const dot = w[i]!.reduce((s, v, t) => s + v * w[j]![t]!, 0);
        expect(dot).toBeCloseTo(i === j ? 32 : 0, 3);
      }
    layer.dispose();
  });

  it('orthogonalMatrix gives orthonormal columns when rows > cols', () => {
    const m = orthogonalMatrix(6, 3, new Rng(5));
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        let dot = 0;
        for (let r = 0; r < 6; r++) dot += m[r * 3 + i]! * m[r * 3 + j]!;
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 10);
      }
  });

  it('Token_transformer over a single token attends only to itself: out = v + proj(v) + MLP', () => {
    const layer = new TokenTransformer(6, 4, new Rng(3));
    const x = tf.randomNormal([2, 1, 6]) as tf.Tensor3D;
    const [actual, expected] = tf.tidy(() => {
      const out = layer.forward(x, new ForwardContext(false));
      const v = tf.slice(layer.attn.qkv.forward(layer.norm1.forward(x)), [0, 0, 8], [2, 1, 4]);
      const h = tf.add(v, layer.attn.proj.forward(v));
      return [out.dataSync(), tf.add(h, layer.mlp.forward(layer.norm2.forward(h), new ForwardContext(false))).dataSync()];
    });
    Array.from(actual).forEach((a, i) => expect(a).toBeCloseTo(expected[i]!, 5));
    x.dispose();
    layer.dispose();
  });
});

describe('T2T module token count', () => {
  it('T(L) = u(u(u(L, 7, 4, 2), 3, 2, 1), 3, 2, 1) per axis equals the tensor the module produces, square or not', () => {
    const u = (l: number, k: number, s: number, p: number) => Math.floor((l + 2 * p - k) / s) + 1;
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 48 }), fc.integer({ min: 3, max: 48 }), (h, w) => {
        const grid = t2tGrids(h, w).at(-1)!;
        expect(grid).toEqual({ height: u(u(u(h, 7, 4, 2), 3, 2, 1), 3, 2, 1), width: u(u(u(w, 7, 4, 2), 3, 2, 1), 3, 2, 1) });
        const module = new T2TModule({ layout: 'image', height: h, width: w, channels: 3 }, { embedDim: 8, tokenDim: 4 }, new Rng(0));
        const out = tf.tidy(() => module.tokenize(tf.zeros([1, h, w, 3]) as tf.Tensor4D, new ForwardContext(false)));
        expect(out.shape).toEqual([1, grid.height * grid.width, 8]);
        out.dispose();
        module.dispose();
      }),
      { seed: 42, numRuns: 20 },
    );
  });
});

describe('sinusoid position embedding invariants', () => {
  it('sin² + cos² = 1 for each (2i, 2i+1) pair, and row 0 is (0, 1, 0, 1, …)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 40 }).map((d) => 2 * d), (n, dim) => {
        const table = sinusoidPositionEmbedding(n, dim);
        const values = table.dataSync();
        expect(table.shape).toEqual([1, n, dim]);
        for (let j = 0; j < dim; j++) expect(values[j]).toBe(j % 2 === 0 ? 0 : 1);
        for (let p = 0; p < n; p++)
          for (let i = 0; i < dim / 2; i++) {
            const s = values[p * dim + 2 * i]!;
            const c = values[p * dim + 2 * i + 1]!;
            expect(s * s + c * c).toBeCloseTo(1, 6);
          }
        table.dispose();
      }),
      { seed: 42, numRuns: 30 },
    );
  });

  it('matches the closed form at a few hand-checked entries', () => {
    const table = sinusoidPositionEmbedding(197, 256).arraySync()[0]!;
    expect(table[1]![0]).toBeCloseTo(Math.sin(1), 6);
    expect(table[1]![1]).toBeCloseTo(Math.cos(1), 6);
    expect(table[196]![2]).toBeCloseTo(Math.sin(196 / 10000 ** (2 / 256)), 6);
    expect(table[5]![255]).toBeCloseTo(Math.cos(5 / 10000 ** (254 / 256)), 6);
  });
});
