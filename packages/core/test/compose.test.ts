import { beforeAll, describe, expect, it } from 'vitest';
import { CompositionError, createModelFromSpec, parseModelSpec, setBackend, tf, type ModelSpecInput } from '../src/index.js';
import { expectNoLeak } from './helpers.js';

beforeAll(async () => {
  await setBackend('wasm');
});

const vitSpec = (over: Partial<ModelSpecInput> = {}): ModelSpecInput => ({
  name: 'tiny_vit',
  imgSize: [16, 24],
  numClasses: 5,
  stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 16 } },
  stages: [{ block: 'class_token' }, { block: 'transformer', depth: 2, options: { numHeads: 2 } }],
  head: { block: 'classifier' },
  ...over,
});

describe('model specs', () => {
  it('compose registered blocks into a model that runs, with a non-square grid', () => {
    const model = createModelFromSpec(vitSpec());
    const x = tf.randomNormal([2, 16, 24, 3]) as tf.Tensor4D;
    const out = model.forward(x, { outputs: ['clsAttention'] });
    expect(out.logits.shape).toEqual([2, 5]);
    expect(out.clsAttention!.grid).toEqual({ height: 4, width: 6 });
    expect(out.clsAttention!.probs.shape).toEqual([2, 2, 24]);
    expect(Object.keys(model.stateDict())).toContain('stages.1.1.attn.qkv.weight');
    expect(model.stages().map((s) => s.shape)).toEqual([[-1, 16, 24, 3], [-1, 24, 16], [-1, 25, 16], [-1, 25, 16], [-1, 25, 16], [-1, 5]]);
    tf.dispose([out.logits, out.clsAttention!.probs]);
    expectNoLeak(() => model.forward(x, { training: true }).logits.dispose());
    model.dispose();
  });

  it('spreads dropPathRate linearly over the stage blocks', () => {
    const model = createModelFromSpec(vitSpec({ dropPathRate: 0.2, stages: [{ block: 'class_token' }, { block: 'transformer', depth: 3, options: { numHeads: 2 } }] }));
    const rates = [...model.stageBlocks.at(1)].map((b) => (b as unknown as { dropPath: { rate: number } }).dropPath.rate);
    // Four stage blocks (class_token has no drop path): 0, 0.0667, 0.1333, 0.2.
    expect(rates.map((r) => r.toFixed(4))).toEqual(['0.0667', '0.1333', '0.2000']);
    model.dispose();
  });

  it('converts image features to tokens automatically', () => {
    const model = createModelFromSpec({
      imgSize: 8,
      numClasses: 2,
      stem: { block: 'patch_embed', options: { patchSize: 2, embedDim: 8 } },
      stages: [{ block: 'transformer', options: { numHeads: 2 } }],
      head: { block: 'classifier', options: { pool: 'avg' } },
    });
    expect(model.availableOutputs).toEqual([]);
    expect(() => model.forward(tf.zeros([1, 8, 8, 3]), { outputs: ['clsAttention'] })).toThrow(/has no named outputs/);
    model.dispose();
  });

  it('names the path of each invalid field', () => {
    expect(() => parseModelSpec({ stem: { block: 'patch_embed' }, head: { block: 'classifier' }, stages: [{ block: 'transformer', depth: 0 }] })).toThrow(
      /stages\[0\]\.depth: /,
    );
    expect(() => parseModelSpec({ stem: {}, head: { block: 'classifier' } })).toThrow(/stem\.block: /);
    expect(() => parseModelSpec({ stem: { block: 'x' }, head: { block: 'y' }, imgsize: 3 })).toThrow(/imgsize/);
  });

  it('refuses impossible combinations before any tensor is made, saying why', () => {
    const before = tf.memory().numTensors;
    const cases: Array<[ModelSpecInput, RegExp]> = [
      [vitSpec({ stages: [{ block: 'transformer', options: { numHeads: 2 } }] }), /head: block 'classifier' refuses its input .*pool 'token' needs a class token.*add a class_token block or use pool 'avg'/],
      [vitSpec({ stages: [{ block: 'class_token' }, { block: 'transformer', options: { numHeads: 3 } }] }), /stages\[1\]: block 'transformer' refuses its input .*numHeads 3 does not divide the token width 16/],
      [vitSpec({ stem: { block: 'transformer', options: { numHeads: 2 } } }), /stem\.block: 'transformer' is a block block and cannot be used as the stem/],
      [vitSpec({ stages: [{ block: 'class_token' }, { block: 'patch_embed', options: { patchSize: 2, embedDim: 4 } }] }), /stages\[1\]\.block: 'patch_embed' is a stem block/],
      [vitSpec({ stages: [{ block: 'tranformer' }] }), /stages\[0\]\.block: unknown block 'tranformer'\. Did you mean 'transformer'/],
      [vitSpec({ stages: [{ block: 'class_token' }, { block: 'transformer', options: { numHeads: 'two' } }] }), /stages\[1\]\.options\.numHeads: .*\(block 'transformer'\)/],
      [vitSpec({ stem: { block: 'patch_embed', options: { patchSize: 32, embedDim: 8 } } }), /patchSize 32 is larger than the 16x24 input/],
      [vitSpec({ stages: [{ block: 'class_token' }, { block: 'class_token' }] }), /class_token must come before any other prefix token/],
    ];
    for (const [spec, message] of cases) {
      expect(() => createModelFromSpec(spec)).toThrow(CompositionError);
      expect(() => createModelFromSpec(spec)).toThrow(message);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
