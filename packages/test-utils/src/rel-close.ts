import { expect } from 'vitest';

/**
 * Max-norm relative closeness: max_i |actual_i − expected_i| / max(floor, max_i |expected_i|) ≤ tolerance.
 *
 * The error of a float32 computation scales with the largest magnitude it handles, not with each element
 * (a sum that cancels to ~0 keeps the rounding error of its large terms), so one scale per array is the
 * tolerance float32 can meet. `floor` (default 1) stops an all-near-zero reference from being compared
 * relatively; pass a smaller one when the reference's own scale is far below 1. On failure the message
 * names `what`, the worst element, both values and the scale.
 */
export function expectRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance: number, floor = 1): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let scale = floor;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = -1;
  let worstAt = 0;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    // NaN in either array must fail, and NaN > x is false: treat it as infinitely far.
    const d = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff;
    if (d > worst) {
      worst = d;
      worstAt = i;
    }
  }
  if (expected.length === 0) return;
  const relative = worst / scale;
  if (!(relative <= tolerance)) {
    expect.fail(
      `${what}: element ${worstAt} is ${actual[worstAt]} against ${expected[worstAt]}; ` +
        `max |diff| ${worst.toExponential(3)} / scale ${scale.toExponential(3)} = ${relative.toExponential(3)} > tolerance ${tolerance}`,
    );
  }
}
