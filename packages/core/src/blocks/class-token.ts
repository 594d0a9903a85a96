import { z } from 'zod';
import { CompositionError } from '../errors.js';
import type { ForwardContext } from '../nn/context.js';
import { Dropout } from '../nn/dropout.js';
import { sinusoidPositionEmbedding } from '../nn/position.js';
import { Block, type BlockDefinition } from '../plugin/types.js';
import { resamplePosEmbed } from '../ops/resample-pos-embed.js';
import type { FeatureSpec, Features, Grid, TokenSpec } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { positionEmbeddingInit } from './patch-embed.js';

export const classTokenOptions = z.strictObject({
  /**
   * Position embedding over [prefix tokens, patches]: 'learned' (ViT/DeiT, trained),
   * 'sinusoid' (T2T-ViT's fixed 1-D table, a frozen parameter: saved and counted,
   * not trained) or 'none'.
   */
  posEmbed: z.enum(['learned', 'sinusoid', 'none']).default('learned'),
  /** A second prefix token after the class token (DeiT's distillation token, timm's `dist_token`). */
  distToken: z.boolean().default(false),
  /** Dropout after the position embedding (timm's `pos_drop`). */
  dropRate: z.number().min(0).lt(1).default(0),
});
export type ClassTokenOptions = z.input<typeof classTokenOptions>;

/**
 * Prepends a learned class token (and a distillation token when asked) and adds
 * the position embedding to the whole sequence: timm's `cls_token`, `dist_token`,
 * `pos_embed` and `pos_drop`. Put it after any stem so that class-token heads and
 * TransMix work on that model.
 */
export class ClassTokenBlock extends Block {
  readonly clsToken: tf.Variable;
  readonly distToken: tf.Variable | null;
  readonly posEmbed: tf.Variable | null;
  private readonly drop: Dropout;

  constructor(input: TokenSpec, output: TokenSpec, options: ClassTokenOptions, rng: Rng) {
    super(input, output);
    const o = classTokenOptions.parse(options);
    const dim = input.channels;
    const n = output.numPrefixTokens + input.grid.height * input.grid.width;
    this.clsToken = this.addParameter('cls_token', positionEmbeddingInit([1, 1, dim], rng), { weightDecay: false });
    this.distToken = o.distToken ? this.addParameter('dist_token', positionEmbeddingInit([1, 1, dim], rng), { weightDecay: false }) : null;
    this.posEmbed =
      o.posEmbed === 'learned'
        ? this.addParameter('pos_embed', positionEmbeddingInit([1, n, dim], rng), { weightDecay: false })
        : o.posEmbed === 'sinusoid'
          ? this.addParameter('pos_embed', sinusoidPositionEmbedding(n, dim), { trainable: false, weightDecay: false })
          : null;
    this.drop = new Dropout(o.dropRate);
  }

  /**
   * The position embedding for a grid: the stored one, or for another grid (another
   * input size, a per-call patch size) the stored one resampled as timm's
   * dynamic-size ViTs do (resample_abs_pos_embed: bicubic, antialias), prefix rows
   * kept. Differentiable, so the stored embedding trains at any size.
   */
  positionEmbedding(grid: Grid): tf.Tensor | null {
    if (!this.posEmbed) return null;
    const stored = (this.inputSpec as TokenSpec).grid;
    if (grid.height === stored.height && grid.width === stored.width) return this.posEmbed;
    return resamplePosEmbed(this.posEmbed, grid, { from: stored, numPrefixTokens: (this.outputSpec as TokenSpec).numPrefixTokens });
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'tokens') throw new CompositionError(`class_token expects tokens, got ${x.layout}`);
    const b = x.tensor.shape[0];
    const prefix = this.distToken ? [this.clsToken, this.distToken] : [this.clsToken];
    const tensor = tf.tidy(() => {
      const withPrefix = tf.concat([...prefix.map((t) => tf.tile(t, [b, 1, 1])), x.tensor], 1);
      const posEmbed = this.positionEmbedding(x.grid);
      const positioned = posEmbed ? tf.add(withPrefix, posEmbed) : withPrefix;
      return this.drop.forward(positioned, ctx) as tf.Tensor3D;
    });
    return { layout: 'tokens', tensor, grid: x.grid, numPrefixTokens: prefix.length };
  }
}

export const classTokenBlock: BlockDefinition<z.output<typeof classTokenOptions>> = {
  description: 'Prepends a class token (and optionally a distillation token) and adds a learned, sinusoid or no position embedding (tokens → tokens + prefix)',
  supports: { positions: ['stage'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['tokens'],
  options: classTokenOptions,
  examples: [{}, { posEmbed: 'none' }, { posEmbed: 'sinusoid', distToken: true, dropRate: 0.1 }],
  outputSpec(input: FeatureSpec, options): TokenSpec {
    if (input.layout !== 'tokens') throw new CompositionError(`class_token takes tokens, not ${input.layout}`);
    if (input.numPrefixTokens !== 0) {
      throw new CompositionError(`class_token must come before any other prefix token; the input already has ${input.numPrefixTokens}`);
    }
    return { ...input, numPrefixTokens: options.distToken ? 2 : 1 };
  },
  create(input, options, rng) {
    return new ClassTokenBlock(input as TokenSpec, this.outputSpec(input, options) as TokenSpec, options, rng);
  },
};
