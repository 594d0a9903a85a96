import { z } from 'zod';
import { CompositionError } from '../errors.js';
import { Attention } from '../nn/attention.js';
import type { ForwardContext } from '../nn/context.js';
import { DropPath } from '../nn/dropout.js';
import { Mlp } from '../nn/mlp.js';
import { LayerNorm } from '../nn/norm.js';
import { Block, type BlockDefinition } from '../plugin/types.js';
import type { FeatureSpec, Features, TokenSpec } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';

export const transformerOptions = z.strictObject({
  numHeads: z.number().int().min(1),
  mlpRatio: z.number().positive().default(4),
  qkvBias: z.boolean().default(true),
  qkScale: z.number().positive().optional(),
  dropRate: z.number().min(0).lt(1).default(0),
  attnDropRate: z.number().min(0).lt(1).default(0),
  dropPath: z.number().min(0).lt(1).default(0),
  /** timm's ViTs use 1e-6; T2T-ViT uses PyTorch's default 1e-5. */
  normEps: z.number().positive().default(1e-6),
});
export type TransformerOptions = z.input<typeof transformerOptions>;

/**
 * The pre-norm ViT block (timm's Block): x + DropPath(Attn(LN(x))), then
 * x + DropPath(Mlp(LN(x))). Names norm1, attn, norm2, mlp as in the official checkpoints.
 */
export class TransformerBlock extends Block {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  private readonly dropPath: DropPath;

  constructor(spec: TokenSpec, options: TransformerOptions, rng: Rng) {
    super(spec, spec);
    const o = transformerOptions.parse(options);
    const dim = spec.channels;
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, rng, o.normEps));
    this.attn = this.addModule(
      'attn',
      new Attention(dim, rng, { numHeads: o.numHeads, qkvBias: o.qkvBias, qkScale: o.qkScale, attnDrop: o.attnDropRate, projDrop: o.dropRate }),
    );
    this.dropPath = new DropPath(o.dropPath);
    this.norm2 = this.addModule('norm2', new LayerNorm(dim, rng, o.normEps));
    this.mlp = this.addModule('mlp', new Mlp(dim, Math.floor(dim * o.mlpRatio), rng, { dropRate: o.dropRate }));
  }

  /** [B, N, C] → [B, N, C]; records the attention when the context asks. */
  applyTokens(x: tf.Tensor3D, ctx: ForwardContext, grid: { height: number; width: number }, numPrefixTokens: number): tf.Tensor3D {
    const record = ctx.captureAttention ? { grid, numPrefixTokens } : undefined;
    return tf.tidy(() => {
      const attended = this.attn.forward(this.norm1.forward(x) as tf.Tensor3D, ctx, record);
      const h = tf.add(x, this.dropPath.forward(attended, ctx)) as tf.Tensor3D;
      return tf.add(h, this.dropPath.forward(this.mlp.forward(this.norm2.forward(h), ctx), ctx)) as tf.Tensor3D;
    });
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'tokens') throw new CompositionError(`transformer block expects tokens, got ${x.layout}`);
    return { ...x, tensor: this.applyTokens(x.tensor, ctx, x.grid, x.numPrefixTokens) };
  }
}

export const transformerBlock: BlockDefinition<z.infer<typeof transformerOptions>> = {
  description: 'Pre-norm ViT block: multi-head self-attention and MLP with residuals and drop path (tokens → tokens)',
  supports: { positions: ['stage'], dropPath: true, attention: 'self', dynamicGrid: true, overridable: [] },
  accepts: ['tokens'],
  options: transformerOptions,
  examples: [{ numHeads: 2 }, { numHeads: 1, mlpRatio: 2, qkvBias: false, normEps: 1e-5, dropPath: 0.1 }],
  outputSpec(input: FeatureSpec, options: z.infer<typeof transformerOptions>): FeatureSpec {
    if (input.layout !== 'tokens') throw new CompositionError(`transformer takes tokens, not ${input.layout}`);
    if (input.channels % options.numHeads !== 0) {
      throw new CompositionError(`numHeads ${options.numHeads} does not divide the token width ${input.channels}`);
    }
    return input;
  },
  create(input, options, rng) {
    return new TransformerBlock(input as TokenSpec, options, rng);
  },
};
