import { beforeAll, describe, expect, it } from 'vitest';
import { ClassifierHead, ConvNormAct, ConvPatchEmbed, ForwardContext, loadTorchStateDict, Rng, setBackend, tf } from '@tessera/core';
import { GlobalBlock, LocalBlock } from '../src/index.js';
import { expectRelClose, reference, toState, toTensor } from './helpers.js';

/*
 * Every block against the official uniformer.py run in float64 (eval mode, random
 * weights and BatchNorm statistics; fixtures/make_fixtures.py). Tolerance: 1e-5
 * relative to the largest reference magnitude, float32 arithmetic through a
 * handful of layers.
 */
const TOL = 1e-5;
const evalCtx = () => new ForwardContext(false);

beforeAll(async () => {
  await setBackend('wasm');
});

function imageSpec(x: tf.Tensor) {
  return { layout: 'image' as const, height: x.shape[1]!, width: x.shape[2]!, channels: x.shape[3]! };
}

describe('blocks against the official code', () => {
  it('CBlock (local MHRA with DPE, BatchNorm in eval mode)', () => {
    const f = reference.blocks.cblock;
    const x = toTensor(f.x) as tf.Tensor4D;
    const block = new LocalBlock(imageSpec(x), { mlpRatio: f.mlpRatio }, new Rng(0));
    loadTorchStateDict(block, toState(f.state));
    expectRelClose(block.forwardGrid(x, evalCtx()).dataSync(), f.y.data, TOL, 'cblock');
  });

  for (const name of ['sablock', 'sablock_ls'] as const) {
    it(`SABlock${name === 'sablock_ls' ? ' with LayerScale' : ''} (global MHRA with DPE)`, () => {
      const f = reference.blocks[name];
      const x = toTensor(f.x) as tf.Tensor4D;
      const block = new GlobalBlock(imageSpec(x), { headDim: f.dim / f.numHeads, mlpRatio: f.mlpRatio, layerScale: name === 'sablock_ls' ? 1e-6 : null }, new Rng(0));
      expect(Object.keys(block.stateDict()).sort()).toEqual(Object.keys(f.state).sort());
      loadTorchStateDict(block, toState(f.state));
      expectRelClose(block.forwardGrid(x, evalCtx()).dataSync(), f.y.data, TOL, name);
    });
  }

  for (const name of ['patch_embed', 'patch_embed_stem'] as const) {
    it(`PatchEmbed p=${reference.blocks[name].patchSize} (conv p×p stride p, then LayerNorm eps 1e-5)`, () => {
      const f = reference.blocks[name];
      const embed = new ConvPatchEmbed(f.patchSize, f.inChannels, f.embedDim, new Rng(0));
      loadTorchStateDict(embed, toState(f.state));
      const y = embed.embedGrid(toTensor(f.x) as tf.Tensor4D);
      expect(y.shape).toEqual(f.y.shape);
      expectRelClose(y.dataSync(), f.y.data, TOL, name);
    });
  }

  it('conv stem (head_embedding: conv 3×3 s2, BN, GELU, conv 3×3 s2, BN) on an odd-sized image', () => {
    const f = reference.blocks.conv_stem;
    const stem = new ConvNormAct(f.inChannels, new Rng(0), { channels: [f.embedDim / 2, f.embedDim], activation: 'gelu' });
    loadTorchStateDict(stem, toState(f.state));
    const y = stem.forward(toTensor(f.x) as tf.Tensor4D, evalCtx());
    expect(y.shape).toEqual(f.y.shape);
    expectRelClose(y.dataSync(), f.y.data, TOL, 'conv stem');
  });

  it('middle_embedding (conv 3×3 s2, BN) between stages', () => {
    const f = reference.blocks.middle_embedding;
    const embed = new ConvNormAct(f.inChannels, new Rng(0), { channels: [f.embedDim], activation: 'none' });
    loadTorchStateDict(embed, toState(f.state));
    const y = embed.forward(toTensor(f.x) as tf.Tensor4D, evalCtx());
    expect(y.shape).toEqual(f.y.shape);
    expectRelClose(y.dataSync(), f.y.data, TOL, 'middle embedding');
  });

  it("head (BatchNorm, global average pool, Linear): core's classifier with norm 'batch', pool 'avg'", () => {
    const f = reference.head;
    const x = toTensor(f.x) as tf.Tensor4D;
    const head = new ClassifierHead(imageSpec(x), { layout: 'vector', channels: f.numClasses }, { numClasses: f.numClasses, pool: 'avg', norm: 'batch', normEps: 1e-5 }, new Rng(0));
    loadTorchStateDict(head, toState(f.state));
    const out = head.forward({ layout: 'image', tensor: x }, evalCtx());
    expectRelClose(out.tensor.dataSync(), f.y.data, TOL, 'head');
  });
});
