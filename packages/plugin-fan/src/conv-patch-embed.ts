import {
  Block,
  BatchNorm2d,
  CompositionError,
  Conv2d,
  gelu,
  InvalidArgumentError,
  Sequential,
  tf,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type Grid,
  type ImageSpec,
  type Rng,
  type TokenSpec,
} from '@tessera/core';

export interface ConvPatchEmbedOptions {
  readonly patchSize: 16 | 8 | 4;
  readonly embedDim: number;
}

/** Channels after each stride-2 stage: D/8, D/4, D/2, D for patch 16; D/4, D/2, D for 8; D/4, D for 4 (models/fan.py ConvPatchEmbed). */
export function convPatchEmbedWidths(patchSize: number, embedDim: number): number[] {
  switch (patchSize) {
    case 16:
      return [embedDim / 8, embedDim / 4, embedDim / 2, embedDim].map(Math.floor);
    case 8:
      return [embedDim / 4, embedDim / 2, embedDim].map(Math.floor);
    case 4:
      return [embedDim / 4, embedDim].map(Math.floor);
    default:
      throw new InvalidArgumentError('patchSize', patchSize, '16, 8 or 4 (one stride-2 convolution per halving)');
  }
}

/** Grid after the stride-2, padding-1, 3×3 convolutions: ⌈L/2⌉ per stage (papers.md §3.10). */
export function convPatchEmbedGrid(height: number, width: number, patchSize: number): Grid {
  let h = height;
  let w = width;
  for (let i = 0; i < Math.log2(patchSize); i++) {
    h = Math.floor((h - 1) / 2) + 1;
    w = Math.floor((w - 1) / 2) + 1;
  }
  return { height: h, width: w };
}

/** The tokens ConvPatchEmbed makes from `input`, or why it cannot. */
export function convPatchEmbedOutput(input: FeatureSpec, options: ConvPatchEmbedOptions): TokenSpec {
  if (input.layout !== 'image') throw new CompositionError(`fan_conv_patch_embed takes images, not ${input.layout}`);
  const widths = convPatchEmbedWidths(options.patchSize, options.embedDim);
  if (widths[0]! < 1) throw new CompositionError(`embedDim ${options.embedDim} is too small for patch ${options.patchSize}: the first stage would have ${widths[0]} channels`);
  return { layout: 'tokens', grid: convPatchEmbedGrid(input.height, input.width, options.patchSize), channels: options.embedDim, numPrefixTokens: 0 };
}

/**
 * FAN's convolutional patch embedding (papers.md §3.1 step 1): stride-2 3×3
 * convolutions without bias, each followed by BatchNorm, with GELU between stages
 * and none after the last. `proj.<2i>` is conv+BN (`proj.<2i>.0`, `proj.<2i>.1`);
 * the GELUs hold the odd indices, as in the official state dict. Image → tokens.
 */
export class ConvPatchEmbed extends Block {
  readonly proj: Sequential;

  constructor(
    input: ImageSpec,
    private readonly options: ConvPatchEmbedOptions,
    rng: Rng,
  ) {
    super(input, convPatchEmbedOutput(input, options));
    const steps: Array<Sequential | typeof gelu> = [];
    let cin = input.channels;
    convPatchEmbedWidths(options.patchSize, options.embedDim).forEach((cout, i) => {
      if (i > 0) steps.push(gelu);
      // nn.Conv2d's default init: FAN's _init_weights leaves convolutions alone.
      steps.push(new Sequential([new Conv2d(cin, cout, 3, rng, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(cout, rng)]));
      cin = cout;
    });
    this.proj = this.addModule('proj', new Sequential(steps));
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'image') throw new CompositionError(`fan_conv_patch_embed expects images, got ${x.layout}`);
    const [b, height, width] = x.tensor.shape;
    const out = convPatchEmbedOutput({ layout: 'image', height, width, channels: x.tensor.shape[3] }, this.options);
    const tensor = tf.tidy(() => tf.reshape(this.proj.forward(x.tensor, ctx), [b, out.grid.height * out.grid.width, out.channels]) as tf.Tensor3D);
    return { layout: 'tokens', tensor, grid: out.grid, numPrefixTokens: 0 };
  }
}
