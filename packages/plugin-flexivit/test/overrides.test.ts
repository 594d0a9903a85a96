import { beforeAll, describe, expect, it } from 'vitest';
import { createModelFromSpec, loadTorchStateDict, setBackend, tf, use, type ModelSpecInput, type VisionModel } from '@tessera/core';
import { flexiCheckpointFilter, flexiModels, flexivitPlugin } from '../src/index.js';
import { expectNoLeak, fixtureTensor, maxAbsDiff, reference } from './helpers.js';

const { config } = reference;

beforeAll(async () => {
  await setBackend('cpu');
  use(flexivitPlugin);
});

/** flexivit_small's spec with the fixture's width, depth and heads (timm kwargs in make_fixtures.py). */
function fixtureSpec(patchSize: number): ModelSpecInput {
  const spec = flexiModels.flexivit_small!.spec!({ imgSize: config.img_size, patchSize, numClasses: config.num_classes });
  const [cls, blocks] = spec.stages!;
  return {
    ...spec,
    stem: { ...spec.stem, options: { ...spec.stem.options, embedDim: config.embed_dim } },
    stages: [cls!, { ...blocks!, depth: config.depth, options: { ...blocks!.options, numHeads: config.num_heads } }],
  };
}

/** `forward` at one patch size: the stem stage is named '' (its parameters sit at the top level, as timm's). */
const at = (patchSize: number) => ({ training: false, overrides: { stem: { patchSize } } });

describe('patchSize overridden per call', () => {
  it("one model, stored at patch 8, gives timm's FlexiViT logits at patch 8, 6 and 12 (float64 timm fixtures)", () => {
    const model = createModelFromSpec(fixtureSpec(config.patch_size));
    const state = Object.fromEntries(Object.entries(reference.state_dict).map(([k, v]) => [k, fixtureTensor(v)]));
    loadTorchStateDict(model, flexiCheckpointFilter(state, model));
    tf.dispose(Object.values(state));
    const images = fixtureTensor(reference.images) as tf.Tensor4D;
    for (const p of [config.patch_size, 6, 12]) {
      const { logits } = model.forward(images, at(p));
      // Float32 against float64 (timm's position resize itself runs in float32): 2e-4 on logits of O(1-10).
      expect(maxAbsDiff(logits, reference.logits[String(p)]!), `patch ${p}`).toBeLessThan(2e-4);
      logits.dispose();
    }
    images.dispose();
    model.dispose();
  });

  it('makes (n/p)² patch tokens for every p and leaks nothing, with or without a surrounding tidy', () => {
    const model = createModelFromSpec(fixtureSpec(8));
    const images = tf.randomNormal([1, 48, 48, 3]) as tf.Tensor4D;
    for (const p of [4, 6, 8, 12, 16, 24]) {
      // The class token's attention row covers every patch token: (n/p)² of them on an (n/p)×(n/p) grid.
      const out = model.forward(images, { ...at(p), outputs: ['clsAttention'] });
      expect(out.clsAttention!.grid).toEqual({ height: 48 / p, width: 48 / p });
      expect(out.clsAttention!.probs.shape[2]).toBe((48 / p) ** 2);
      tf.dispose([out.logits, out.clsAttention!.probs]);
      expectNoLeak(() => model.forward(images, at(p)).logits.dispose());
      expectNoLeak(() => tf.tidy(() => {
        model.forward(images, at(p));
      }));
    }
    images.dispose();
    model.dispose();
  });
});
