import { z } from 'zod';
import { CompositionError } from '../errors.js';
import type { ForwardContext } from '../nn/context.js';
import { Dropout } from '../nn/dropout.js';
import { scaledBy, truncNormal } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { BatchNorm2d, LayerNorm } from '../nn/norm.js';
import { Block, type BlockDefinition } from '../plugin/types.js';
import type { FeatureSpec, Features, VectorSpec } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';

export const classifierOptions = z.strictObject({
  numClasses: z.number().int().min(1),
  /** 'token': the class token (needs one); 'avg': mean of the patch tokens (prefix tokens excluded) or of the image grid. */
  pool: z.enum(['token', 'avg']).default('token'),
  /**
   * Final norm before pooling, named `norm`: 'layer' (ViT's LayerNorm), 'batch'
   * (BatchNorm over the channels, as UniFormer's final BatchNorm2d) or 'none'.
   */
  norm: z.enum(['layer', 'batch', 'none']).default('layer'),
  /** LayerNorm eps (timm's ViTs 1e-6, T2T-ViT 1e-5) or BatchNorm eps. */
  normEps: z.number().positive().default(1e-6),
  /** Dropout before the linear classifier (timm's head_drop). */
  dropRate: z.number().min(0).lt(1).default(0),
  /**
   * Multiplies the classifier's initial weights (and its zero bias): `head_init_scale` of FAN
   * (1e-3 for FAN-L-Hybrid, fan.py) and ConvNeXt, so a large model starts near uniform logits.
   */
  initScale: z.number().positive().default(1),
});
export type ClassifierOptions = z.input<typeof classifierOptions>;

/** Final norm, pooling and a linear classifier (ViT's `norm` and `head`). Tokens or images → logits. */
export class ClassifierHead extends Block {
  readonly norm: LayerNorm | BatchNorm2d | null;
  readonly head: Linear;
  private readonly pool: 'token' | 'avg';
  private readonly drop: Dropout;

  constructor(input: FeatureSpec, output: VectorSpec, options: ClassifierOptions, rng: Rng) {
    super(input, output);
    const o = classifierOptions.parse(options);
    const dim = input.channels;
    this.pool = o.pool;
    this.norm =
      o.norm === 'layer' ? this.addModule('norm', new LayerNorm(dim, rng, o.normEps)) : o.norm === 'batch' ? this.addModule('norm', new BatchNorm2d(dim, rng, o.normEps)) : null;
    this.drop = new Dropout(o.dropRate);
    this.head = this.addModule('head', new Linear(dim, o.numClasses, rng, { weightInit: scaledBy(truncNormal(0.02), o.initScale) }));
  }

  /** Pooled, normalised features [B, C] before the classifier (a BatchNorm takes train or eval from `ctx`). */
  features(x: Features, ctx: ForwardContext): tf.Tensor2D {
    return tf.tidy(() => this.pooled(x, ctx));
  }

  private normed(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (!this.norm) return x;
    if (this.norm instanceof LayerNorm) return this.norm.forward(x);
    if (x.rank === 4) return this.norm.forward(x as tf.Tensor4D, ctx);
    // BatchNorm over the channels of [B, N, C] tokens: the statistics of a [B, N, 1, C] grid.
    const [b, n, c] = x.shape as [number, number, number];
    return tf.reshape(this.norm.forward(tf.reshape(x, [b, n, 1, c]) as tf.Tensor4D, ctx), [b, n, c]);
  }

  private pooled(x: Features, ctx: ForwardContext): tf.Tensor2D {
    if (x.layout === 'vector') return x.tensor;
    const normed = this.normed(x.tensor, ctx);
    if (x.layout === 'image') return tf.mean(normed, [1, 2]) as tf.Tensor2D;
    const [b, n, c] = x.tensor.shape;
    if (this.pool === 'token') return tf.reshape(tf.slice(normed, [0, 0, 0], [b, 1, c]), [b, c]);
    const p = x.numPrefixTokens;
    return tf.mean(tf.slice(normed, [0, p, 0], [b, n - p, c]), 1) as tf.Tensor2D;
  }

  forward(x: Features, ctx: ForwardContext): Features {
    const tensor = tf.tidy(() => this.head.forward(this.drop.forward(this.features(x, ctx), ctx)) as tf.Tensor2D);
    return { layout: 'vector', tensor };
  }
}

export const classifierBlock: BlockDefinition<z.output<typeof classifierOptions>> = {
  description: 'Final LayerNorm or BatchNorm, class-token or average pooling and a linear classifier (tokens or image → logits)',
  supports: { positions: ['head'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['tokens', 'image', 'vector'],
  options: classifierOptions,
  examples: [{ pool: 'avg' }, { pool: 'token', norm: 'none', dropRate: 0.1 }, { pool: 'avg', norm: 'batch', normEps: 1e-5 }],
  outputSpec(input: FeatureSpec, options): VectorSpec {
    if (options.pool === 'token') {
      if (input.layout !== 'tokens' || input.numPrefixTokens < 1) {
        throw new CompositionError(
          `pool 'token' needs a class token, but the features reaching the head are ${input.layout === 'tokens' ? 'tokens without a prefix token' : input.layout}; add a class_token block or use pool 'avg'`,
        );
      }
    }
    return { layout: 'vector', channels: options.numClasses };
  },
  create(input, options, rng) {
    return new ClassifierHead(input, this.outputSpec(input, options) as VectorSpec, options, rng);
  },
};
