import { beforeAll, describe, expect, it } from 'vitest';
import { createModelFromSpec, Rng, setBackend, tf, use } from '@tessera/core';
import { uniformerPlugin, uniformerSpec } from '../src/index.js';

/** A small UniFormer (both stem kinds) at 32 px: every block kind, BatchNorm in training mode, drop path. */
function smallModel(convStem: boolean) {
  return createModelFromSpec(
    uniformerSpec('uniformer_tiny_test', { depths: [1, 1, 1, 1], dims: [16, 24, 32, 48], headDim: 16, mlpRatio: 2, convStem, layerScale: convStem ? null : 1e-6 }, { imgSize: 32, numClasses: 4, dropPathRate: 0.1 }),
  );
}

function batch(seed: number): { images: tf.Tensor4D; labels: tf.Tensor2D } {
  const rng = new Rng(seed);
  const images = tf.tensor4d(Float32Array.from({ length: 8 * 32 * 32 * 3 }, () => rng.normal()), [8, 32, 32, 3]);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4) as tf.Tensor2D;
  return { images, labels };
}

describe('training UniFormer on the wasm backend', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    use(uniformerPlugin);
  });

  for (const convStem of [false, true]) {
    it(`a small UniFormer (${convStem ? 'conv stems' : 'patch stems, LayerScale'}) trains: loss falls, tensor count stable, running statistics move`, () => {
      const model = smallModel(convStem);
      const { images, labels } = batch(1);
      const optimizer = tf.train.adam(3e-3);
      const loss = (training: boolean) => tf.losses.softmaxCrossEntropy(labels, model.forward(images, { training }).logits) as tf.Scalar;
      const runningMean = () => Array.from(model.stateDict()['norm.running_mean']!.dataSync());
      const meanBefore = runningMean();
      const counts: number[] = [];
      const losses: number[] = [];
      for (let step = 0; step < 15; step++) {
        // The first half runs outside tf.tidy, the rest inside: both must free everything.
        const run = () => {
          const { value, grads } = tf.variableGrads(() => loss(true), model.trainableVariables());
          optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
          losses.push(value.dataSync()[0]!);
          tf.dispose([value, ...Object.values(grads)]);
        };
        if (step < 7) run();
        else tf.tidy(run);
        counts.push(tf.memory().numTensors);
      }
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(Math.min(...losses.slice(-3))).toBeLessThan(losses[0]! * 0.5);
      // The optimiser allocates its moments on the first step; after that every step frees what it makes.
      expect(new Set(counts.slice(1)).size).toBe(1);
      expect(runningMean()).not.toEqual(meanBefore);
      const evalLoss = tf.tidy(() => loss(false).dataSync()[0]!);
      expect(Number.isFinite(evalLoss)).toBe(true);
      tf.dispose([images, labels]);
      optimizer.dispose();
      model.dispose();
    });
  }
});
