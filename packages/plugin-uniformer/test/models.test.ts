import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, createModelFromSpec, listModels, loadTorchStateDict, setBackend, tf, use, type Module, type ModelSpecInput } from '@tessera/core';
import uniformerDefault, { GlobalBlock, LocalBlock, uniformerModels, uniformerPlugin, uniformerSpec, type UniFormerConfig } from '../src/index.js';

const modelSpec = (name: string, options = {}): ModelSpecInput => uniformerModels[name]!.spec!(options);
import { expectRelClose, reference, toState, toTensor } from './helpers.js';

// numel() summed over the official model.parameters() at 224 px, 1000 classes (shared/docs/papers.md appendix;
// recomputed by fixtures/make_fixtures.py from the official uniformer.py and stored in the fixture as `counts`).
const OFFICIAL_PARAMETER_COUNTS: Record<string, number> = {
  uniformer_small: 21_545_256,
  uniformer_small_plus: 24_032_552,
  uniformer_small_plus_dim64: 24_032_552,
  uniformer_base: 49_776_552,
  uniformer_base_ls: 49_796_520,
};

beforeAll(async () => {
  await setBackend('wasm');
  use(uniformerPlugin);
});

describe('named UniFormer models', () => {
  it('the plugin is exported by name and as the default export, and registers the five models and two blocks', () => {
    expect(uniformerDefault).toBe(uniformerPlugin);
    expect(listModels('uniformer_*')).toEqual(Object.keys(OFFICIAL_PARAMETER_COUNTS).sort());
    expect(Object.keys(uniformerPlugin.blocks ?? {}).sort()).toEqual(['uniformer_global', 'uniformer_local']);
    expect(reference.counts).toEqual(OFFICIAL_PARAMETER_COUNTS);
  });

  for (const [name, count] of Object.entries(OFFICIAL_PARAMETER_COUNTS)) {
    it(`${name} has exactly the official ${count.toLocaleString('en')} parameters`, () => {
      const before = tf.memory().numTensors;
      const model = createModel(name);
      expect(model.numParameters()).toBe(count);
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('small_plus uses 32-wide heads (10 at 320 channels), dim64 and a headDim override 64-wide ones', () => {
    const heads = (name: string, options = {}) => (modelSpec(name, options).stages as Array<{ name: string; options: { headDim?: number } }>).find((s) => s.name === 'blocks3')!.options.headDim;
    expect(heads('uniformer_small_plus')).toBe(32);
    expect(heads('uniformer_small_plus_dim64')).toBe(64);
    expect(heads('uniformer_small', { headDim: 32 })).toBe(32);
  });

  it('uses the official state-dict names for both stem kinds and LayerScale', () => {
    const small = Object.keys(createModel('uniformer_small', { imgSize: 32 }).stateDict());
    for (const key of ['patch_embed1.proj.weight', 'patch_embed1.norm.bias', 'blocks1.0.pos_embed.weight', 'blocks1.2.conv1.weight', 'blocks1.0.attn.weight', 'blocks2.3.norm2.running_var', 'blocks2.0.mlp.fc2.bias', 'patch_embed3.proj.bias', 'blocks3.7.attn.qkv.weight', 'blocks4.2.mlp.fc1.weight', 'norm.running_mean', 'norm.num_batches_tracked', 'head.weight']) {
      expect(small).toContain(key);
    }
    expect(small.some((k) => k.includes('gamma'))).toBe(false);
    const plus = Object.keys(createModel('uniformer_small_plus', { imgSize: 32 }).stateDict());
    for (const key of ['patch_embed1.proj.0.weight', 'patch_embed1.proj.1.running_mean', 'patch_embed1.proj.3.weight', 'patch_embed1.proj.4.bias', 'patch_embed2.proj.0.weight', 'patch_embed4.proj.1.weight']) {
      expect(plus).toContain(key);
    }
    expect(plus).not.toContain('patch_embed1.proj.2.weight'); // GELU: an index without parameters
    const ls = Object.keys(createModel('uniformer_base_ls', { imgSize: 32, numClasses: 2 }).stateDict());
    expect(ls).toContain('blocks3.19.gamma_1');
    expect(ls).toContain('blocks4.6.gamma_2');
  });

  it('the drop-path rate rises linearly from 0 over all blocks of all stages', () => {
    const model = createModel('uniformer_small', { dropPathRate: 0.3, imgSize: 32 });
    const rates: number[] = [];
    const walk = (m: Module): void => {
      if (m instanceof LocalBlock || m instanceof GlobalBlock) rates.push(m.dropPath.rate);
      for (const [, child] of m.namedChildren()) walk(child);
    };
    walk(model);
    // 3 + 4 + 8 + 3 = 18 blocks in order: block k gets 0.3·k/17 (torch.linspace(0, 0.3, 18))
    expect(rates).toHaveLength(18);
    expectRelClose(rates, Array.from({ length: 18 }, (_, k) => (0.3 * k) / 17), 1e-12, 'drop path');
    model.dispose();
  });

  it('refuses bad options naming them', () => {
    expect(() => createModel('uniformer_small', { headDim: 48 })).toThrow(/headDim 48 does not divide/);
    expect(() => createModel('uniformer_small', { patchSize: 8 })).toThrow(/patchSize/);
  });
});

describe('model properties', () => {
  for (const name of ['uniformer_small', 'uniformer_small_plus'] as const) {
    it(`${name}: the four stages have strides 4, 8, 16 and 32 (224 px → 56, 28, 14, 7), with the official widths`, () => {
      const model = createModel(name, { numClasses: 3 });
      const grids = model
        .stages()
        .filter((s) => /blocks[1-4]/.test(s.name))
        .map((s) => s.shape.slice(-3).join('x'));
      expect([...new Set(grids)]).toEqual(['56x56x64', '28x28x128', '14x14x320', '7x7x512']);
      model.dispose();
    });
  }

  it('in eval mode the logits of an image do not depend on the rest of the batch', () => {
    const model = createModel('uniformer_small', { imgSize: 32, numClasses: 5, seed: 3 });
    tf.tidy(() => {
      const images = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const together = model.predict(images).arraySync() as number[][];
      for (let i = 0; i < 4; i++) {
        const alone = model.predict(tf.slice(images, [i, 0, 0, 0], [1, 32, 32, 3])).dataSync();
        expectRelClose(alone, together[i]!, 1e-5, `image ${i}`);
      }
      // In training mode BatchNorm uses batch statistics, so the batch does matter: the property is not vacuous.
      const trained = model.forward(images, { training: true }).logits.arraySync() as number[][];
      const pair = model.forward(tf.slice(images, [0, 0, 0, 0], [2, 32, 32, 3]), { training: true }).logits.arraySync() as number[][];
      expect(Math.abs(trained[0]![0]! - pair[0]![0]!)).toBeGreaterThan(1e-4);
    });
    model.dispose();
  });
});

describe('whole models against the official code', () => {
  for (const name of ['patch_stem', 'conv_stem', 'layer_scale'] as const) {
    it(`${name}: logits and every stage output equal the official model's (1e-4 relative)`, () => {
      const f = reference.models[name];
      const c = f.config;
      const config: UniFormerConfig = { depths: c.depths, dims: c.dims, headDim: c.headDim, mlpRatio: c.mlpRatio, convStem: c.convStem, layerScale: c.layerScale ? 1e-6 : null };
      const model = createModelFromSpec(uniformerSpec(`uniformer_${name}`, config, { imgSize: c.imgSize, numClasses: c.numClasses }));
      expect(model.numParameters()).toBe(f.params);
      loadTorchStateDict(model, toState(f.state));
      const x = toTensor(f.x) as tf.Tensor4D;
      expectRelClose(model.predict(x).dataSync(), f.logits.data, 1e-4, `${name} logits`);
    });
  }
});
