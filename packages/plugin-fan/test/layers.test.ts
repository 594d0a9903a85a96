import { beforeAll, describe, expect, it } from 'vitest';
import { ForwardContext, loadTorchStateDict, Rng, setBackend, tf, type Features, type Module, type TokenSpec } from '@tessera/core';
import {
  ChannelProcessing,
  ConvNeXtBlock,
  ConvNeXtStage,
  ConvPatchEmbed,
  FanClassAttentionBlock,
  FANBlock,
  PatchMerging,
  PositionalEncodingFourier,
  SwinBlock,
  TokenMixing,
} from '../src/index.js';
import { expectRelativeClose, reference, toImage, toState, toTensor } from './helpers.js';

/*
 * Every layer against the official FAN modules run in float64 with random weights and
 * BatchNorm in eval mode (fixtures/make_fixtures.py). Float32 here: 1e-5 relative to the
 * largest reference value for one layer (a few ulps compounded through a few ops).
 */
const TOL = 1e-5;
const evalCtx = () => new ForwardContext(false);

function load(module: Module, state: Record<string, { shape: number[]; data: number[] }>): void {
  const tensors = toState(state);
  const result = loadTorchStateDict(module, tensors);
  expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
  tf.dispose(Object.values(tensors));
  module.eval();
}

function check(module: Module, run: () => tf.Tensor, expected: { shape: number[]; data: number[] }, label: string): void {
  const before = tf.memory().numTensors;
  const y = run();
  expectRelativeClose(y, expected, TOL, label);
  y.dispose();
  expect(tf.memory().numTensors).toBe(before);
  module.dispose();
}

beforeAll(async () => {
  await setBackend('wasm');
});

const tokensOf = (x: tf.Tensor3D, g: { height: number; width: number }, numPrefixTokens = 0): Features => ({ layout: 'tokens', tensor: x, grid: g, numPrefixTokens });
const tensorOf = (f: Features) => f.tensor;

describe('FAN-ViT layers against models/fan.py', () => {
  const grid = (f: { grid: [number, number] }) => ({ height: f.grid[0], width: f.grid[1] });
  const spec = (f: { grid: [number, number]; dim: number }, numPrefixTokens = 0): TokenSpec => ({ layout: 'tokens', grid: grid(f), channels: f.dim, numPrefixTokens });

  it('ChannelProcessing (Eq. 7 as implemented: prototype gate × LN_v(MLP_v))', () => {
    const f = reference.channel_processing;
    const m = new ChannelProcessing(f.dim, new Rng(0), { numHeads: f.numHeads, mlpHiddenDim: 4 * f.dim, qkvBias: true });
    load(m, f.state);
    const x = toTensor(f.input) as tf.Tensor3D;
    const gate = m.gate(x);
    expectRelativeClose(gate, { shape: f.gate.shape.slice(0, 3), data: f.gate.data }, TOL, 'gate');
    gate.dispose();
    check(m, () => m.forward(x, grid(f), evalCtx()), f.output, 'channel processing');
    x.dispose();
  });

  it('TokenMixing (separate q and kv projections)', () => {
    const f = reference.token_mixing;
    const m = new TokenMixing(f.dim, new Rng(0), { numHeads: f.numHeads, qkvBias: true });
    load(m, f.state);
    const x = toTensor(f.input) as tf.Tensor3D;
    check(m, () => m.forward(x, evalCtx()), f.output, 'token mixing');
    x.dispose();
  });

  it('FANBlock (LayerScale η, token mixing then channel processing)', () => {
    const f = reference.fan_block;
    const m = new FANBlock(spec(f), { numHeads: f.numHeads }, new Rng(0));
    load(m, f.state);
    const x = toTensor(f.input) as tf.Tensor3D;
    check(m, () => tensorOf(m.forward(tokensOf(x, grid(f)), evalCtx())), f.output, 'FAN block');
    x.dispose();
  });

  it('FANBlock_SE (the _se_attn ablation, called with its grid as upstream PR #21 does)', () => {
    const f = reference.fan_block_se;
    const m = new FANBlock(spec(f), { numHeads: f.numHeads, channelMixer: 'se_mlp' }, new Rng(0));
    load(m, f.state);
    const x = toTensor(f.input) as tf.Tensor3D;
    check(m, () => tensorOf(m.forward(tokensOf(x, grid(f)), evalCtx())), f.output, 'FAN SE block');
    x.dispose();
  });

  it('ClassAttentionBlock as the official code does it (patches get their normalised value, tokens_norm, MLP on the class token)', () => {
    const f = reference.class_attention_block;
    const m = new FanClassAttentionBlock(spec(f, 1), { numHeads: f.numHeads }, new Rng(0));
    load(m, f.state);
    const x = toTensor(f.input) as tf.Tensor3D;
    const ctx = evalCtx();
    ctx.captureAttention = true;
    const y = tensorOf(m.forward(tokensOf(x, grid(f), 1), ctx));
    expectRelativeClose(y, f.output, TOL, 'class attention block');
    expectRelativeClose(ctx.attention!.probs, f.attention, TOL, 'class attention');
    tf.dispose([y, ctx.attention!.probs]);
    m.dispose();
    x.dispose();
  });

  it('Fourier position encoding on a 3x5 grid', () => {
    const f = reference.fourier_position;
    const m = new PositionalEncodingFourier({ layout: 'tokens', grid: { height: 3, width: 5 }, channels: f.dim, numPrefixTokens: 0 }, {}, new Rng(0));
    load(m, f.state);
    // PyTorch returns (B, C, H, W); ours is [1, H·W, C].
    const expected = tf.tidy(() => tf.reshape(tf.transpose(toTensor(f.output), [0, 2, 3, 1]), [1, 15, f.dim]));
    check(m, () => m.encoding({ height: 3, width: 5 }), { shape: expected.shape, data: Array.from(expected.dataSync()) }, 'Fourier PE');
    expected.dispose();
  });

  for (const c of reference.conv_patch_embed.cases) {
    it(`ConvPatchEmbed, patch ${c.patchSize}, on a 32x48 image`, () => {
      const images = toImage(reference.conv_patch_embed.images);
      const [, height, width] = images.shape;
      const m = new ConvPatchEmbed({ layout: 'image', height, width, channels: 3 }, { patchSize: c.patchSize, embedDim: c.embedDim }, new Rng(0));
      load(m, c.state);
      let grid;
      check(
        m,
        () => {
          const out = m.forward({ layout: 'image', tensor: images }, evalCtx());
          grid = out.layout === 'tokens' ? out.grid : undefined;
          return out.tensor;
        },
        c.output,
        `patch ${c.patchSize}`,
      );
      expect(grid).toEqual({ height: c.grid[0], width: c.grid[1] });
      images.dispose();
    });
  }
});

describe('ConvNeXt (models/convnext_utils.py)', () => {
  const nhwc = (f: { shape: number[]; data: number[] }) => {
    const t = toImage(f);
    const out = { shape: t.shape, data: Array.from(t.dataSync()) };
    t.dispose();
    return out;
  };

  for (const unbiasedNorm of [false, true]) {
    it(`ConvNeXtBlock (dw 7x7, LayerNorm over channels, 1x1-conv MLP, LayerScale), ${unbiasedNorm ? 'channels-last input: unbiased variance' : 'contiguous input'}`, () => {
      const f = reference.convnext_block;
      const m = new ConvNeXtBlock(f.dim, new Rng(0), { unbiasedNorm });
      load(m, f.state);
      const x = toImage(f.input);
      check(m, () => m.forward(x, evalCtx()), nhwc(unbiasedNorm ? f.outputChannelsLast : f.output), 'ConvNeXt block');
      x.dispose();
    });
  }

  it('ConvNeXtStage with its downsample (LayerNorm, 2x2 stride-2 conv) on channels-last input, as in FAN-Hybrid', () => {
    const f = reference.convnext_stage;
    expect(f.channelsLast).toBe(true);
    const x = toImage(f.input);
    const [, height, width, channels] = x.shape;
    const m = new ConvNeXtStage({ layout: 'image', height, width, channels }, { outChannels: f.outChannels, depth: f.depth, unbiasedNorm: true }, new Rng(0));
    load(m, f.state);
    check(m, () => tensorOf(m.forward({ layout: 'image', tensor: x }, evalCtx())), nhwc(f.output), 'ConvNeXt stage');
    x.dispose();
  });
});

describe('Swin with FAN channel processing (models/swin_utils.py)', () => {
  const f = reference.swin;
  const grid = { height: f.resolution[0], width: f.resolution[1] };
  for (const c of f.cases) {
    it(`block with window ${c.windowSize}, shift ${c.shiftSize}, ${c.mlpType}`, () => {
      const m = new SwinBlock(f.dim, grid, new Rng(0), {
        numHeads: f.numHeads,
        windowSize: c.windowSize,
        shiftSize: c.shiftSize,
        mlp: c.mlpType === 'FAN' ? 'channel_processing' : 'mlp',
      });
      expect([m.window, m.shift]).toEqual([c.effectiveWindow, c.effectiveShift]);
      // relative_position_index and attn_mask are derived buffers, rebuilt here rather than loaded.
      const state = Object.fromEntries(Object.entries(c.state as Record<string, unknown>).filter(([k]) => !k.endsWith('relative_position_index') && !k.endsWith('attn_mask')));
      load(m, state as never);
      const x = toTensor(f.input) as tf.Tensor3D;
      check(m, () => m.forward(x, evalCtx()), c.output, `swin ${JSON.stringify(c.shiftSize)}`);
      x.dispose();
    });
  }

  it('PatchMerging (2x2 neighbourhoods, LayerNorm, 4C → 2C)', () => {
    const p = reference.patch_merging;
    const m = new PatchMerging(p.dim, new Rng(0));
    load(m, p.state);
    const x = toTensor(p.input) as tf.Tensor3D;
    check(m, () => m.forward(x, { height: 8, width: 8 }).tokens, p.output, 'patch merging');
    x.dispose();
  });
});
