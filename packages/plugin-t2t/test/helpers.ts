import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { tf } from '@tessera/core';

export interface FixtureTensor {
  readonly shape: number[];
  readonly data: number[];
}

/** The PyTorch float64 reference numbers written by fixtures/make_fixtures.py. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const reference: any = JSON.parse(readFileSync(new URL('./fixtures/t2t_reference.json', import.meta.url), 'utf8'));

export function toTensor(t: FixtureTensor): tf.Tensor {
  return tf.tensor(t.data, t.shape, 'float32');
}

export function toState(state: Record<string, FixtureTensor>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [k, toTensor(v)]));
}

/** Elementwise |actual − expected| <= atol + rtol·|expected|, reporting the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (atol + rtol * Math.abs(expected[i]!));
    if (excess > worst) {
      worst = excess;
      worstAt = i;
    }
  }
  if (worstAt >= 0) {
    expect.fail(`element ${worstAt}: ${actual[worstAt]} vs expected ${expected[worstAt]} (beyond tolerance by ${worst})`);
  }
}
