import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { gridToTokens, LayoutError, setBackend, specShape, tf, tokens, tokensToGrid } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

describe('tokens <-> grid', () => {
  it('round trip is the identity for any grid, width and prefix (row-major)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 2 }),
        (b, h, w, c, p) => {
          const n = p + h * w;
          const values = Array.from({ length: b * n * c }, (_, i) => i);
          const before = tf.memory().numTensors;
          const x = tokens(tf.tensor3d(values, [b, n, c]), { height: h, width: w }, p);
          const { prefix, grid } = tokensToGrid(x);
          // Row-major: token p + y·w + x holds grid[y][x].
          const g = grid.arraySync() as number[][][][];
          for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) expect(g[0]![y]![xx]![0]).toBe((p + y * w + xx) * c);
          const back = gridToTokens(grid, prefix);
          expect(back.grid).toEqual({ height: h, width: w });
          expect(back.numPrefixTokens).toBe(p);
          expect(Array.from(back.tensor.dataSync())).toEqual(values);
          tf.dispose([x.tensor, grid, back.tensor]);
          if (prefix) prefix.dispose();
          expect(tf.memory().numTensors).toBe(before);
        },
      ),
      { seed: 42, numRuns: 60 },
    );
  });

  it('says what is wrong when the token count does not fit the grid', () => {
    const t = tf.zeros([2, 17, 4]) as tf.Tensor3D;
    expect(() => tokens(t, { height: 4, width: 4 }, 0)).toThrow(/4x4 grid with 0 prefix token\(s\) needs 16 tokens, but the tensor has 17/);
    expect(() => tokens(t, { height: 4, width: 4 }, 1)).not.toThrow();
    expect(() => tokens(t, { height: 0, width: 4 }, 1)).toThrow(LayoutError);
    expect(() => gridToTokens(tf.zeros([2, 3, 3, 4]) as tf.Tensor4D, tf.zeros([2, 1, 5]) as tf.Tensor3D)).toThrow(/do not fit a grid/);
  });

  it('specShape reports the shapes the layouts promise', () => {
    expect(specShape({ layout: 'tokens', grid: { height: 2, width: 3 }, channels: 8, numPrefixTokens: 1 })).toEqual([-1, 7, 8]);
    expect(specShape({ layout: 'image', height: 5, width: 6, channels: 3 })).toEqual([-1, 5, 6, 3]);
  });
});
