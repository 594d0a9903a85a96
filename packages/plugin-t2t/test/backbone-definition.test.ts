import { backboneKeys, expectClsAttentionMatches, expectRelClose, referenceClsAttention, referenceLogits, sharpenAttention, shrinkResidualStream } from '@tessera/test-utils';
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

describe('T2T backbones against their definition, recomputed from the state dict', () => {
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

  it('t2t_vit_7: every block LayerNorm and the final norm use eps 1e-5 (nn.LayerNorm default), seen on a residual stream of spread ~1e-3', () => {
    const model = createModel('t2t_vit_7', { imgSize: 64, numClasses: 4 });
    const initial = torchStateDict(model);
    const keys = backboneKeys(initial);
    const project = Object.keys(initial).find((k) => k.endsWith('project.weight'))!;
    const small = shrinkResidualStream(initial, [project.replace(/weight$/, 'bias'), 'cls_token', 'pos_embed', 'attn.proj.weight', 'attn.proj.bias', 'mlp.fc2.weight', 'mlp.fc2.bias']);
    const zero = tf.zerosLike(initial[project]!);
    const state = { ...small.state, [project]: zero };
    loadTorchStateDict(model, state);
    const images = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const logits = model.predict(images);
    const bias = state[project.replace(/weight$/, 'bias')]!;
    const tokens = tf.tile(tf.reshape(bias, [1, 1, bias.shape[0]!]), [2, 16, 1]) as tf.Tensor3D;
    const reference = (norm1: number, norm2: number, final: number) =>
      referenceLogits({ state, tokens, ...keys, numHeads: 4, scale: 64 ** -0.5, normEps: norm1, norm: 'norm', head: 'head', eps: { norm1, norm2, final } });
    const expected = reference(1e-5, 1e-5, 1e-5);
    // Float32 through 7 blocks on a 1e-3-spread stream: 1e-4 of the largest logit; 1e-6 in any group is >10x further.
    expectRelClose(logits.dataSync(), expected, 't2t_vit_7 logits vs reference (eps 1e-5)', 1e-4, 1e-3);
    const scale = Math.max(1e-3, ...Array.from(expected, Math.abs));
    for (const [group, alternative] of [['norm1', reference(1e-6, 1e-5, 1e-5)], ['norm2', reference(1e-5, 1e-6, 1e-5)], ['final norm', reference(1e-5, 1e-5, 1e-6)]] as const) {
      const gap = Math.max(...Array.from(expected, (v, i) => Math.abs(v - alternative[i]!))) / scale;
      expect(gap, `${group} eps 1e-6 instead of 1e-5`).toBeGreaterThan(1e-3);
    }
    tf.dispose([images, logits, tokens, zero, ...small.replaced, ...Object.values(initial)]);
    model.dispose();
  });
});
