import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { pairwiseRows, productRows, productSize } from '../src/index.js';

describe('pairwise coverage', () => {
  test('covers every pair of values of every two dimensions, with no more rows than the product', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 2, maxLength: 5 }), (sizes) => {
        const rows = pairwiseRows(sizes);
        expect(rows.length).toBeLessThanOrEqual(productSize(sizes));
        for (const row of rows) {
          expect(row.length).toBe(sizes.length);
          row.forEach((v, d) => expect(v).toBeLessThan(sizes[d]!));
        }
        for (let i = 0; i < sizes.length; i++) {
          for (let j = i + 1; j < sizes.length; j++) {
            const seen = new Set(rows.map((r) => `${r[i]},${r[j]}`));
            expect(seen.size).toBe(sizes[i]! * sizes[j]!);
          }
        }
        // At least the product of the two largest dimensions is needed; greedy stays within 2x of it here.
        const [a, b] = [...sizes].sort((x, y) => y - x);
        expect(rows.length).toBeGreaterThanOrEqual(a! * b!);
        expect(rows.length).toBeLessThanOrEqual(2 * a! * b!);
        expect(pairwiseRows(sizes)).toEqual(rows);
      }),
      { seed: 3, numRuns: 100 },
    );
  });

  test('20 stems x 47 stage lists x 3 heads: 940 rows instead of 2820', () => {
    expect(pairwiseRows([20, 47, 3]).length).toBe(940);
    expect(productRows([2, 3]).map((r) => r.join(''))).toEqual(['00', '01', '02', '10', '11', '12']);
  });
});
