import { z } from 'zod';
import { CompositionError } from '../errors.js';
import type { ForwardContext } from '../nn/context.js';
import { Dropout } from '../nn/dropout.js';
import { Block, type BlockDefinition } from '../plugin/types.js';
import type { FeatureSpec, Features, TokenSpec } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { positionEmbeddingInit } from './patch-embed.js';

const classTokenOptions = z.strictObject({
  /** Learned position embedding over [cls, patches] (ViT/DeiT), or none. */
  posEmbed: z.enum(['learned', 'none']).default('learned'),
  dropRate: z.number().min(0).lt(1).default(0),
});
type ClassTokenOptions = z.input<typeof classTokenOptions>;

/**
 * Prepends a learned class token and adds a learned position embedding to the
 * whole sequence (ViT's `cls_token`, `pos_embed`, `pos_drop`). Put it after any
 * stem so that class-token heads and TransMix work on that model.
 */
class ClassTokenBlock extends Block {
  readonly clsToken: tf.Variable;
  readonly posEmbed: tf.Variable | null;
  private readonly drop: Dropout;

  constructor(input: TokenSpec, output: TokenSpec, options: ClassTokenOptions, rng: Rng) {
    super(input, output);
    const o = classTokenOptions.parse(options);
    const dim = input.channels;
    const n = output.numPrefixTokens + input.grid.height * input.grid.width;
    this.clsToken = this.addParameter('cls_token', positionEmbeddingInit([1, 1, dim], rng), { weightDecay: false });
    this.posEmbed = o.posEmbed === 'learned' ? this.addParameter('pos_embed', positionEmbeddingInit([1, n, dim], rng), { weightDecay: false }) : null;
    this.drop = new Dropout(o.dropRate);
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'tokens') throw new CompositionError(`class_token expects tokens, got ${x.layout}`);
    const b = x.tensor.shape[0];
    const tensor = tf.tidy(() => {
      const withCls = tf.concat([tf.tile(this.clsToken, [b, 1, 1]), x.tensor], 1);
      const positioned = this.posEmbed ? tf.add(withCls, this.posEmbed) : withCls;
      return this.drop.forward(positioned, ctx) as tf.Tensor3D;
    });
    return { layout: 'tokens', tensor, grid: x.grid, numPrefixTokens: x.numPrefixTokens + 1 };
  }
}

export const classTokenBlock: BlockDefinition<z.infer<typeof classTokenOptions>> = {
  description: 'Prepends a learned class token and adds a learned position embedding (tokens → tokens + 1 prefix)',
  supports: { positions: ['stage'], dropPath: false, attention: false, dynamicGrid: false, overridable: [] },
  accepts: ['tokens'],
  options: classTokenOptions,
  examples: [{}, { posEmbed: 'none' }],
  outputSpec(input: FeatureSpec): TokenSpec {
    if (input.layout !== 'tokens') throw new CompositionError(`class_token takes tokens, not ${input.layout}`);
    if (input.numPrefixTokens !== 0) {
      throw new CompositionError(`class_token must come before any other prefix token; the input already has ${input.numPrefixTokens}`);
    }
    return { ...input, numPrefixTokens: 1 };
  },
  create(input, options, rng) {
    return new ClassTokenBlock(input as TokenSpec, this.outputSpec(input, options) as TokenSpec, options, rng);
  },
};
