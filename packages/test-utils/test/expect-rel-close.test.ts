import { describe, expect, it } from 'vitest';
import { expectRelClose } from '../src/index.js';

describe('expectRelClose', () => {
  it('passes within the tolerance of the largest reference magnitude', () => {
    expectRelClose([100.001, 0.002], [100, 0], 'scaled by 100', 1e-5 * 2.01);
    expectRelClose([1e-7, 0], [0, 0], 'all zero: absolute against the floor 1', 1e-6);
    expectRelClose([0.0101], [0.01], 'floor lowered: relative to 0.01', 0.011, 1e-6);
  });

  it('fails beyond it, naming the worst element, and on NaN or a length mismatch', () => {
    expect(() => expectRelClose([1, 2.1], [1, 2], 'x', 1e-3)).toThrow(/x: element 1 is 2.1 against 2/);
    expect(() => expectRelClose([0.0102], [0.01], 'small', 1e-3, 1e-6)).toThrow(/small/);
    expect(() => expectRelClose([Number.NaN], [1], 'nan', 1)).toThrow(/nan: element 0/);
    expect(() => expectRelClose([1], [Number.NaN], 'nan ref', 1)).toThrow(/nan ref/);
    expect(() => expectRelClose([1, 2], [1], 'len', 1)).toThrow(/len: length/);
  });
});
