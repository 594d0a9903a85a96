import { applyAugmentations, attachAugmentations, createAugmentation, createModelFromSpec, oneHot, Rng, setBackend, softTargetCrossEntropy, tf, type ModelSpecInput, type VisionModel } from '@tessera/core';
import { uniformerSpec } from '@tessera/plugin-uniformer';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadPlugins } from '../src/plugins.js';

/*
 * UniFormer's stages mixed with other plugins' blocks through spec JSON only
 * (plugins never import each other): local stages under class-token ViT blocks
 * with TransMix, UniFormer's local stages under FAN's channel-attention blocks and
 * class-attention head, a T2T stem in front of global blocks, and TransMix refusing
 * the plain, class-token-free UniFormer.
 */

const localThenViT: ModelSpecInput = {
  name: 'uniformer_local_vit',
  imgSize: 32,
  numClasses: 4,
  dropPathRate: 0.1,
  stem: { block: 'conv_patch_embed', name: 'patch_embed1', options: { patchSize: 4, embedDim: 16 } },
  stages: [
    { block: 'uniformer_local', name: 'blocks1', depth: 1, options: { mlpRatio: 2 } },
    { block: 'conv_patch_embed', name: 'patch_embed2', options: { patchSize: 2, embedDim: 24 } },
    { block: 'uniformer_local', name: 'blocks2', depth: 1, options: { mlpRatio: 2 } },
    { block: 'class_token', name: '' },
    { block: 'transformer', name: 'blocks', depth: 2, options: { numHeads: 2, mlpRatio: 2 } },
  ],
  head: { block: 'classifier', name: '', options: { pool: 'token' } },
};

// UniFormer's convolutional early stages (the paper's "shallow layers learn local relations"), then FAN's
// attentional channel processing and its class-attention head for the late, global ones.
const localThenFan: ModelSpecInput = {
  name: 'uniformer_local_fan',
  imgSize: 32,
  numClasses: 4,
  stem: { block: 'conv_patch_embed', name: 'patch_embed1', options: { patchSize: 4, embedDim: 16 } },
  stages: [
    { block: 'uniformer_local', name: 'blocks1', depth: 1, options: { mlpRatio: 2 } },
    { block: 'conv_patch_embed', name: 'patch_embed2', options: { patchSize: 2, embedDim: 24 } },
    { block: 'fan', name: 'blocks', depth: 2, options: { numHeads: 2, mlpRatio: 2 } },
    { block: 'class_token', name: '', options: { posEmbed: 'none' } },
    { block: 'fan_class_attention', name: 'cls_attn_blocks', depth: 1, options: { numHeads: 2, mlpRatio: 2 } },
  ],
  head: { block: 'classifier', name: '', options: { pool: 'token' } },
};

const t2tThenGlobal: ModelSpecInput = {
  name: 't2t_uniformer_global',
  imgSize: 32,
  numClasses: 4,
  stem: { block: 't2t', name: 'tokens_to_token', options: { embedDim: 16, tokenDim: 8, tokensType: 'transformer' } },
  stages: [{ block: 'uniformer_global', name: 'blocks', depth: 2, options: { headDim: 8, mlpRatio: 2 } }],
  head: { block: 'classifier', name: '', options: { pool: 'avg', norm: 'batch' } },
};

/** A few optimizer steps; with TransMix the targets come from the model's class-token attention. Returns the losses and the tensor count after each step. */
function trainSteps(model: VisionModel, steps: number, transmix: boolean): { losses: number[]; counts: number[] } {
  const aug = transmix ? attachAugmentations(model, createAugmentation('transmix', { switchProb: 1 })) : undefined;
  const optimizer = tf.train.adam(2e-3);
  const rng = new Rng(2);
  const images = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const targets = oneHot([0, 1, 2, 3], 4);
  const losses: number[] = [];
  const counts: number[] = [];
  for (let step = 0; step < steps; step++) {
    const batch = aug ? applyAugmentations(aug, { images, targets }, rng) : undefined;
    const loss = optimizer.minimize(() => {
      if (!batch) return softTargetCrossEntropy(model.forward(images, { training: true }).logits, targets);
      const out = model.forward(batch.batch.images, { training: true, outputs: ['clsAttention'] });
      expect(out.clsAttention!.grid).toEqual({ height: 4, width: 4 });
      return softTargetCrossEntropy(out.logits, batch.targets(out));
    }, true)!;
    losses.push(loss.dataSync()[0]!);
    loss.dispose();
    batch?.dispose();
    counts.push(tf.memory().numTensors);
  }
  optimizer.dispose();
  tf.dispose([images, targets]);
  return { losses, counts };
}

describe('UniFormer hybrids composed from spec JSON', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    await loadPlugins();
  });

  test('TransMix refuses the plain UniFormer (no class token), saying why and what to do', () => {
    const model = createModelFromSpec(uniformerSpec('uniformer_tiny', { depths: [1, 1, 1, 1], dims: [8, 16, 16, 16], headDim: 8, mlpRatio: 2, convStem: false, layerScale: null }, { imgSize: 32, numClasses: 4 }));
    expect(model.availableOutputs).toEqual([]);
    expect(() => attachAugmentations(model, createAugmentation('transmix'))).toThrow(/uniformer_tiny.*clsAttention.*class token|class_token block/s);
    model.dispose();
  });

  test('UniFormer local stages, then a class token, ViT blocks and TransMix: official-style names, trains, no leak', () => {
    const model = createModelFromSpec(localThenViT);
    const keys = Object.keys(model.stateDict());
    for (const key of ['patch_embed1.proj.weight', 'blocks1.0.attn.weight', 'patch_embed2.norm.weight', 'blocks2.0.norm1.running_mean', 'cls_token', 'pos_embed', 'blocks.1.attn.qkv.weight', 'head.weight']) {
      expect(keys).toContain(key);
    }
    expect(model.availableOutputs).toEqual(['clsAttention']);
    const { losses, counts } = trainSteps(model, 5, true);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(new Set(counts.slice(1)).size).toBe(1);
    model.dispose();
  });

  test("UniFormer local stages under FAN blocks and FAN's class-attention head, with TransMix: both papers' names, trains, no leak", () => {
    const model = createModelFromSpec(localThenFan);
    const keys = Object.keys(model.stateDict());
    for (const key of ['blocks1.0.conv1.weight', 'blocks1.0.norm1.running_var', 'patch_embed2.proj.weight', 'blocks.1.mlp.temperature', 'blocks.0.attn.kv.weight', 'cls_token', 'cls_attn_blocks.0.attn.q.weight', 'cls_attn_blocks.0.gamma1', 'head.weight']) {
      expect(keys).toContain(key);
    }
    // FAN's class attention records [B, heads, 1, N], which TransMix reads as the class row over the 4x4 grid.
    expect(model.availableOutputs).toEqual(['clsAttention']);
    const { losses, counts } = trainSteps(model, 5, true);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(new Set(counts.slice(1)).size).toBe(1);
    model.dispose();
  });

  test('a T2T stem followed by UniFormer global blocks and a BatchNorm head trains with falling loss', () => {
    const model = createModelFromSpec(t2tThenGlobal);
    expect(Object.keys(model.stateDict())).toContain('blocks.1.pos_embed.weight');
    const { losses, counts } = trainSteps(model, 12, false);
    expect(Math.min(...losses.slice(-3))).toBeLessThan(losses[0]!);
    expect(new Set(counts.slice(1)).size).toBe(1);
    model.dispose();
  });
});
