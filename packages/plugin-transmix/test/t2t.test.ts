import { beforeAll, expect, it } from 'vitest';
import { applyAugmentations, attachAugmentations, createModelFromSpec, oneHot, Rng, setBackend, softTargetCrossEntropy, tf, use } from '@tessera/core';
import { t2tPlugin, t2tVitSpec } from '@tessera/plugin-t2t';
import { TransMix } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
  use(t2tPlugin);
});

it('trains a tiny T2T-ViT (32x48 input, non-square 2x3 token grid) with TransMix: finite loss, no tensor leak', () => {
  const model = createModelFromSpec(
    t2tVitSpec({ name: 't2t_vit_tiny', imgSize: [32, 48], numClasses: 4, tokenDim: 16, embedDim: 32, depth: 2, numHeads: 2, mlpRatio: 2, seed: 0 }),
  );
  const transmix = attachAugmentations(model, new TransMix({ switchProb: 1 }));
  const optimizer = tf.train.adam(2e-3);
  const rng = new Rng(2);
  const images = tf.randomUniform([4, 32, 48, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const targets = oneHot([0, 1, 2, 3], 4);
  const counts: number[] = [];
  for (let step = 0; step < 5; step++) {
    const batch = applyAugmentations(transmix, { images, targets }, rng);
    const loss = optimizer.minimize(() => {
      const out = model.forward(batch.batch.images, { training: true, outputs: ['clsAttention'] });
      expect(out.clsAttention!.grid).toEqual({ height: 2, width: 3 });
      return softTargetCrossEntropy(out.logits, batch.targets(out));
    }, true)!;
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    loss.dispose();
    batch.dispose();
    counts.push(tf.memory().numTensors);
  }
  expect(new Set(counts.slice(1)).size).toBe(1);
  optimizer.dispose();
  model.dispose();
  tf.dispose([images, targets]);
});
