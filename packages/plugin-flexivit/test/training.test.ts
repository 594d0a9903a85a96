import { beforeAll, describe, expect, it } from 'vitest';
import { createModelFromSpec, oneHot, Rng, setBackend, softTargetCrossEntropy, tf, use } from '@tessera/core';
import { flexivitPlugin } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
  use(flexivitPlugin);
});

/** A small FlexiViT: 16 px images, stored 8×8 kernel and 4×4 table, trained at patch 2, 4 and 8. */
const SPEC = {
  name: 'tiny_flexivit',
  imgSize: 16,
  numClasses: 4,
  stem: { block: 'flexi_patch_embed', name: '', options: { patchSize: 4, embedDim: 16, kernelSize: 8, posEmbedGrid: 4 } },
  stages: [
    { block: 'class_token', name: '', options: { posEmbed: 'none' } },
    { block: 'transformer', name: 'blocks', depth: 2, options: { numHeads: 2 } },
  ],
  head: { block: 'classifier', name: '', options: { numClasses: 4 } },
};

function lossAt(model: ReturnType<typeof createModelFromSpec>, images: tf.Tensor4D, targets: tf.Tensor2D, sizes: readonly number[]): number[] {
  return sizes.map((patchSize) =>
    tf.tidy(() => softTargetCrossEntropy(model.forward(images, { training: false, overrides: { stem: { patchSize } } }).logits, targets).dataSync()[0]!),
  );
}

describe('training with a random patch size per step (wasm)', () => {
  it('learns, updates the stored kernel and keeps the tensor count stable', () => {
    const model = createModelFromSpec(SPEC);
    const params = model.namedParameters().filter(([, p]) => p.trainable).map(([, p]) => p.variable);
    const optimizer = tf.train.adam(1e-3);
    const rng = new Rng(0);
    // A learnable task: the class is the brightest quadrant.
    const images = tf.tidy(() => {
      const base = tf.randomUniform([16, 16, 16, 3], 0, 0.2, 'float32', 1);
      const masks = [0, 1, 2, 3].map((q) => {
        const m = new Float32Array(16 * 16);
        for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) m[y * 16 + x] = Number((y < 8 ? 0 : 2) + (x < 8 ? 0 : 1) === q);
        return tf.tensor(m, [1, 16, 16, 1]);
      });
      return tf.add(base, tf.concat(Array.from({ length: 16 }, (_, i) => masks[i % 4]!), 0)) as tf.Tensor4D;
    });
    const targets = oneHot(Int32Array.from({ length: 16 }, (_, i) => i % 4), 4);
    const kernelBefore = model.namedParameters().find(([k]) => k === 'patch_embed.proj.weight')![1].variable.dataSync().slice();
    const sizes = [2, 4, 8];
    const before = lossAt(model, images, targets, sizes);
    const losses: number[] = [];
    let counted: number | undefined;
    for (let step = 0; step < 80; step++) {
      const patchSize = sizes[rng.int(sizes.length)]!;
      const loss = optimizer.minimize(
        () => softTargetCrossEntropy(model.forward(images, { training: true, overrides: { stem: { patchSize } } }).logits, targets),
        true,
        params,
      )!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
      // Adam's moments exist after the first step; from then on every step frees what it makes.
      if (step === 1) counted = tf.memory().numTensors;
      if (step > 1) expect(tf.memory().numTensors).toBe(counted);
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    const kernelAfter = model.namedParameters().find(([k]) => k === 'patch_embed.proj.weight')![1].variable.dataSync();
    expect(kernelAfter.some((v, i) => v !== kernelBefore[i])).toBe(true);
    // The stored kernel keeps its base size whatever the patch sizes trained.
    expect(model.namedParameters().find(([k]) => k === 'patch_embed.proj.weight')![1].variable.shape).toEqual([8, 8, 3, 16]);
    // Every patch size learned: its loss on the batch fell from the untrained model's.
    const after = lossAt(model, images, targets, sizes);
    sizes.forEach((p, i) => expect(after[i]!, `loss at patch ${p}`).toBeLessThan(before[i]! - 0.1));
    tf.dispose([images, targets]);
    optimizer.dispose();
    model.dispose();
  });
});
