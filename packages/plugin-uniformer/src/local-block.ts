import { BatchNorm2d, Block, CompositionError, Conv2d, DropPath, z, type FeatureSpec, type Features, type ForwardContext, type ImageSpec, type Rng, tf } from '@tessera/core';
import { ConvMlp } from './conv-mlp.js';
import { DynamicPositionEmbedding } from './position.js';

export const localBlockOptions = z
  .object({
    mlpRatio: z.number().positive().default(4),
    /** Dropout after each MLP layer (the official `drop_rate`). */
    dropRate: z.number().min(0).lt(1).default(0),
    dropPath: z.number().min(0).lt(1).default(0),
    /** BatchNorm eps (nn.BatchNorm2d's default). */
    normEps: z.number().positive().default(1e-5),
  })
  .strict();
export type LocalBlockOptions = z.input<typeof localBlockOptions>;

/**
 * UniFormer's local block (CBlock, uniformer.py L82-102) on an NHWC grid:
 *   x = x + DPE(x)
 *   x = x + DropPath(conv2(attn(conv1(norm1(x)))))    local MHRA, paper Eq. 4-5
 *   x = x + DropPath(mlp(norm2(x)))
 * The local relation aggregator is BN → 1×1 → depthwise 5×5 → 1×1 with no
 * activation inside: a content-independent affinity (upstream issue #7).
 */
export class LocalBlock extends Block {
  readonly posEmbed: DynamicPositionEmbedding;
  readonly norm1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly attn: Conv2d;
  readonly norm2: BatchNorm2d;
  readonly mlp: ConvMlp;
  readonly dropPath: DropPath;

  constructor(spec: ImageSpec, options: LocalBlockOptions, rng: Rng) {
    super(spec, spec);
    const o = localBlockOptions.parse(options);
    const dim = spec.channels;
    // Registration order follows the official __init__, so state dicts list keys alike.
    this.posEmbed = this.addModule('pos_embed', new DynamicPositionEmbedding(dim, rng));
    this.norm1 = this.addModule('norm1', new BatchNorm2d(dim, rng, o.normEps));
    this.conv1 = this.addModule('conv1', new Conv2d(dim, dim, 1, rng));
    this.conv2 = this.addModule('conv2', new Conv2d(dim, dim, 1, rng));
    this.attn = this.addModule('attn', new Conv2d(dim, dim, 5, rng, { padding: 2, groups: dim }));
    this.dropPath = new DropPath(o.dropPath);
    this.norm2 = this.addModule('norm2', new BatchNorm2d(dim, rng, o.normEps));
    this.mlp = this.addModule('mlp', new ConvMlp(dim, Math.floor(dim * o.mlpRatio), rng, o.dropRate));
  }

  /** [B, H, W, C] → [B, H, W, C]. */
  forwardGrid(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const h = this.posEmbed.embed(x);
      const related = this.conv2.forward(this.attn.forward(this.conv1.forward(this.norm1.forward(h, ctx))));
      const h2 = tf.add(h, this.dropPath.forward(related, ctx)) as tf.Tensor4D;
      return tf.add(h2, this.dropPath.forward(this.mlp.forward(this.norm2.forward(h2, ctx), ctx), ctx)) as tf.Tensor4D;
    });
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'image') throw new CompositionError(`uniformer_local expects an image grid, got ${x.layout}`);
    return { layout: 'image', tensor: this.forwardGrid(x.tensor, ctx) };
  }
}

export function localBlockOutputSpec(input: FeatureSpec): ImageSpec {
  if (input.layout !== 'image') throw new CompositionError(`uniformer_local takes an image grid, not ${input.layout}`);
  return input;
}
