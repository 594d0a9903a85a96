import { beforeAll, describe, expect, it } from 'vitest';
import { CompositionError, createModelFromSpec, Rng, setBackend, tf, use, type BlockDefinition, type ModelSpecInput } from '@tessera/core';
import { fanBlocks, fanPlugin } from '../src/index.js';
import { train } from './helpers.js';

beforeAll(async () => {
  await setBackend('wasm');
  use(fanPlugin);
});

describe('FAN blocks in hand-written specs', () => {
  it('every block builds from each of its examples on a small input and leaks nothing', () => {
    for (const [name, definition] of Object.entries(fanBlocks as Record<string, BlockDefinition<any>>)) {
      for (const example of definition.examples) {
        const options = definition.options.parse(example);
        const input =
          definition.accepts[0] === 'image'
            ? ({ layout: 'image', height: 16, width: 16, channels: 8 } as const)
            : ({ layout: 'tokens', grid: { height: 4, width: 4 }, channels: 12, numPrefixTokens: name === 'fan_class_attention' ? 1 : 0 } as const);
        const before = tf.memory().numTensors;
        const block = definition.create(input, options, new Rng(0));
        expect(block.outputSpec).toEqual(definition.outputSpec(input, options));
        block.dispose();
        expect(tf.memory().numTensors).toBe(before);
      }
    }
  });

  it('a ConvNeXt stage under ViT blocks (core transformer) trains', () => {
    const spec: ModelSpecInput = {
      name: 'convnext_vit',
      imgSize: 32,
      numClasses: 4,
      stem: { block: 'convnext_stem', name: 'stem', options: { outChannels: 16, patchSize: 4 } },
      stages: [
        { block: 'convnext_stage', name: 'stages.0', options: { outChannels: 32, depth: 1, stride: 2 } },
        { block: 'class_token', name: '', options: {} },
        { block: 'transformer', name: 'blocks', depth: 2, options: { numHeads: 2 } },
      ],
      head: { block: 'classifier', name: '', options: { pool: 'token' } },
    };
    const model = createModelFromSpec(spec);
    const images = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4) as tf.Tensor2D;
    const { initial, final, counts } = train(model, images, labels, 6);
    expect(final).toBeLessThan(initial);
    expect(new Set(counts.slice(1)).size).toBe(1);
    tf.dispose([images, labels]);
    model.dispose();
  });

  it('refuses impossible placements before any tensor exists, saying why', () => {
    const before = tf.memory().numTensors;
    const base = { imgSize: 32, numClasses: 4, head: { block: 'classifier', name: '', options: { pool: 'avg' } } };
    expect(() => createModelFromSpec({ ...base, stem: { block: 'fan_conv_patch_embed', options: { patchSize: 8, embedDim: 16 } }, stages: [{ block: 'class_token' }, { block: 'fan', options: { numHeads: 2 } }] })).toThrow(
      /prefix token/,
    );
    expect(() => createModelFromSpec({ ...base, stem: { block: 'fan_conv_patch_embed', options: { patchSize: 8, embedDim: 16 } }, stages: [{ block: 'fan_class_attention', options: { numHeads: 2 } }] })).toThrow(
      /class token/,
    );
    expect(() => createModelFromSpec({ ...base, stem: { block: 'fan_conv_patch_embed', options: { patchSize: 12, embedDim: 16 } } })).toThrow(CompositionError);
    expect(() => createModelFromSpec({ ...base, stem: { block: 'swin_patch_embed', options: { embedDim: 8 } }, stages: [{ block: 'fan_swin_stage', options: { depth: 1, numHeads: 2, windowSize: 3 } }] })).toThrow(
      /windows/,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
