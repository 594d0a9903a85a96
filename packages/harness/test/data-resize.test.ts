import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Resizer, resizeAll } from '../src/data/index.js';

interface Fixture {
  inH: number;
  inW: number;
  input: number[];
  cases: { outH: number; outW: number; values: number[] }[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/data-resize-pil.json', import.meta.url), 'utf8')) as Fixture;

describe('bilinear resize', () => {
  it.each(fixture.cases.map((c) => [`${fixture.inH}x${fixture.inW} -> ${c.outH}x${c.outW}`, c] as const))(
    'matches PIL BILINEAR %s (tolerance 1e-3 on the 0..255 scale)',
    (_, c) => {
      const resizer = new Resizer(fixture.inH, fixture.inW, c.outH, c.outW, 1);
      const out = new Float64Array(c.outH * c.outW);
      resizer.resize(fixture.input, out);
      for (let i = 0; i < out.length; i++) expect(Math.abs((out[i] as number) - (c.values[i] as number))).toBeLessThan(1e-3);
    },
  );

  it('resizes interleaved channels independently', () => {
    const resizer = new Resizer(fixture.inH, fixture.inW, 3, 4, 3);
    const rgb = new Float64Array(fixture.input.length * 3);
    fixture.input.forEach((v, i) => {
      rgb[3 * i] = v;
      rgb[3 * i + 1] = 255 - v;
      rgb[3 * i + 2] = 7;
    });
    const out = new Float64Array(3 * 4 * 3);
    resizer.resize(rgb, out);
    const grey = fixture.cases.find((c) => c.outH === 3 && c.outW === 4)!.values;
    for (let p = 0; p < 12; p++) {
      expect(out[3 * p]).toBeCloseTo(grey[p] as number, 3);
      expect(out[3 * p + 1]).toBeCloseTo(255 - (grey[p] as number), 3);
      expect(out[3 * p + 2]).toBeCloseTo(7, 9);
    }
  });

  it('resizeAll returns the same buffer when the size already matches and rounds to uint8 otherwise', () => {
    const pixels = Uint8Array.from({ length: 2 * 4 * 4 }, (_, i) => (i * 37) % 256);
    expect(resizeAll(pixels, 2, 4, 4, 1, 4, 4)).toBe(pixels);
    const constant = new Uint8Array(2 * 5 * 7).fill(200);
    const out = resizeAll(constant, 2, 5, 7, 1, 3, 9);
    expect(out.length).toBe(2 * 3 * 9);
    expect([...out].every((v) => v === 200)).toBe(true);
  });
});
