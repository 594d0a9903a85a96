import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ForwardContext, Rng, setBackend, tf } from '@tessera/core';
import { ChannelProcessing, channelGate, convPatchEmbedGrid, fourierFeatures, shiftedWindowMask } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

const SIGMOID_1 = 1 / (1 + Math.exp(-1));

describe('channel gate (papers.md §3.10)', () => {
  it('α/τ lies in (0.5, σ(1)] for random q, k and token counts, and equals σ(1) for a single token', () => {
    fc.assert(
      fc.property(
        fc.record({
          batch: fc.integer({ min: 1, max: 2 }),
          heads: fc.integer({ min: 1, max: 3 }),
          channels: fc.integer({ min: 1, max: 6 }),
          tokens: fc.integer({ min: 1, max: 60 }),
          spread: fc.double({ min: 0.1, max: 8, noNaN: true }),
          seed: fc.nat(),
        }),
        ({ batch, heads, channels, tokens, spread, seed }) => {
          const shape: [number, number, number, number] = [batch, heads, channels, tokens];
          const [ratio, min, max] = tf.tidy(() => {
            const q = tf.randomNormal(shape, 0, spread, 'float32', seed) as tf.Tensor4D;
            const k = tf.randomNormal(shape, 0, spread, 'float32', seed + 1) as tf.Tensor4D;
            const temperature = tf.randomUniform([heads, 1, 1], 0.2, 3, 'float32', seed + 2);
            const r = tf.div(channelGate(q, k, temperature), tf.reshape(temperature, [1, heads, 1]));
            return [r, tf.min(r), tf.max(r)];
          });
          const lo = min!.dataSync()[0]!;
          const hi = max!.dataSync()[0]!;
          tf.dispose([ratio!, min!, max!]);
          // float32: σ(s) for s in (0, 1] is computed to a few ulps.
          expect(lo).toBeGreaterThan(0.5 - 1e-6);
          expect(hi).toBeLessThanOrEqual(SIGMOID_1 + 1e-6);
          if (tokens === 1) expect(Math.abs(hi - SIGMOID_1)).toBeLessThan(1e-6);
        },
      ),
      { seed: 7, numRuns: 60 },
    );
  });

  it('ChannelProcessing keeps the shape and frees every intermediate, called outside tf.tidy', () => {
    const cp = new ChannelProcessing(12, new Rng(0), { numHeads: 3, mlpHiddenDim: 24, qkvBias: true });
    const x = tf.randomNormal([2, 6, 12]) as tf.Tensor3D;
    const ctx = new ForwardContext(false);
    const before = tf.memory().numTensors;
    const y = cp.forward(x, { height: 2, width: 3 }, ctx);
    expect(y.shape).toEqual([2, 6, 12]);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    cp.dispose();
  });
});

describe('Fourier features', () => {
  it('come in (sin, cos) pairs of one frequency, and the last row/column reaches 2π', () => {
    const f = fourierFeatures({ height: 3, width: 4 });
    for (let token = 0; token < 12; token++) {
      for (let t = 0; t < 64; t += 2) expect(f[token * 64 + t]! ** 2 + f[token * 64 + t + 1]! ** 2).toBeCloseTo(1, 5);
    }
    // Last row, first y-feature: sin(2π·3/(3+1e-6)) ≈ 0 and its cos partner ≈ 1.
    expect(f[8 * 64]!).toBeCloseTo(0, 4);
    expect(f[8 * 64 + 1]!).toBeCloseTo(1, 4);
  });
});

describe('geometry', () => {
  it('ConvPatchEmbed halves with ceil per stage: 224 → 14, 225 → 15', () => {
    expect(convPatchEmbedGrid(224, 225, 16)).toEqual({ height: 14, width: 15 });
    expect(convPatchEmbedGrid(32, 48, 4)).toEqual({ height: 8, width: 12 });
  });

  it('the shifted-window mask is symmetric, 0 on its diagonal, and all zero for the top-left window', () => {
    const n = 16;
    const mask = shiftedWindowMask({ height: 8, width: 8 }, 4, 2);
    expect(mask.length).toBe(4 * n * n);
    for (let w = 0; w < 4; w++) {
      for (let i = 0; i < n; i++) {
        expect(mask[w * n * n + i * n + i]).toBe(0);
        for (let j = 0; j < n; j++) expect(mask[w * n * n + i * n + j]).toBe(mask[w * n * n + j * n + i]);
      }
    }
    expect(Array.from(mask.slice(0, n * n)).every((v) => v === 0)).toBe(true);
    expect(Array.from(mask.slice(3 * n * n)).some((v) => v === -100)).toBe(true);
  });
});
