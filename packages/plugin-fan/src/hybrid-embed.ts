import { Block, CompositionError, convOutputSize, linear, tf, uniformFanIn, type FeatureSpec, type Features, type ImageSpec, type Rng, type TokenSpec } from '@tessera/core';

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
 * §3.5): a p×p stride-p convolution with bias to tokens. The block is the convolution
 * itself: its `weight` (HWIO; PyTorch OIHW on load) and `bias` sit at the stage's name,
 * `patch_embed.proj` in the named models, next to the backbone's `patch_embed.backbone.*`.
 * Computed as patchify + one matmul, the same arithmetic on wasm's fast path.
 */
export class HybridEmbed extends Block {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly patchSize: number;

  constructor(input: ImageSpec, options: HybridEmbedOptions, rng: Rng) {
    super(input, hybridEmbedOutput(input, options));
    const p = (this.patchSize = options.patchSize ?? 2);
    // nn.Conv2d's default init (FAN's _init_weights leaves convolutions alone).
    const init = uniformFanIn(p * p * input.channels);
    this.weight = this.addParameter('weight', init([p, p, input.channels, options.embedDim], rng), { torchLayout: 'conv2d' });
    this.bias = this.addParameter('bias', init([options.embedDim], rng), { weightDecay: false });
  }

  forward(x: Features): Features {
    if (x.layout !== 'image') throw new CompositionError(`fan_hybrid_embed expects a feature map, got ${x.layout}`);
    const [b, height, width, c] = x.tensor.shape;
    const p = this.patchSize;
    const [gh, gw] = [Math.floor(height / p), Math.floor(width / p)];
    const d = this.bias.shape[0]!;
    const tensor = tf.tidy(() => {
      const cropped = gh * p === height && gw * p === width ? x.tensor : tf.slice(x.tensor, [0, 0, 0, 0], [b, gh * p, gw * p, c]);
      const patches = tf.reshape(tf.transpose(tf.reshape(cropped, [b, gh, p, gw, p, c]), [0, 1, 3, 2, 4, 5]), [b * gh * gw, p * p * c]);
      return tf.reshape(linear(patches, tf.reshape(this.weight, [p * p * c, d]) as tf.Tensor2D, this.bias as tf.Tensor1D), [b, gh * gw, d]) as tf.Tensor3D;
    });
    return { layout: 'tokens', tensor, grid: { height: gh, width: gw }, numPrefixTokens: 0 };
  }
}
