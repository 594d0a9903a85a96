import { beforeAll, describe, expect, it } from 'vitest';
import {
  applyAugmentations,
  attachAugmentations,
  chainAugmentations,
  createModelFromSpec,
  Mixup,
  oneHot,
  Rng,
  setBackend,
  softTargetCrossEntropy,
  tf,
  type Augmentation,
  type Batch,
  type ModelOutputs,
} from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

/** A label-preserving step: mirrors the batch left-right on a coin flip. */
const mirror: Augmentation<{ flip: boolean }> = {
  name: 'mirror',
  requiresOutputs: [],
  checkModel() {},
  sample: (_b, rng) => ({ flip: rng.uniform() < 0.5 }),
  apply: (batch, p) => (p.flip ? { images: tf.reverse(batch.images, 2) as tf.Tensor4D, targets: batch.targets } : batch),
};

/** A step that rebuilds targets after the forward pass and records the batch it was handed. */
function recorder(): Augmentation<number> & { seen: Array<{ batch: Batch; pixels: number[] }> } {
  const seen: Array<{ batch: Batch; pixels: number[] }> = [];
  return {
    name: 'recorder',
    requiresOutputs: ['clsAttention'],
    seen,
    checkModel(model) {
      if (!model.availableOutputs.includes('clsAttention')) throw new Error('recorder needs clsAttention');
    },
    sample: (_b, rng) => rng.uniform(),
    apply: (batch) => ({ images: tf.mul(batch.images, 2) as tf.Tensor4D, targets: batch.targets }),
    afterForward(batch) {
      seen.push({ batch, pixels: Array.from(batch.images.dataSync()) });
      return tf.fill(batch.targets.shape, 1 / batch.targets.shape[1]) as tf.Tensor2D;
    },
  };
}

const ramp = (b: number, h: number, w: number, c: number) =>
  tf.tensor4d(Float32Array.from({ length: b * h * w * c }, (_, i) => Math.sin(i)), [b, h, w, c]);

describe('chainAugmentations', () => {
  it('samples every step from one Rng in order and applies them in order, leak-free', () => {
    const mix = new Mixup({ mixupAlpha: 0.8, cutmixAlpha: 1 });
    const chain = chainAugmentations([mirror, mix]);
    expect(chain.name).toBe('mirror+mixup');
    const images = ramp(4, 6, 6, 3);
    const targets = oneHot([0, 1, 2, 3], 4);
    for (const seed of [1, 2, 3, 4]) {
      const before = tf.memory().numTensors;
      const params = chain.sample(4, new Rng(seed));
      const out = chain.apply({ images, targets }, params);
      const rng = new Rng(seed);
      const p0 = mirror.sample(4, rng);
      const p1 = mix.sample(4, rng);
      expect(params).toEqual([p0, p1]);
      const step1 = mirror.apply({ images, targets }, p0);
      const manual = mix.apply(step1, p1);
      expect(Array.from(out.images.dataSync())).toEqual(Array.from(manual.images.dataSync()));
      expect(Array.from(out.targets.dataSync())).toEqual(Array.from(manual.targets.dataSync()));
      for (const t of new Set([out.images, out.targets, step1.images, manual.images, manual.targets])) if (t !== images) t.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([images, targets]);
  });

  it('refuses a plain step after one that rewrites targets after the forward pass', () => {
    expect(() => chainAugmentations([recorder(), mirror])).toThrow(/augmentations\[1\] = "mirror" .*post-forward steps \(recorder\) come last/);
    expect(() => chainAugmentations([mirror, recorder(), recorder(), mirror])).toThrow(/augmentations\[3\] = "mirror"/);
    expect(() => chainAugmentations([])).toThrow(/non-empty/);
  });

  it('hands the last step, after the forward pass, the batch it was applied to', () => {
    const rec = recorder();
    const chain = chainAugmentations([mirror, rec]);
    const images = ramp(2, 4, 4, 1);
    const targets = oneHot([0, 1], 2);
    // A flip that happens: with no flip the mirror is the identity and the recorder could be handed the raw input unnoticed.
    const params = [{ flip: true }, 0.5];
    const before = tf.memory().numTensors;
    const out = chain.afterForward!({ images, targets }, params, {} as ModelOutputs);
    expect(rec.seen).toHaveLength(1);
    const expected = mirror.apply({ images, targets }, params[0] as { flip: boolean });
    expect(rec.seen[0]!.pixels).toEqual(Array.from(expected.images.dataSync()));
    expect(rec.seen[0]!.pixels).not.toEqual(Array.from(images.dataSync()));
    expect(rec.seen[0]!.batch.targets).toBe(targets);
    expect(Array.from(out.dataSync())).toEqual([0.5, 0.5, 0.5, 0.5]);
    out.dispose();
    if (expected.images !== images) expected.images.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, targets]);
  });
  it('recognises its own output when a caller hands afterForward the augmented batch instead of the input', () => {
    const rec = recorder();
    const chain = chainAugmentations([mirror, rec]);
    const images = ramp(2, 4, 4, 1);
    const targets = oneHot([0, 1], 2);
    const params = [{ flip: true }, 0.5];
    const out = chain.apply({ images, targets }, params);
    const a = chain.afterForward!({ images, targets }, params, {} as ModelOutputs);
    const b = chain.afterForward!(out, params, {} as ModelOutputs);
    expect(rec.seen[1]!.pixels).toEqual(rec.seen[0]!.pixels);
    tf.dispose([a, b, out.images, images, targets]);
  });
});

/** A post-forward step that records the targets it is handed and returns them scaled by `factor` plus `shift`. */
function targetReader(name: string, factor: number, shift: number): Augmentation<null> & { received: number[][] } {
  const received: number[][] = [];
  return {
    name,
    requiresOutputs: [],
    received,
    checkModel() {},
    sample: () => null,
    apply: (batch) => batch,
    afterForward(_batch, _params, _outputs, targets) {
      received.push(Array.from(targets!.dataSync()));
      return tf.tidy(() => tf.add(tf.mul(targets!, factor), shift) as tf.Tensor2D);
    },
  };
}

describe('post-forward steps chain', () => {
  it('each post-forward step takes the targets of the one before, in order, through applyAugmentations and a chain, leak-free', () => {
    const rec = recorder();
    const first = targetReader('first', 2, 0);
    const second = targetReader('second', 1, 0.25);
    const images = ramp(2, 4, 4, 1);
    const targets = oneHot([0, 1], 2);
    const before = tf.memory().numTensors;
    const aug = applyAugmentations([mirror, rec, first, second], { images, targets }, new Rng(1));
    const outputs = { clsAttention: {} } as ModelOutputs;
    const out = aug.targets(outputs);
    // recorder → uniform 0.5; first → ×2 = 1; second → +0.25.
    expect(first.received[0]).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(second.received[0]).toEqual([1, 1, 1, 1]);
    expect(Array.from(out.dataSync())).toEqual([1.25, 1.25, 1.25, 1.25]);
    out.dispose();
    aug.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const chain = chainAugmentations([mirror, rec, first, second]);
    const params = chain.sample(2, new Rng(1));
    const viaChain = chain.afterForward!({ images, targets }, params, {} as ModelOutputs);
    expect(Array.from(viaChain.dataSync())).toEqual([1.25, 1.25, 1.25, 1.25]);
    viaChain.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // The first post-forward step gets the targets the pre-forward chain produced when nothing precedes it.
    const only = targetReader('only', 1, 1);
    const single = applyAugmentations([mirror, only], { images, targets }, new Rng(2));
    const t = single.targets({} as ModelOutputs);
    expect(only.received[0]).toEqual([1, 0, 0, 1]);
    expect(Array.from(t.dataSync())).toEqual([2, 1, 1, 2]);
    t.dispose();
    single.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, targets]);
  });
});

describe('applyAugmentations and attachAugmentations', () => {
  const spec = (pool: 'token' | 'avg', withClassToken: boolean) => ({
    imgSize: 8,
    numClasses: 4,
    seed: 3,
    stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 16 } },
    stages: [...(withClassToken ? [{ block: 'class_token' }] : []), { block: 'transformer', options: { numHeads: 2, mlpRatio: 2 } }],
    head: { block: 'classifier', options: { pool } },
  });

  it('attach runs every checkModel, so a model that cannot serve a step is refused up front', () => {
    const noCls = createModelFromSpec(spec('avg', false));
    expect(noCls.availableOutputs).toEqual([]);
    expect(() => attachAugmentations(noCls, [mirror, recorder()])).toThrow(/recorder needs clsAttention/);
    const withCls = createModelFromSpec(spec('token', true));
    expect(attachAugmentations(withCls, mirror)).toBe(mirror);
    expect(attachAugmentations(withCls, [mirror, recorder()]).requiresOutputs).toEqual(['clsAttention']);
    noCls.dispose();
    withCls.dispose();
  });

  it('gives the post-forward step its own input batch, says which output is missing, and owns only what it made', () => {
    const rec = recorder();
    const images = ramp(2, 4, 4, 1);
    const targets = oneHot([0, 1], 2);
    const before = tf.memory().numTensors;
    const aug = applyAugmentations([mirror, rec], { images, targets }, new Rng(5));
    expect(aug.requiresOutputs).toEqual(['clsAttention']);
    const fake = { logits: tf.zeros([2, 2]) as tf.Tensor2D, clsAttention: { probs: tf.ones([2, 1, 4]) as tf.Tensor3D, grid: { height: 2, width: 2 } } };
    expect(() => aug.targets({ logits: fake.logits })).toThrow(/outputs.clsAttention .*recorder/);
    const t = aug.targets(fake);
    expect(rec.seen[0]!.batch.targets).toBe(targets);
    const mirrored = mirror.apply({ images, targets }, aug.params[0] as { flip: boolean });
    expect(rec.seen[0]!.pixels).toEqual(Array.from(mirrored.images.dataSync()));
    expect(Array.from(aug.batch.images.dataSync())).toEqual(Array.from(mirrored.images.dataSync()).map((v) => v * 2));
    if (mirrored.images !== images) mirrored.images.dispose();
    tf.dispose([t, fake.logits, fake.clsAttention.probs]);
    aug.dispose();
    expect(images.isDisposed).toBe(false);
    expect(targets.isDisposed).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, targets]);
  });

  it('trains a tiny composed model with Mixup/CutMix targets: loss finite, no tensor leak across steps', () => {
    const model = createModelFromSpec(spec('token', true));
    const augmentation = attachAugmentations(model, new Mixup({ mixupAlpha: 0.8, cutmixAlpha: 1 }));
    const optimizer = tf.train.adam(3e-3);
    const rng = new Rng(11);
    const images = ramp(4, 8, 8, 3);
    const targets = oneHot([0, 1, 2, 3], 4);
    const counts: number[] = [];
    for (let step = 0; step < 6; step++) {
      const aug = applyAugmentations(augmentation, { images, targets }, rng);
      const loss = optimizer.minimize(() => {
        const out = model.forward(aug.batch.images, { training: true, outputs: aug.requiresOutputs });
        return softTargetCrossEntropy(out.logits, aug.targets(out));
      }, true)!;
      expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
      loss.dispose();
      aug.dispose();
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts.slice(1)).size).toBe(1);
    optimizer.dispose();
    model.dispose();
    tf.dispose([images, targets]);
  });
});
