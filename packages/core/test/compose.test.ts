import { beforeAll, describe, expect, it } from 'vitest';
import { backboneKeys, expectClsAttentionMatches, patchTokens, referenceClsAttention, sharpenAttention } from '@tessera/test-utils';
import { CompositionError, createModelFromSpec, loadTorchStateDict, optionNames, parseModelSpec, registry, setBackend, tf, torchStateDict, type ModelSpecInput } from '../src/index.js';
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

  it('a composed spec’s clsAttention is softmax(q·kᵀ·scale) of its last transformer block, recomputed from the state dict (1e-5)', () => {
    const model = createModelFromSpec(vitSpec({ stages: [{ block: 'class_token' }, { block: 'transformer', depth: 3, options: { numHeads: 2 } }] }));
    const initial = torchStateDict(model);
    const keys = backboneKeys(initial);
    expect(keys.blocks).toHaveLength(3);
    const sharp = sharpenAttention(initial, keys.blocks, 3);
    loadTorchStateDict(model, sharp.state);
    const x = tf.randomNormal([2, 16, 24, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    const out = model.forward(x, { outputs: ['clsAttention'] });
    // The stem is the only 4-D (convolution) parameter: a 4x4 patch embedding.
    const kernel = Object.keys(sharp.state).find((k) => sharp.state[k]!.rank === 4)!;
    const tokens = patchTokens(x, sharp.state[kernel]!, sharp.state[kernel.replace(/weight$/, 'bias')]!);
    // Width 16, 2 heads of 8: scale 8^-0.5; the transformer block's default LayerNorm eps 1e-6.
    const reference = referenceClsAttention({ state: sharp.state, tokens, ...keys, numHeads: 2, scale: 8 ** -0.5, normEps: 1e-6 });
    const probs = out.clsAttention!.probs;
    expectClsAttentionMatches({ shape: probs.shape, values: probs.dataSync() }, reference, 'composed patch_embed + class_token + 3 transformer blocks');
    tf.dispose([x, out.logits, probs, tokens, ...sharp.replaced, ...Object.values(initial)]);
    model.dispose();
  });

  it('spreads dropPathRate linearly over the stage blocks', () => {
    const model = createModelFromSpec(vitSpec({ dropPathRate: 0.2, stages: [{ block: 'class_token' }, { block: 'transformer', depth: 3, options: { numHeads: 2 } }] }));
    const rates = [...(model.stage('stages.1') as Iterable<unknown>)].map((b) => (b as unknown as { dropPath: { rate: number } }).dropPath.rate);
    // Over the three blocks that declare a drop path (class_token does not), as timm's linspace(0, rate, depth).
    expect(rates.map((r) => r.toFixed(4))).toEqual(['0.0000', '0.1000', '0.2000']);
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
      [vitSpec({ stem: { block: 'transformer', options: { numHeads: 2 } } }), /stem\.block: 'transformer' stands only at stage, so it cannot be used as the stem/],
      [vitSpec({ head: { block: 'patch_embed', options: { patchSize: 2, embedDim: 4 } } }), /head\.block: 'patch_embed' stands only at stem, transition, so it cannot be used as the head/],
      [vitSpec({ stages: [{ block: 'class_token' }, { block: 'patch_embed', options: { patchSize: 2, embedDim: 4 } }] }), /stages\[1\]: block 'patch_embed' cannot follow the previous stage: it takes images, and the tokens reaching it carry 1 prefix/],
      [vitSpec({ stages: [{ block: 'class_token' }, { block: 'transformer', options: { numHeads: 2, mlpRatoi: 2 } }] }), /stages\[1\]\.options\.mlpRatoi: unknown option\. Did you mean 'mlpRatio'\?/],
      [vitSpec({ stem: { block: 'patch_embed', options: { patchsize: 4, embedDim: 16 } } }), /stem\.options\.patchsize: unknown option\. Did you mean 'patchSize'\? Block 'patch_embed' takes: patchSize, embedDim/],
      [vitSpec({ stages: [{ block: 'class_token', name: 'blocks' }, { block: 'transformer', name: 'blocks', depth: 2, options: { numHeads: 2 } }] }), /stages\[1\]\.name: 'blocks' is already the state-dict prefix of stages\[0\]/],
      [vitSpec({ stages: [{ block: 'class_token', name: 'blocks' }, { block: 'transformer', name: 'blocks.x', options: { numHeads: 2 } }] }), /stages\[1\]\.name: 'blocks\.x' would sit inside stages\[0\]/],
      [vitSpec({ stages: [{ block: 'class_token' }, { block: 'transformer', name: '', depth: 2, options: { numHeads: 2 } }] }), /stages\[1\]\.name: a stage with a depth is a list and needs a name/],
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

describe('spec v2: stage names are state-dict prefixes', () => {
  it("puts a stage named '' at the top level and a stage with a depth in a list, as timm's ViT", () => {
    const model = createModelFromSpec({
      imgSize: 16,
      numClasses: 3,
      stem: { block: 'patch_embed', name: 'patch_embed', options: { patchSize: 8, embedDim: 8 } },
      stages: [{ block: 'class_token', name: '' }, { block: 'transformer', name: 'blocks', depth: 2, options: { numHeads: 2 } }, { block: 'transformer', name: 'extra', options: { numHeads: 2 } }],
      head: { block: 'classifier', name: '' },
    });
    const keys = Object.keys(model.stateDict());
    expect(keys.slice(0, 4)).toEqual(['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias']);
    expect(keys).toContain('blocks.1.mlp.fc2.bias');
    expect(keys).toContain('extra.attn.qkv.weight');
    expect(keys.slice(-4)).toEqual(['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
    expect(model.stages().map((s) => s.name)).toEqual(['input', 'patch_embed patch_embed', 'stages[0] class_token', 'blocks.0 transformer', 'blocks.1 transformer', 'extra transformer', 'head classifier']);
    expect(model.stage('extra')).toBe(model.stage('stages[2]'));
    expect(() => model.stage('blocks.0')).toThrow(/stage = "blocks\.0" is not accepted: expected a stage of composed: patch_embed, stem, stages\[0\], blocks, stages\[1\], extra, stages\[2\], head/);
    model.dispose();
  });

  it('refuses two top-level stages that write the same key, and frees what it built', () => {
    const before = tf.memory().numTensors;
    const spec = vitSpec({ stages: [{ block: 'class_token', name: '' }, { block: 'class_token', name: '' }] });
    // class_token after class_token is refused by the block itself; two '' heads cannot exist, so use two '' transformers.
    expect(() => createModelFromSpec(spec)).toThrow(CompositionError);
    const clash = vitSpec({
      stages: [{ block: 'class_token' }, { block: 'transformer', name: '', options: { numHeads: 2 } }, { block: 'transformer', name: '', options: { numHeads: 2 } }],
    });
    expect(() => createModelFromSpec(clash)).toThrow(/stages\[2\]\.name: its block's 'norm1\.weight' is also written by stages\[1\]/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("fills in every default, stage names included, and spreads dropPathRate constantly with dropPathSchedule 'constant'", () => {
    const spec = parseModelSpec(vitSpec());
    expect(spec.stem.name).toBe('stem');
    expect(spec.head.name).toBe('head');
    expect(spec.stages.map((s) => s.name)).toEqual(['stages.0', 'stages.1']);
    expect(spec.stages[0]!.depth).toBeUndefined();
    expect([spec.interpolation, spec.cropPct, spec.dropPathSchedule]).toEqual(['bicubic', 0.875, 'linear']);
    const model = createModelFromSpec(vitSpec({ dropPathRate: 0.3, dropPathSchedule: 'constant' }));
    const rates = [...(model.stage('stages.1') as Iterable<unknown>)].map((b) => (b as { dropPath: { rate: number } }).dropPath.rate);
    expect(rates).toEqual([0.3, 0.3]);
    expect(model.config.cropPct).toBe(0.875);
    model.dispose();
  });
});

describe('block declarations', () => {
  it('every registered block builds from each of its examples where it declares it may stand', () => {
    for (const { name, definition } of registry.listBlocks()) {
      expect(definition.examples.length, name).toBeGreaterThan(0);
      for (const example of definition.examples) {
        const position = definition.supports.positions[0]!;
        const candidates: ModelSpecInput[] = [];
        const stem = { block: 'patch_embed', options: { patchSize: 4, embedDim: 16 } };
        const head = { block: 'classifier', options: { pool: 'avg' } };
        if (position === 'stem') candidates.push({ imgSize: 32, numClasses: 3, stem: { block: name, options: example }, head });
        if (position === 'stage' || position === 'transition') {
          candidates.push({ imgSize: 32, numClasses: 3, stem, stages: [{ block: name, options: example }], head });
          candidates.push({ imgSize: 32, numClasses: 3, stem, stages: [{ block: 'class_token' }, { block: name, options: example }], head });
        }
        if (position === 'head') candidates.push({ imgSize: 32, numClasses: 3, stem, stages: [{ block: 'class_token' }], head: { block: name, options: example } });
        const built = candidates.some((spec) => {
          try {
            const model = createModelFromSpec(spec);
            const logits = model.predict(tf.zeros([1, 32, 32, 3]));
            expect(logits.shape).toEqual([1, 3]);
            tf.dispose(logits);
            model.dispose();
            return true;
          } catch (error) {
            if (error instanceof CompositionError) return false;
            throw error;
          }
        });
        expect(built, `${name} ${JSON.stringify(example)}`).toBe(true);
      }
    }
  });

  it('reads option names through the public JSON Schema, never zod internals', () => {
    expect(optionNames(registry.getBlock('patch_embed').definition.options)).toEqual(['patchSize', 'embedDim']);
    expect(optionNames(registry.getBlock('transformer').definition.options)).toContain('dropPath');
  });
});
