import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, resamplePosEmbed, resizeMatrix, setBackend, tf, type ResampleInterpolation } from '../src/index.js';
import { expectNoLeak, type FixtureTensor } from './helpers.js';

interface Case {
  from: [number, number];
  to: [number, number];
  numPrefixTokens: number;
  interpolation: ResampleInterpolation;
  antialias: boolean;
  input: FixtureTensor;
  output: FixtureTensor;
}
// Written by fixtures/make_resample_fixtures.py with PyTorch 1.13 in float64.
const { cases } = JSON.parse(readFileSync(new URL('./fixtures/resample.json', import.meta.url), 'utf8')) as { cases: Case[] };

/** The same resize in float64, from the 1-D matrices alone: out[Y, X] = Σ rows[Y, y] · cols[X, x] · in[y, x]. */
function resample64(c: Case): number[] {
  const [h, w] = c.from;
  const [H, W] = c.to;
  const dim = c.input.shape[2]!;
  const p = c.numPrefixTokens;
  const rows = resizeMatrix(h, H, c.interpolation, c.antialias);
  const cols = resizeMatrix(w, W, c.interpolation, c.antialias);
  const out = c.input.data.slice(0, p * dim);
  for (let Y = 0; Y < H; Y++)
    for (let X = 0; X < W; X++)
      for (let d = 0; d < dim; d++) {
        let s = 0;
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) s += rows[Y * h + y]! * cols[X * w + x]! * c.input.data[(p + y * w + x) * dim + d]!;
        out.push(s);
      }
  return out;
}

beforeAll(async () => {
  await setBackend('wasm');
});

describe("resamplePosEmbed against PyTorch's F.interpolate (timm resample_abs_pos_embed semantics)", () => {
  it('covers bicubic and bilinear, with and without antialias, up, down, non-square and prefix rows', () => {
    expect(cases.length).toBe(24);
    expect(new Set(cases.map((c) => `${c.interpolation}/${c.antialias}`)).size).toBe(4);
  });

  for (const c of cases) {
    const label = `${c.interpolation}${c.antialias ? ' antialias' : ''} ${c.from.join('x')} → ${c.to.join('x')}, ${c.numPrefixTokens} prefix`;
    it(`${label}: the float64 matrices equal PyTorch to 1e-12, the float32 tensor path to 1e-5`, () => {
      const exact = resample64(c);
      exact.forEach((v, i) => expect(Math.abs(v - c.output.data[i]!)).toBeLessThan(1e-12));
      const input = tf.tensor3d(c.input.data, c.input.shape as [number, number, number]);
      const out = resamplePosEmbed(input, { height: c.to[0], width: c.to[1] }, { from: { height: c.from[0], width: c.from[1] }, numPrefixTokens: c.numPrefixTokens, interpolation: c.interpolation, antialias: c.antialias });
      expect(out.shape).toEqual(c.output.shape);
      Array.from(out.dataSync()).forEach((v, i) => expect(Math.abs(v - c.output.data[i]!)).toBeLessThan(1e-5));
      tf.dispose([input, out]);
    });
  }

  it('is differentiable (gradients reach the stored embedding), keeps prefix rows, and leaks nothing', () => {
    const pe = tf.variable(tf.randomNormal([1, 1 + 9, 4], 0, 1, 'float32', 3));
    expectNoLeak(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(resamplePosEmbed(pe, { height: 5, width: 4 }))) as tf.Scalar, [pe]);
      value.dispose();
      const g = grads[pe.name]!;
      expect(g.shape).toEqual([1, 10, 4]);
      expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      tf.dispose(Object.values(grads));
    });
    const out = resamplePosEmbed(pe, { height: 2, width: 2 });
    expect(Array.from(out.dataSync().slice(0, 4))).toEqual(Array.from(pe.dataSync().slice(0, 4)));
    tf.dispose([out, pe]);
  });

  it('refuses a grid that does not match the rows, naming it', () => {
    const pe = tf.zeros([1, 1 + 10, 2]);
    expect(() => resamplePosEmbed(pe, { height: 2, width: 2 })).toThrow(InvalidArgumentError);
    expect(() => resamplePosEmbed(pe, { height: 2, width: 2 }, { from: { height: 3, width: 3 } })).toThrow(/from = .* is not accepted: expected the grid of the 10 non-prefix rows/);
    expect(() => resamplePosEmbed(pe, { height: 2, width: 2 }, { from: { height: 2, width: 5 }, interpolation: 'nearest' as never })).toThrow(/interpolation/);
    pe.dispose();
  });
});
