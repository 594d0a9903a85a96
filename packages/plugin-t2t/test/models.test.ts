import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, InvalidArgumentError, listModels, setBackend, tf, use, type ModuleList, type TransformerBlock } from '@tessera/core';
import t2tDefault, { t2tPlugin, type T2TModule } from '../src/index.js';

// The appendix of shared/docs/papers.md: numel() summed over the official model.parameters() at 224 px, 1000 classes
// (the frozen sinusoid pos_embed and the performers' random-feature w included).
const OFFICIAL_PARAMETER_COUNTS: Record<string, number> = {
  t2t_vit_7: 4_310_222,
  t2t_vit_10: 5_889_230,
  t2t_vit_12: 6_941_902,
  t2t_vit_14: 21_545_550,
  t2t_vit_19: 39_177_422,
  t2t_vit_24: 64_105_934,
  t2t_vit_t_14: 21_541_070,
  t2t_vit_t_19: 39_172_942,
  t2t_vit_t_24: 64_101_454,
};

describe('named T2T-ViT models', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    use(t2tPlugin);
  });

  it('the plugin is exported by name and as the default export, and registers the nine models and the t2t block', () => {
    expect(t2tDefault).toBe(t2tPlugin);
    expect(t2tPlugin.name).toBe('@tessera/plugin-t2t');
    expect(listModels('t2t_*')).toEqual(Object.keys(OFFICIAL_PARAMETER_COUNTS).sort());
    expect(Object.keys(t2tPlugin.blocks ?? {})).toEqual(['t2t']);
  });

  for (const [name, count] of Object.entries(OFFICIAL_PARAMETER_COUNTS)) {
    it(`${name} has exactly the official ${count.toLocaleString('en')} parameters`, () => {
      const before = tf.memory().numTensors;
      const model = createModel(name);
      expect(model.numParameters()).toBe(count);
      expect(model.stages().reduce((n, s) => n + s.params, 0)).toBe(count);
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('createModel("t2t_vit_7") maps a [2, 224, 224, 3] batch to [2, 1000] logits without leaking', () => {
    const model = createModel('t2t_vit_7');
    const images = tf.randomNormal([2, 224, 224, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const logits = model.predict(images);
    expect(logits.shape).toEqual([2, 1000]);
    expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true);
    logits.dispose();
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });

  it('uses the official state-dict names, with linear weights tagged for transposition', () => {
    const model = createModel('t2t_vit_t_14', { imgSize: 64, numClasses: 3 });
    const layouts = model.stateDictLayouts();
    const names = Object.keys(layouts);
    for (const name of [
      'tokens_to_token.attention1.norm1.weight',
      'tokens_to_token.attention1.attn.qkv.weight',
      'tokens_to_token.attention2.mlp.fc2.bias',
      'tokens_to_token.project.weight',
      'cls_token',
      'pos_embed',
      'blocks.0.attn.qkv.weight',
      'blocks.13.mlp.fc1.weight',
      'norm.weight',
      'head.bias',
    ]) {
      expect(names).toContain(name);
    }
    expect(names).not.toContain('tokens_to_token.attention1.attn.qkv.bias');
    expect(names).not.toContain('blocks.0.attn.qkv.bias');
    expect(layouts['tokens_to_token.project.weight']).toBe('linear');
    expect(layouts['blocks.0.attn.qkv.weight']).toBe('linear');
    model.dispose();

    const performer = createModel('t2t_vit_7', { imgSize: 64, numClasses: 3 });
    const performerNames = Object.keys(performer.stateDict());
    for (const name of ['tokens_to_token.attention1.kqv.weight', 'tokens_to_token.attention1.kqv.bias', 'tokens_to_token.attention1.w', 'tokens_to_token.attention2.mlp.0.weight', 'tokens_to_token.attention2.mlp.2.bias']) {
      expect(performerNames).toContain(name);
    }
    const frozen = performer.namedParameters().filter(([, p]) => !p.trainable).map(([n]) => n);
    expect(frozen.sort()).toEqual(['pos_embed', 'tokens_to_token.attention1.w', 'tokens_to_token.attention2.w']);
    performer.dispose();
  });

  it('options: imgSize (exact token count, non-square too), qkScale, numClasses; bad options are refused by name', () => {
    const model = createModel('t2t_vit_7', { imgSize: [200, 120], numClasses: 10, qkScale: 'embed', seed: 3 });
    const firstBlock = (m: typeof model) => (m.stage('blocks') as ModuleList<TransformerBlock>).at(0);
    // 200 → 50 → 25 → 13 and 120 → 30 → 15 → 8 (the official img_size // 16 would say 12 x 7).
    expect((model.stage('tokens_to_token') as T2TModule).outputGrid).toEqual({ height: 13, width: 8 });
    expect(model.stateDict().pos_embed!.shape).toEqual([1, 1 + 13 * 8, 256]);
    expect(firstBlock(model).attn.scale).toBeCloseTo(256 ** -0.5, 12);
    expect(model.config.inputSize).toEqual([200, 120, 3]);
    model.dispose();
    const headScale = createModel('t2t_vit_7', { imgSize: 32 });
    expect(firstBlock(headScale).attn.scale).toBeCloseTo(64 ** -0.5, 12);
    headScale.dispose();
    expect(() => createModel('t2t_vit_7', { qkScale: 'large' })).toThrow(InvalidArgumentError);
    expect(() => createModel('t2t_vit_7', { qkScale: 'large' })).toThrow(/qkScale/);
    expect(() => createModel('t2t_vit_7', { patchSize: 16 })).toThrow(/patchSize/);
    // A 2x2 image padded by 2 is smaller than the first 7x7 window; 4x4 still gives one token.
    expect(() => createModel('t2t_vit_7', { imgSize: 2 })).toThrow(InvalidArgumentError);
    expect(() => createModel('t2t_vit_7', { imgSize: 2 })).toThrow(/imgSize = \[2, 2\].*soft split 0 \(kernel 7, stride 4, padding 2\) does not fit the 2x2 image/);
  });
});
