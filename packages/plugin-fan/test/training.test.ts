import { beforeAll, describe, expect, it } from 'vitest';
import { createModelFromSpec, Rng, setBackend, tf, use, type ModelSpecInput } from '@tessera/core';
import { fanPlugin, fanSwinSpec, fanViTSpec } from '../src/index.js';
import { train } from './helpers.js';

beforeAll(async () => {
  await setBackend('wasm');
  use(fanPlugin);
});

function batch(size: number, seed: number, classes = 4): { images: tf.Tensor4D; labels: tf.Tensor2D } {
  const rng = new Rng(seed);
  const images = tf.tensor4d(Float32Array.from({ length: 4 * size * size * 3 }, () => rng.normal()), [4, size, size, 3]);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3].map((i) => i % classes), 'int32'), classes) as tf.Tensor2D;
  return { images, labels };
}

const small: Array<[string, number, ModelSpecInput]> = [
  ['FAN-ViT', 32, fanViTSpec('fan_vit_small_test', { embedDim: 32, depth: 2, numHeads: 2, patchSize: 8 }, { imgSize: 32, numClasses: 4, dropPathRate: 0.1 })],
  ['FAN-Hybrid', 32, fanViTSpec('fan_hybrid_small_test', { embedDim: 32, depth: 2, numHeads: 2, convnextDepths: [1, 1], convnextDims: [8, 16] }, { imgSize: 32, numClasses: 4, dropPathRate: 0.1 })],
  ['FAN-Swin', 32, fanSwinSpec('fan_swin_small_test', { embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: 4, patchSize: 4, mlp: ['channel_processing', 'mlp'] }, { imgSize: 32, numClasses: 4, dropPathRate: 0.1 })],
];

describe('training on the wasm backend', () => {
  for (const [label, size, spec] of small) {
    it(`a small ${label} trains: the loss falls and the tensor count stays flat`, () => {
      const model = createModelFromSpec(spec);
      const { images, labels } = batch(size, 1);
      const { initial, final, counts } = train(model, images, labels, 20, 3e-3);
      console.log(`${label}: loss ${initial.toFixed(4)} → ${final.toFixed(4)} in 20 Adam steps`);
      expect(final).toBeLessThan(initial * 0.6);
      // Adam allocates its moments on the first step; after that every step frees what it makes.
      expect(new Set(counts.slice(1)).size).toBe(1);
      tf.dispose([images, labels]);
      model.dispose();
    });
  }
});

describe('class attention for TransMix', () => {
  it("a FAN model offers the last class-attention block's class-token attention over the patch grid", () => {
    const model = createModelFromSpec(small[0]![2]);
    expect(model.availableOutputs).toEqual(['clsAttention']);
    const { images } = batch(32, 2);
    const before = tf.memory().numTensors;
    const { logits, clsAttention } = model.forward(images, { outputs: ['clsAttention'] });
    expect(clsAttention!.grid).toEqual({ height: 4, width: 4 });
    expect(clsAttention!.probs.shape).toEqual([4, 2, 16]);
    // Softmax over the class token and 16 patches, class column dropped: each row sums to less than 1.
    for (const s of tf.tidy(() => tf.sum(clsAttention!.probs, -1).dataSync())) {
      expect(s).toBeGreaterThan(0);
      expect(s).toBeLessThan(1);
    }
    tf.dispose([logits, clsAttention!.probs]);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });
});
