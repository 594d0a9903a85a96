import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClassAttentionBlock, classAttentionBlock, createModelFromSpec, ForwardContext, loadTorchStateDict, Rng, setBackend, tf } from '../src/index.js';
import { expectClose, fixtureTensor } from './helpers.js';

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/shared-layers.json', import.meta.url), 'utf8'));

beforeAll(async () => {
  await setBackend('wasm');
});

describe('class_attention block (CaiT, timm LayerScaleBlockClassAttn)', () => {
  it('updates only the class token, as the float64 reference, and records [B, heads, 1, N]', () => {
    const f = fixtures.cait_block;
    const block = new ClassAttentionBlock({ layout: 'tokens', grid: { height: 2, width: 2 }, channels: f.dim, numPrefixTokens: 1 }, { numHeads: f.numHeads, qkvBias: true }, new Rng(0));
    const state = Object.fromEntries(Object.entries(f.state as Record<string, { shape: number[]; data: number[] }>).map(([k, v]) => [k, fixtureTensor(v)]));
    expect(loadTorchStateDict(block, state)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const x = fixtureTensor(f.x) as tf.Tensor3D;
    const ctx = new ForwardContext(false);
    ctx.captureAttention = true;
    const before = tf.memory().numTensors;
    const y = block.forward({ layout: 'tokens', tensor: x, grid: { height: 2, width: 2 }, numPrefixTokens: 1 }, ctx);
    expectClose(y.tensor, f.y, 1e-5);
    expectClose(ctx.attention!.probs, f.attn, 1e-5);
    tf.dispose([y.tensor, ctx.attention!.probs]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...Object.values(state)]);
    block.dispose();
  });

  it('declares class attention, and a model with it as its last attention block offers clsAttention (TransMix)', () => {
    expect(classAttentionBlock.supports.attention).toBe('class');
    const model = createModelFromSpec({
      imgSize: 16,
      numClasses: 3,
      stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 8 } },
      stages: [{ block: 'class_token' }, { block: 'transformer', depth: 1, options: { numHeads: 2 } }, { block: 'class_attention', depth: 2, options: { numHeads: 2 } }],
      head: { block: 'classifier' },
    });
    expect(model.availableOutputs).toContain('clsAttention');
    const images = tf.randomNormal([2, 16, 16, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const { logits, clsAttention } = model.forward(images, { outputs: ['clsAttention'] });
    expect(clsAttention!.probs.shape).toEqual([2, 2, 16]);
    expect(clsAttention!.grid).toEqual({ height: 4, width: 4 });
    tf.dispose([logits, clsAttention!.probs]);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });
});
