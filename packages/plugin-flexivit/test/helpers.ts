import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { tf } from '@tessera/core';

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export interface FlexiReference {
  config: { img_size: number; patch_size: number; embed_dim: number; depth: number; num_heads: number; num_classes: number };
  images: FixtureTensor;
  state_dict: Record<string, FixtureTensor>;
  logits: Record<string, number[]>;
  resampled: Record<string, Record<'patch_embed.proj.weight' | 'pos_embed', FixtureTensor>>;
  posemb_antialias: { table: FixtureTensor; resized: Record<string, number[]> };
}

export const reference = JSON.parse(readFileSync(new URL('./fixtures/flexivit_reference.json', import.meta.url), 'utf8')) as FlexiReference;

export const fixtureTensor = (f: FixtureTensor): tf.Tensor => tf.tensor(f.data, f.shape, 'float32');

export function maxAbsDiff(actual: tf.Tensor | ArrayLike<number>, expected: ArrayLike<number>): number {
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  expect(a.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - expected[i]!));
  return worst;
}

export function expectNoLeak(fn: () => void): void {
  const before = tf.memory().numTensors;
  fn();
  expect(tf.memory().numTensors).toBe(before);
}
