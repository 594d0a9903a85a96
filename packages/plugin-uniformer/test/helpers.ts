import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { tf } from '@tessera/core';

export interface FixtureTensor {
  readonly shape: number[];
  readonly data: number[];
}

/** The float64 reference numbers written by fixtures/make_fixtures.py from the official uniformer.py. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const reference: any = JSON.parse(readFileSync(new URL('./fixtures/uniformer_reference.json', import.meta.url), 'utf8'));

export function toTensor(t: FixtureTensor): tf.Tensor {
  return tf.tensor(t.data, t.shape, 'float32');
}

export function toState(state: Record<string, FixtureTensor>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [k, toTensor(v)]));
}

/** max |actual − expected| / max(1, max |expected|) must be at most `tolerance`; reports the worst element. */
export function expectRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what = ''): void {
  expect(actual.length, what).toBe(expected.length);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (d > worst) [worst, at] = [d, i];
  }
  if (worst / scale > tolerance) expect.fail(`${what} element ${at}: ${actual[at]} vs ${expected[at]} (relative error ${worst / scale} > ${tolerance})`);
}
