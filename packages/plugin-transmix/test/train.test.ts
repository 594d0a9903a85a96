import { beforeAll, describe, expect, it } from 'vitest';
import { applyAugmentations, attachAugmentations, createModelFromSpec, oneHot, Rng, setBackend, softTargetCrossEntropy, tf } from '@tessera/core';
import { TransMix } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

/** 4 classes: class c has a bright 8x8 square in quadrant c of a noisy 16x16 image. */
function syntheticData(count: number, seed: number): { images: Float32Array; labels: number[] } {
  const rng = new Rng(seed);
  const images = new Float32Array(count * 16 * 16 * 3);
  const labels: number[] = [];
  for (let n = 0; n < count; n++) {
    const c = n % 4;
    labels.push(c);
    const [y0, x0] = [Math.floor(c / 2) * 8, (c % 2) * 8];
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++)
        for (let ch = 0; ch < 3; ch++) {
          const inside = y >= y0 && y < y0 + 8 && x >= x0 && x < x0 + 8;
          images[((n * 16 + y) * 16 + x) * 3 + ch] = (inside ? 1 : 0) + 0.3 * rng.normal();
        }
  }
  return { images, labels };
}

describe('training with TransMix', () => {
  it('a small ViT (class token, 2 blocks) trains on wasm: loss finite and falling, TransMix labels used, no tensor leak', () => {
    const model = createModelFromSpec({
      name: 'tiny_vit',
      imgSize: 16,
      numClasses: 4,
      seed: 1,
      stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 32 } },
      stages: [{ block: 'class_token' }, { block: 'transformer', depth: 2, options: { numHeads: 2, mlpRatio: 2 } }],
      head: { block: 'classifier' },
    });
    const transmix = attachAugmentations(model, new TransMix({ switchProb: 0.5 }));
    const optimizer = tf.train.adam(2e-3);
    const rng = new Rng(7);
    const data = syntheticData(32, 3);
    const batches = [0, 1, 2, 3].map((i) => ({
      images: tf.tensor4d(data.images.subarray(i * 8 * 768, (i + 1) * 8 * 768), [8, 16, 16, 3]),
      targets: oneHot(data.labels.slice(i * 8, (i + 1) * 8), 4),
    }));
    const losses: number[] = [];
    const counts: number[] = [];
    let reweighted = 0;
    for (let step = 0; step < 28; step++) {
      const batch = applyAugmentations(transmix, batches[step % 4]!, rng);
      const loss = optimizer.minimize(() => {
        const out = model.forward(batch.batch.images, { training: true, outputs: batch.requiresOutputs });
        const targets = batch.targets(out);
        if (tf.max(tf.abs(tf.sub(targets, batch.batch.targets))).dataSync()[0]! > 1e-4) reweighted++;
        return softTargetCrossEntropy(out.logits, targets);
      }, true)!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
      batch.dispose();
      counts.push(tf.memory().numTensors);
    }
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
    expect(mean(losses.slice(-6))).toBeLessThan(mean(losses.slice(0, 6)) - 0.1);
    expect(reweighted).toBeGreaterThan(0);
    expect(new Set(counts.slice(1)).size).toBe(1);
    console.log(`TransMix tiny ViT: loss ${mean(losses.slice(0, 6)).toFixed(3)} -> ${mean(losses.slice(-6)).toFixed(3)}, ${reweighted}/28 batches re-weighted`);
    optimizer.dispose();
    model.dispose();
    for (const b of batches) tf.dispose([b.images, b.targets]);
  });

  it('works when the caller hands afterForward the mixed batch inside tf.variableGrads (harness style), leak-free', () => {
    const model = createModelFromSpec({
      imgSize: [16, 24],
      numClasses: 4,
      seed: 2,
      stem: { block: 'patch_embed', options: { patchSize: 8, embedDim: 16 } },
      stages: [{ block: 'class_token' }, { block: 'transformer', options: { numHeads: 2, mlpRatio: 2 } }],
      head: { block: 'classifier' },
    });
    const transmix = new TransMix({ switchProb: 1 });
    transmix.checkModel(model);
    const rng = new Rng(3);
    const images = tf.randomUniform([4, 16, 24, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const targets = oneHot([0, 1, 2, 3], 4);
    const counts: number[] = [];
    for (let step = 0; step < 4; step++) {
      const params = transmix.sample(4, rng);
      const mixed = transmix.apply({ images, targets }, params);
      const { value, grads } = tf.variableGrads(() => {
        const out = model.forward(mixed.images, { training: true, outputs: ['clsAttention'] });
        expect(out.clsAttention!.grid).toEqual({ height: 2, width: 3 });
        return softTargetCrossEntropy(out.logits, transmix.afterForward(mixed, params, out));
      });
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      tf.dispose([value, ...Object.values(grads), mixed.targets, ...(mixed.images === images ? [] : [mixed.images])]);
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts).size).toBe(1);
    model.dispose();
    tf.dispose([images, targets]);
  });
});
