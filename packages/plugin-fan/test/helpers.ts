import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { tf, type VisionModel } from '@tessera/core';

export interface FixtureTensor {
  readonly shape: number[];
  readonly data: number[];
}

/** Numbers from the official FAN code run in float64 (fixtures/make_fixtures.py). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const reference: any = JSON.parse(readFileSync(new URL('./fixtures/fan_reference.json', import.meta.url), 'utf8'));

export function toTensor(t: FixtureTensor): tf.Tensor {
  return tf.tensor(t.data, t.shape, 'float32');
}

/** NCHW (PyTorch) → NHWC. */
export function toImage(t: FixtureTensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(toTensor(t), [0, 2, 3, 1]) as tf.Tensor4D);
}

export function toState(state: Record<string, FixtureTensor>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [k, toTensor(v)]));
}

/**
 * max |actual − expected| / max |expected|: the relative error of the whole tensor,
 * the measure "within 1e-4 relative" refers to. Asserts the shape and returns the error.
 */
export function relativeError(actual: tf.Tensor, expected: FixtureTensor): number {
  expect(actual.shape).toEqual(expected.shape);
  const a = actual.dataSync();
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.data.length; i++) {
    scale = Math.max(scale, Math.abs(expected.data[i]!));
    worst = Math.max(worst, Math.abs(a[i]! - expected.data[i]!));
  }
  return worst / scale;
}

export function expectRelativeClose(actual: tf.Tensor, expected: FixtureTensor, tolerance: number, label = ''): number {
  const error = relativeError(actual, expected);
  expect(error, `${label} relative error ${error}`).toBeLessThanOrEqual(tolerance);
  return error;
}

/** Trains on one fixed batch; returns the eval loss before and after and the tensor count after each step. */
export function train(model: VisionModel, images: tf.Tensor4D, labels: tf.Tensor2D, steps: number, lr = 2e-3): { initial: number; final: number; counts: number[] } {
  const optimizer = tf.train.adam(lr);
  const evalLoss = () => tf.tidy(() => tf.losses.softmaxCrossEntropy(labels, model.predict(images)).dataSync()[0]!);
  const initial = evalLoss();
  const counts: number[] = [];
  for (let step = 0; step < steps; step++) {
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, model.forward(images, { training: true }).logits) as tf.Scalar,
      model.trainableVariables(),
    );
    optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
    tf.dispose([value, ...Object.values(grads)]);
    counts.push(tf.memory().numTensors);
  }
  const final = evalLoss();
  optimizer.dispose();
  return { initial, final, counts };
}

