import { CompositionError, createModelFromSpec, setBackend, tf, type ModelSpecInput } from '@tessera/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadPlugins } from '../src/plugins.js';

/*
 * Any stem, blocks and head from any installed plugin either compose into a model
 * that works, or are refused before a single tensor exists. "Works" means: logits
 * of the promised shape, finite; the stage shapes it reports are the shapes it
 * computes; every trainable parameter gets a finite gradient; nothing leaks; and
 * clsAttention is offered exactly when a class token feeds an attention block.
 */

const stem = fc.oneof(
  fc.record({ block: fc.constant('patch_embed'), options: fc.record({ patchSize: fc.constantFrom(2, 4, 8, 24), embedDim: fc.constantFrom(8, 12) }) }),
  fc.record({
    block: fc.constant('t2t'),
    options: fc.record({
      embedDim: fc.constantFrom(8, 12),
      tokenDim: fc.constantFrom(4, 8),
      tokensType: fc.constantFrom('performer', 'transformer'),
      dropRate: fc.constant(0),
      softSplits: fc.array(fc.record({ kernelSize: fc.constantFrom(3, 5, 7), stride: fc.constantFrom(1, 2, 4), padding: fc.constantFrom(0, 1, 2) }), { minLength: 1, maxLength: 2 }),
    }),
  }),
);
const stage = fc.oneof(
  fc.record({ block: fc.constant('class_token'), options: fc.record({ posEmbed: fc.constantFrom('learned', 'none') }) }),
  fc.record({ block: fc.constant('transformer'), depth: fc.integer({ min: 1, max: 2 }), options: fc.record({ numHeads: fc.constantFrom(1, 2, 3, 4), mlpRatio: fc.constantFrom(1, 2) }) }),
);
const head = fc.record({ block: fc.constant('classifier'), options: fc.record({ pool: fc.constantFrom('token', 'avg') }) });
const spec = fc.record({
  imgSize: fc.constantFrom(12, 16),
  numClasses: fc.integer({ min: 2, max: 5 }),
  dropPathRate: fc.constantFrom(0, 0.1),
  stem,
  stages: fc.array(stage, { maxLength: 3 }),
  head,
}) as fc.Arbitrary<ModelSpecInput>;

describe('any plugin combination', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    await loadPlugins();
  });

  test('composes into a working model or is refused before any tensor is made', () => {
    let built = 0;
    let refused = 0;
    fc.assert(
      fc.property(spec, (s) => {
        const before = tf.memory().numTensors;
        let model;
        try {
          model = createModelFromSpec(s);
        } catch (error) {
          expect(error).toBeInstanceOf(CompositionError);
          expect(tf.memory().numTensors).toBe(before);
          refused++;
          return;
        }
        built++;
        const size = s.imgSize as number;
        const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
        const stages = model.stages();
        expect(stages.at(-1)!.shape).toEqual([-1, s.numClasses]);
        const afterBuild = tf.memory().numTensors;
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.forward(x, { training: true }).logits)) as tf.Scalar, model.trainableVariables());
        expect(Number.isFinite(value.dataSync()[0])).toBe(true);
        expect(Object.keys(grads).length).toBe(model.trainableVariables().length);
        for (const g of Object.values(grads)) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
        tf.dispose([value, ...Object.values(grads)]);
        const logits = model.predict(x);
        expect(logits.shape).toEqual([2, s.numClasses]);
        logits.dispose();
        if (model.availableOutputs.includes('clsAttention')) {
          const out = model.forward(x, { outputs: ['clsAttention'] });
          const tokenStage = stages.filter((st) => st.spec.layout === 'tokens').at(-1)!;
          const grid = tokenStage.spec.layout === 'tokens' ? tokenStage.spec.grid : undefined;
          expect(out.clsAttention!.grid).toEqual(grid);
          tf.dispose([out.logits, out.clsAttention!.probs]);
        } else {
          // No class token ahead of an attention block: nothing TransMix could read.
          const hasClassBeforeAttention = (s.stages ?? []).some((st, i, all) => st.block === 'class_token' && all.slice(i + 1).some((later) => later.block === 'transformer'));
          expect(hasClassBeforeAttention).toBe(false);
        }
        expect(tf.memory().numTensors).toBe(afterBuild);
        x.dispose();
        model.dispose();
        expect(tf.memory().numTensors).toBe(before);
      }),
      { seed: 42, numRuns: 60 },
    );
    // Both outcomes occur, so the property is not vacuous on either side.
    expect(built).toBeGreaterThan(5);
    expect(refused).toBeGreaterThan(5);
  });
});
