import { z } from 'zod';
import { CompositionError } from '../errors.js';
import { ClassAttention } from '../nn/class-attention.js';
import type { ForwardContext } from '../nn/context.js';
import { DropPath } from '../nn/dropout.js';
import { constant } from '../nn/init.js';
import { Mlp } from '../nn/mlp.js';
import { LayerNorm } from '../nn/norm.js';
import { layerScale } from '../ops/layer-scale.js';
import { Block, type BlockDefinition } from '../plugin/types.js';
import type { FeatureSpec, Features, TokenSpec } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';

export const classAttentionOptions = z
  .object({
    numHeads: z.number().int().min(1),
    mlpRatio: z.number().positive().default(4),
    qkvBias: z.boolean().default(false),
    dropRate: z.number().min(0).lt(1).default(0),
    attnDropRate: z.number().min(0).lt(1).default(0),
    dropPath: z.number().min(0).lt(1).default(0),
    /** LayerScale init (CaiT: 1e-5 for the XXS/XS/S models, 1e-6 for the larger). */
    initValues: z.number().default(1e-5),
    normEps: z.number().positive().default(1e-6),
  })
  .strict();
export type ClassAttentionBlockOptions = z.input<typeof classAttentionOptions>;

/**
 * CaiT's class-attention block (Touvron et al. 2021, §3; timm's LayerScaleBlockClassAttn):
 * only the class token is updated,
 *   cls = cls + DP(γ₁ ⊙ CA(LN₁([cls; patches])));  cls = cls + DP(γ₂ ⊙ MLP(LN₂(cls)))
 * and the patch tokens pass through unchanged. Names norm1, attn (q, k, v, proj), norm2,
 * mlp, gamma_1, gamma_2. Records the class attention [B, heads, 1, N] when asked.
 */
export class ClassAttentionBlock extends Block {
  readonly gamma1: tf.Variable;
  readonly gamma2: tf.Variable;
  readonly norm1: LayerNorm;
  readonly attn: ClassAttention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly dropPath: DropPath;

  constructor(input: TokenSpec, options: ClassAttentionBlockOptions, rng: Rng) {
    super(input, input);
    const o = classAttentionOptions.parse(options);
    const dim = input.channels;
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, rng, o.normEps));
    this.attn = this.addModule('attn', new ClassAttention(dim, rng, { numHeads: o.numHeads, qkvBias: o.qkvBias, attnDrop: o.attnDropRate, projDrop: o.dropRate }));
    this.dropPath = new DropPath(o.dropPath);
    this.norm2 = this.addModule('norm2', new LayerNorm(dim, rng, o.normEps));
    this.mlp = this.addModule('mlp', new Mlp(dim, Math.floor(dim * o.mlpRatio), rng, { dropRate: o.dropRate }));
    this.gamma1 = this.addParameter('gamma_1', constant(o.initValues)([dim], rng));
    this.gamma2 = this.addParameter('gamma_2', constant(o.initValues)([dim], rng));
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'tokens' || x.numPrefixTokens < 1) throw new CompositionError('class_attention expects tokens led by a class token');
    const [b, n, c] = x.tensor.shape;
    const record = ctx.captureAttention ? { grid: x.grid, numPrefixTokens: x.numPrefixTokens } : undefined;
    const tensor = tf.tidy(() => {
      const cls = tf.slice(x.tensor, [0, 0, 0], [b, 1, c]);
      const attended = this.attn.forward(this.norm1.forward(x.tensor) as tf.Tensor3D, ctx, record);
      const h = tf.add(cls, this.dropPath.forward(layerScale(attended, this.gamma1 as tf.Tensor1D), ctx));
      const updated = tf.add(h, this.dropPath.forward(layerScale(this.mlp.forward(this.norm2.forward(h), ctx), this.gamma2 as tf.Tensor1D), ctx));
      return tf.concat([updated, tf.slice(x.tensor, [0, 1, 0], [b, n - 1, c])], 1) as tf.Tensor3D;
    });
    return { ...x, tensor };
  }
}

export const classAttentionBlock: BlockDefinition<z.infer<typeof classAttentionOptions>> = {
  description: "CaiT's class-attention block: the class token attends to every token and is the only one updated (tokens with a class token → same)",
  supports: { positions: ['stage'], dropPath: true, attention: 'class', dynamicGrid: true, overridable: [] },
  accepts: ['tokens'],
  options: classAttentionOptions,
  examples: [{ numHeads: 2 }, { numHeads: 1, qkvBias: true, initValues: 1, dropPath: 0.1 }],
  outputSpec(input: FeatureSpec, options: z.infer<typeof classAttentionOptions>): FeatureSpec {
    if (input.layout !== 'tokens') throw new CompositionError(`class_attention takes tokens, not ${input.layout}`);
    if (input.numPrefixTokens < 1) throw new CompositionError('class_attention needs a class token leading the tokens; add a class_token stage before it');
    if (input.channels % options.numHeads !== 0) throw new CompositionError(`numHeads ${options.numHeads} does not divide the token width ${input.channels}`);
    return input;
  },
  create(input, options, rng) {
    return new ClassAttentionBlock(input as TokenSpec, options, rng);
  },
};
