import { expect } from 'vitest';
import { tf } from '../src/index.js';

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export const fixtureTensor = (f: FixtureTensor): tf.Tensor => tf.tensor(f.data, f.shape, 'float32');

/** NCHW (PyTorch) → NHWC (Tessera). */
export const nchwToNhwc = (t: tf.Tensor): tf.Tensor4D => tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;

/** Max absolute difference between a tensor and reference values, with shapes checked. */
export function maxAbsDiff(actual: tf.Tensor, expected: ArrayLike<number>, shape?: number[]): number {
  if (shape) expect(actual.shape).toEqual(shape);
  const a = actual.dataSync();
  expect(a.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - expected[i]!));
  return worst;
}

export function expectClose(actual: tf.Tensor, expected: FixtureTensor | ArrayLike<number>, tolerance: number): void {
  const values = 'data' in (expected as FixtureTensor) ? (expected as FixtureTensor).data : (expected as ArrayLike<number>);
  const shape = 'shape' in (expected as FixtureTensor) ? (expected as FixtureTensor).shape : undefined;
  const diff = maxAbsDiff(actual, values, shape);
  expect(diff).toBeLessThanOrEqual(tolerance);
}

/** Runs `fn` and asserts it leaves the live-tensor count unchanged. */
export function expectNoLeak(fn: () => void): void {
  const before = tf.memory().numTensors;
  fn();
  expect(tf.memory().numTensors).toBe(before);
}
