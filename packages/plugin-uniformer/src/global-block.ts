import {
  Attention,
  Block,
  CompositionError,
  DropPath,
  LayerNorm,
  Mlp,
  z,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type ImageSpec,
  type Rng,
  tf,
} from '@tessera/core';
import { DynamicPositionEmbedding } from './position.js';

export const globalBlockOptions = z
  .object({
    /** Width of one attention head: heads = channels / headDim. 64 by default, 32 for the token-labelling checkpoints (upstream #16, #128). */
    headDim: z.number().int().min(1).default(64),
    mlpRatio: z.number().positive().default(4),
    qkvBias: z.boolean().default(true),
    qkScale: z.number().positive().optional(),
    dropRate: z.number().min(0).lt(1).default(0),
    attnDropRate: z.number().min(0).lt(1).default(0),
    dropPath: z.number().min(0).lt(1).default(0),
    /** LayerScale γ initial value (the `_ls` models: 1e-6), or null for none. */
    layerScale: z.number().positive().nullable().default(null),
    normEps: z.number().positive().default(1e-6),
  })
  .strict();
export type GlobalBlockOptions = z.input<typeof globalBlockOptions>;

/** Heads of a global block over `channels`; throws, naming the values, when headDim does not divide them. */
export function globalBlockHeads(channels: number, headDim: number): number {
  if (channels % headDim !== 0) {
    throw new CompositionError(`headDim ${headDim} does not divide the grid's ${channels} channels (heads = channels / headDim must be a whole number)`);
  }
  return channels / headDim;
}

/**
 * UniFormer's global block (SABlock, uniformer.py L104-138):
 *   x = x + DPE(x), then on the flattened grid (B, H·W, C):
 *   x = x + DropPath(γ₁ · Attn(LN(x)))      global MHRA = multi-head self-attention
 *   x = x + DropPath(γ₂ · Mlp(LN(x)))
 * γ₁, γ₂ (`gamma_1`, `gamma_2`) exist only with layerScale (the `_ls` models).
 */
export class GlobalBlock extends Block {
  readonly posEmbed: DynamicPositionEmbedding;
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly gamma1: tf.Variable | null;
  readonly gamma2: tf.Variable | null;
  readonly dropPath: DropPath;

  constructor(spec: ImageSpec, options: GlobalBlockOptions, rng: Rng) {
    super(spec, spec);
    const o = globalBlockOptions.parse(options);
    const dim = spec.channels;
    const numHeads = globalBlockHeads(dim, o.headDim);
    this.posEmbed = this.addModule('pos_embed', new DynamicPositionEmbedding(dim, rng));
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, rng, o.normEps));
    this.attn = this.addModule('attn', new Attention(dim, rng, { numHeads, qkvBias: o.qkvBias, qkScale: o.qkScale, attnDrop: o.attnDropRate, projDrop: o.dropRate }));
    this.dropPath = new DropPath(o.dropPath);
    this.norm2 = this.addModule('norm2', new LayerNorm(dim, rng, o.normEps));
    this.mlp = this.addModule('mlp', new Mlp(dim, Math.floor(dim * o.mlpRatio), rng, { dropRate: o.dropRate }));
    const gamma = o.layerScale;
    this.gamma1 = gamma === null ? null : this.addParameter('gamma_1', tf.fill([dim], gamma), { weightDecay: false });
    this.gamma2 = gamma === null ? null : this.addParameter('gamma_2', tf.fill([dim], gamma), { weightDecay: false });
  }

  /** [B, H, W, C] → [B, H, W, C]; records the attention (no prefix tokens) when the context asks. */
  forwardGrid(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    const [b, height, width, c] = x.shape;
    const record = ctx.captureAttention ? { grid: { height, width }, numPrefixTokens: 0 } : undefined;
    return tf.tidy(() => {
      const tokens = tf.reshape(this.posEmbed.embed(x), [b, height * width, c]) as tf.Tensor3D;
      const scaled = (branch: tf.Tensor, gamma: tf.Variable | null) => (gamma ? tf.mul(branch, gamma) : branch);
      const attended = scaled(this.attn.forward(this.norm1.forward(tokens) as tf.Tensor3D, ctx, record), this.gamma1);
      const h = tf.add(tokens, this.dropPath.forward(attended, ctx));
      const h2 = tf.add(h, this.dropPath.forward(scaled(this.mlp.forward(this.norm2.forward(h), ctx), this.gamma2), ctx));
      return tf.reshape(h2, [b, height, width, c]) as tf.Tensor4D;
    });
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'image') throw new CompositionError(`uniformer_global expects an image grid, got ${x.layout}`);
    return { layout: 'image', tensor: this.forwardGrid(x.tensor, ctx) };
  }
}

export function globalBlockOutputSpec(input: FeatureSpec, options: { headDim: number }): ImageSpec {
  if (input.layout !== 'image') throw new CompositionError(`uniformer_global takes an image grid, not ${input.layout}`);
  globalBlockHeads(input.channels, options.headDim);
  return input;
}
