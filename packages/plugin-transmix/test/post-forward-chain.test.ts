import { beforeAll, expect, it } from 'vitest';
import { applyAugmentations, attachAugmentations, createModelFromSpec, oneHot, Rng, setBackend, softTargetCrossEntropy, tf, type Augmentation } from '@tessera/core';
import { TransMix } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

/**
 * A second post-forward step after TransMix, as FlexiViT's distillation would be:
 * it reads the targets TransMix built and blends them with uniform targets, recording
 * what it received.
 */
function blendWithUniform(weight: number): Augmentation<null> & { received: tf.Tensor2D[] } {
  const received: tf.Tensor2D[] = [];
  return {
    name: 'blend',
    requiresOutputs: [],
    received,
    checkModel() {},
    sample: () => null,
    apply: (batch) => batch,
    afterForward(_batch, _params, _outputs, targets) {
      received.push(targets!.clone());
      return tf.tidy(() => tf.add(tf.mul(targets!, 1 - weight), weight / targets!.shape[1]) as tf.Tensor2D);
    },
  };
}

it('TransMix then a step that reads its targets: the second step gets exactly the TransMix targets, and training does not leak', () => {
  const model = createModelFromSpec({
    imgSize: 16,
    numClasses: 4,
    seed: 2,
    stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 16 } },
    stages: [{ block: 'class_token' }, { block: 'transformer', depth: 1, options: { numHeads: 2 } }],
    head: { block: 'classifier' },
  });
  const transmix = new TransMix({ switchProb: 1, labelSmoothing: 0 });
  const blend = blendWithUniform(0.5);
  const augmentation = attachAugmentations(model, [transmix, blend]);
  const images = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const targets = oneHot([0, 1, 2, 3], 4);
  const optimizer = tf.train.adam(1e-3);
  const rng = new Rng(4);
  const counts: number[] = [];
  for (let step = 0; step < 3; step++) {
    const batch = applyAugmentations(augmentation, { images, targets }, rng);
    let final: number[] = [];
    let expected: number[] = [];
    const loss = optimizer.minimize(() => {
      const out = model.forward(batch.batch.images, { training: true, outputs: batch.requiresOutputs });
      const t = batch.targets(out);
      // What TransMix alone makes of the same batch and outputs.
      const alone = transmix.afterForward({ images, targets }, batch.params[0] as never, out);
      final = Array.from(t.dataSync());
      expected = Array.from(alone.dataSync()).map((v) => v * 0.5 + 0.5 / 4);
      expect(Array.from(blend.received.at(-1)!.dataSync())).toEqual(Array.from(alone.dataSync()));
      alone.dispose();
      return softTargetCrossEntropy(out.logits, t);
    }, true)!;
    final.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    loss.dispose();
    batch.dispose();
    tf.dispose(blend.received.splice(0));
    counts.push(tf.memory().numTensors);
  }
  expect(new Set(counts.slice(1)).size).toBe(1);
  optimizer.dispose();
  tf.dispose([images, targets]);
  model.dispose();
});
