import { backboneKeys, expectClsAttentionMatches, referenceClsAttention, sharpenAttention } from '@tessera/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, createModelFromSpec, loadTorchStateDict, setBackend, tf, torchStateDict, use, type VisionModel } from '@tessera/core';
import { t2tPlugin } from '../src/index.js';

/*
 * clsAttention against its definition (TransMix §3.2): the last backbone block's norm1 → qkv → softmax(q·kᵀ·scale),
 * class-token row, class column dropped, per head, recomputed from the model's own state dict. The T2T stem itself is
 * checked against PyTorch in reference.test.ts; here its output is made known without re-implementing it: with the
 * final projection's weight zeroed, every stem token is the projection's bias, and the sinusoid position embedding
 * tells the tokens apart.
 */
function checkAgainstDefinition(model: VisionModel, imgSize: [number, number], options: { numHeads: number; scale: number; what: string }): void {
  const initial = torchStateDict(model);
  const keys = backboneKeys(initial);
  const sharp = sharpenAttention(initial, keys.blocks, 5);
  const project = Object.keys(sharp.state).find((k) => k.endsWith('project.weight'))!;
  const zero = tf.zerosLike(sharp.state[project]!);
  const state = { ...sharp.state, [project]: zero };
  loadTorchStateDict(model, state);
  const images = tf.randomNormal([2, ...imgSize, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
  const out = model.forward(images, { outputs: ['clsAttention'] });
  const probs = out.clsAttention!.probs;
  const { height, width } = out.clsAttention!.grid;
  const bias = state[project.replace(/weight$/, 'bias')]!;
  const tokens = tf.tile(tf.reshape(bias, [1, 1, bias.shape[0]!]), [2, height * width, 1]) as tf.Tensor3D;
  // T2T-ViT's blocks use PyTorch's default LayerNorm eps 1e-5 (models/transformer_block.py: nn.LayerNorm).
  const reference = referenceClsAttention({ state, tokens, ...keys, numHeads: options.numHeads, scale: options.scale, normEps: 1e-5 });
  expectClsAttentionMatches({ shape: probs.shape, values: probs.dataSync() }, reference, options.what);
  // The attention path frees everything but what it returns, called outside any tidy.
  const before = tf.memory().numTensors;
  const again = model.forward(images, { outputs: ['clsAttention'] });
  tf.dispose([again.logits, again.clsAttention!.probs]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([images, out.logits, probs, tokens, zero, ...sharp.replaced, ...Object.values(initial)]);
}

describe('class-token attention of T2T models equals its definition (1e-5)', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    use(t2tPlugin);
  });

  it('t2t_vit_7 at 64x64 (4x4 tokens): last of 7 blocks, 4 heads of 64, scale 64^-0.5', () => {
    const model = createModel('t2t_vit_7', { imgSize: 64, numClasses: 4 });
    expect(backboneKeys(torchStateDict(model)).blocks).toHaveLength(7);
    checkAgainstDefinition(model, [64, 64], { numHeads: 4, scale: 64 ** -0.5, what: 't2t_vit_7' });
    model.dispose();
  });

  it("t2t_vit_7 with qkScale 'embed' (the released checkpoints): scale 256^-0.5", () => {
    const model = createModel('t2t_vit_7', { imgSize: [64, 48], numClasses: 4, qkScale: 'embed' });
    checkAgainstDefinition(model, [64, 48], { numHeads: 4, scale: 256 ** -0.5, what: "t2t_vit_7 qkScale 'embed'" });
    model.dispose();
  });

  it('a composed spec: T2T stem, class token and 2 core transformer blocks (3 heads of 16)', () => {
    const model = createModelFromSpec({
      imgSize: [40, 32],
      numClasses: 5,
      stem: { block: 't2t', options: { embedDim: 48, tokenDim: 16 } },
      stages: [{ block: 'class_token' }, { block: 'transformer', depth: 2, options: { numHeads: 3, normEps: 1e-5 } }],
      head: { block: 'classifier', options: { normEps: 1e-5 } },
    });
    checkAgainstDefinition(model, [40, 32], { numHeads: 3, scale: 16 ** -0.5, what: 'T2T stem + core blocks' });
    model.dispose();
  });
});
