import { beforeAll, describe, expect, it } from 'vitest';
import { CompositionError, createModelFromSpec, setBackend, tf, use } from '@tessera/core';
import { t2tPlugin } from '../src/index.js';

const hybridSpec = {
  name: 't2t_hybrid',
  imgSize: [40, 32] as [number, number],
  numClasses: 5,
  dropPathRate: 0.1,
  stem: { block: 't2t', options: { embedDim: 48, tokenDim: 16 } },
  stages: [{ block: 'class_token' }, { block: 'transformer', depth: 2, options: { numHeads: 3, normEps: 1e-5 } }],
  head: { block: 'classifier', options: { normEps: 1e-5 } },
};

describe('the t2t stem in a composed model', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    use(t2tPlugin);
  });

  it('composes with core class_token + transformer blocks + classifier, runs and exposes clsAttention', () => {
    const model = createModelFromSpec(hybridSpec);
    const stages = model.stages();
    // 40 → 10 → 5 → 3 and 32 → 8 → 4 → 2.
    expect(stages[1]!.description).toBe('tokens 3x2 grid, 48 channels');
    expect(Object.keys(model.stateDict())).toContain('stem.attention1.kqv.weight');
    expect(Object.keys(model.stateDict())).toContain('stem.project.weight');
    const images = tf.randomNormal([2, 40, 32, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const { logits, clsAttention } = model.forward(images, { training: false, outputs: ['clsAttention'] });
    expect(logits.shape).toEqual([2, 5]);
    expect(clsAttention!.grid).toEqual({ height: 3, width: 2 });
    expect(clsAttention!.probs.shape).toEqual([2, 3, 6]);
    tf.dispose([logits, clsAttention!.probs]);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });

  it('refuses impossible specs before building, naming the path and the reason', () => {
    expect(() => createModelFromSpec({ ...hybridSpec, stem: { block: 't2t', options: { embedDim: 48, tokenDimm: 16 } } })).toThrow(/stem\.options\.tokenDimm: unknown option\. Did you mean 'tokenDim'\?/);
    expect(() => createModelFromSpec({ ...hybridSpec, stem: { block: 't2t', options: { embedDim: 0 } } })).toThrow(/stem\.options\.embedDim/);
    expect(() => createModelFromSpec({ ...hybridSpec, imgSize: 2 })).toThrow(CompositionError);
    expect(() => createModelFromSpec({ ...hybridSpec, imgSize: 2 })).toThrow(/soft split 0 .*2x2 image/);
    expect(() => createModelFromSpec({ ...hybridSpec, stages: [{ block: 't2t' }] })).toThrow(/stages\[0\]\.block: 't2t' stands only at stem, so it cannot be used in stages/);
    expect(() =>
      createModelFromSpec({ ...hybridSpec, stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 48 } }, stages: [{ block: 'class_token' }], head: { block: 't2t' } }),
    ).toThrow(/head\.block: 't2t' stands only at stem, so it cannot be used as the head/);
  });
});
