import {
  Block,
  CompositionError,
  constant,
  Conv2d,
  DropPath,
  kaimingNormalFanOut,
  LayerNorm,
  layerScale,
  Module,
  tf,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type Grid,
  type Rng,
  type TokenSpec,
} from '@tessera/core';
import { ChannelProcessing } from './channel-processing.js';
import { SEMlp } from './fan-mlp.js';
import { TokenMixing } from './token-mixing.js';

/**
 * FAN-XL's downsampling between widths (models/fan.py OverlapPatchEmbed): 3×3 stride-2
 * convolution (padding 1) on the token grid, then LayerNorm (PyTorch's eps 1e-5).
 */
export class OverlapPatchEmbed extends Module {
  readonly proj: Conv2d;
  readonly norm: LayerNorm;

  constructor(inChannels: number, readonly embedDim: number, rng: Rng) {
    super();
    this.proj = this.addModule('proj', new Conv2d(inChannels, embedDim, 3, rng, { stride: 2, padding: 1, weightInit: kaimingNormalFanOut(9 * embedDim) }));
    this.norm = this.addModule('norm', new LayerNorm(embedDim, rng, 1e-5));
  }

  static outputGrid(grid: Grid): Grid {
    return { height: Math.floor((grid.height - 1) / 2) + 1, width: Math.floor((grid.width - 1) / 2) + 1 };
  }

  forward(x: tf.Tensor3D, grid: Grid): { tokens: tf.Tensor3D; grid: Grid } {
    const out = OverlapPatchEmbed.outputGrid(grid);
    const tokens = tf.tidy(() => {
      const image = tf.reshape(x, [x.shape[0], grid.height, grid.width, x.shape[2]]) as tf.Tensor4D;
      return this.norm.forward(tf.reshape(this.proj.forward(image), [x.shape[0], out.height * out.width, this.embedDim])) as tf.Tensor3D;
    });
    return { tokens, grid: out };
  }
}

export interface FANBlockOptions {
  readonly numHeads: number;
  readonly mlpRatio?: number;
  readonly qkvBias?: boolean;
  readonly dropRate?: number;
  readonly attnDropRate?: number;
  readonly dropPath?: number;
  /** LayerScale init η (FAN's eta; 1.0 in every released model). */
  readonly eta?: number;
  readonly normEps?: number;
  /** 'channel_processing' (FANBlock) or 'se_mlp' (FANBlock_SE, the `_se_attn` ablation). */
  readonly channelMixer?: 'channel_processing' | 'se_mlp';
  /** Heads of ChannelProcessing when they differ from the token heads (c_head_num). */
  readonly channelHeads?: number;
  /** Width after an OverlapPatchEmbed at the end of the block (FAN-XL's 528 → 768). */
  readonly downsampleTo?: number;
}

/** The tokens a FAN block hands on: the same, or after its downsampling embedding a coarser grid of `downsampleTo` channels. */
export function fanBlockOutput(input: FeatureSpec, options: FANBlockOptions): TokenSpec {
  if (input.layout !== 'tokens') throw new CompositionError(`fan takes tokens, not ${input.layout}`);
  if (input.numPrefixTokens !== 0) {
    throw new CompositionError(`fan blocks work on the patch grid (their channel MLP convolves it); the input has ${input.numPrefixTokens} prefix token(s): put the class token after them`);
  }
  for (const [name, heads] of [['numHeads', options.numHeads], ['channelHeads', options.channelHeads ?? options.numHeads]] as const) {
    if (input.channels % heads !== 0) throw new CompositionError(`${name} ${heads} does not divide the token width ${input.channels}`);
  }
  if (options.downsampleTo === undefined) return input;
  return { ...input, grid: OverlapPatchEmbed.outputGrid(input.grid), channels: options.downsampleTo };
}

/**
 * The FAN block (papers.md §3.1 step 4; models/fan.py FANBlock):
 *   x = x + DP(γ₁ ⊙ TokenMixing(LN₁(x)))
 *   x = x + DP(γ₂ ⊙ ChannelProcessing(LN₂(x)))
 * on patch tokens only, then an optional downsampling embedding (FAN-XL).
 */
export class FANBlock extends Block {
  readonly gamma1: tf.Variable;
  readonly gamma2: tf.Variable;
  readonly norm1: LayerNorm;
  readonly attn: TokenMixing;
  readonly norm2: LayerNorm;
  readonly mlp: ChannelProcessing | SEMlp;
  readonly downsample: OverlapPatchEmbed | null;
  readonly dropPath: DropPath;

  constructor(input: TokenSpec, options: FANBlockOptions, rng: Rng) {
    super(input, fanBlockOutput(input, options));
    const dim = input.channels;
    const eta = options.eta ?? 1;
    const eps = options.normEps ?? 1e-6;
    const hidden = Math.floor(dim * (options.mlpRatio ?? 4));
    this.gamma1 = this.addParameter('gamma1', constant(eta)([dim], rng));
    this.gamma2 = this.addParameter('gamma2', constant(eta)([dim], rng));
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, rng, eps));
    this.attn = this.addModule(
      'attn',
      new TokenMixing(dim, rng, { numHeads: options.numHeads, qkvBias: options.qkvBias ?? true, attnDrop: options.attnDropRate, projDrop: options.dropRate }),
    );
    this.dropPath = new DropPath(options.dropPath ?? 0);
    this.norm2 = this.addModule('norm2', new LayerNorm(dim, rng, eps));
    this.mlp = this.addModule(
      'mlp',
      options.channelMixer === 'se_mlp'
        ? new SEMlp(dim, hidden, rng, options.dropRate)
        : new ChannelProcessing(dim, rng, {
            numHeads: options.channelHeads ?? options.numHeads,
            mlpHiddenDim: hidden,
            qkvBias: options.qkvBias ?? true,
            attnDrop: options.attnDropRate,
            dropRate: options.dropRate,
          }),
    );
    this.downsample = options.downsampleTo !== undefined ? this.addModule('downsample', new OverlapPatchEmbed(dim, options.downsampleTo, rng)) : null;
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'tokens' || x.numPrefixTokens !== 0) throw new CompositionError('fan blocks expect patch tokens without prefix tokens');
    const { grid } = x;
    const y = tf.tidy(() => {
      const mixed = this.attn.forward(this.norm1.forward(x.tensor) as tf.Tensor3D, ctx);
      const h = tf.add(x.tensor, this.dropPath.forward(layerScale(mixed, this.gamma1 as tf.Tensor1D), ctx)) as tf.Tensor3D;
      const channels = this.mlp.forward(this.norm2.forward(h) as tf.Tensor3D, grid, ctx);
      return tf.add(h, this.dropPath.forward(layerScale(channels, this.gamma2 as tf.Tensor1D), ctx)) as tf.Tensor3D;
    });
    if (!this.downsample) return { ...x, tensor: y };
    const out = this.downsample.forward(y, grid);
    y.dispose();
    return { layout: 'tokens', tensor: out.tokens, grid: out.grid, numPrefixTokens: 0 };
  }
}
