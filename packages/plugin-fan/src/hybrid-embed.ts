import { Block, CompositionError, ConvPatchEmbed as GridPatchEmbed, type Conv2d, convOutputSize, tf, type FeatureSpec, type Features, type ImageSpec, type Rng, type TokenSpec } from '@tessera/core';

export interface HybridEmbedOptions {
  readonly embedDim: number;
  readonly patchSize?: number;
}

export function hybridEmbedOutput(input: FeatureSpec, options: HybridEmbedOptions): TokenSpec {
  if (input.layout !== 'image') throw new CompositionError(`fan_hybrid_embed takes a feature map (image layout), not ${input.layout}`);
  const p = options.patchSize ?? 2;
  const grid = { height: convOutputSize(input.height, p, p, 0), width: convOutputSize(input.width, p, p, 0) };
  if (grid.height < 1 || grid.width < 1) throw new CompositionError(`patchSize ${p} is larger than the ${input.height}x${input.width} feature map`);
  return { layout: 'tokens', grid, channels: options.embedDim, numPrefixTokens: 0 };
}

/**
 * FAN-Hybrid's embedding of the ConvNeXt feature map (models/fan.py HybridEmbed, papers.md
 * §3.5): a p×p stride-p convolution with bias (`proj`, nn.Conv2d's default init) to tokens.
 * Core's grid patch embedding computes it (patchify + one matmul, wasm's fast path); its
 * `proj` is this block's, so the key stays `patch_embed.proj.weight`.
 */
export class HybridEmbed extends Block {
  readonly proj: Conv2d;
  private readonly embed: GridPatchEmbed;

  constructor(input: ImageSpec, options: HybridEmbedOptions, rng: Rng) {
    super(input, hybridEmbedOutput(input, options));
    this.embed = new GridPatchEmbed(options.patchSize ?? 2, input.channels, options.embedDim, rng, { norm: 'none' });
    this.proj = this.addModule('proj', this.embed.proj);
  }

  forward(x: Features): Features {
    if (x.layout !== 'image') throw new CompositionError(`fan_hybrid_embed expects a feature map, got ${x.layout}`);
    const { tokens, grid } = this.embed.forward(x.tensor);
    return { layout: 'tokens', tensor: tokens, grid, numPrefixTokens: 0 };
  }
}
