import { BatchNorm2d, Block, CompositionError, Dropout, Linear, z, type FeatureSpec, type Features, type ForwardContext, type ImageSpec, type Rng, type VectorSpec, tf } from '@tessera/core';

export const headOptions = z
  .object({
    numClasses: z.number().int().min(1),
    dropRate: z.number().min(0).lt(1).default(0),
    normEps: z.number().positive().default(1e-5),
  })
  .strict();
export type HeadOptions = z.input<typeof headOptions>;

/**
 * UniFormer's classifier (uniformer.py L305-327): BatchNorm over the last stage's
 * channels (`norm`), global average pooling, then Linear (`head`). NHWC grid → logits.
 */
export class UniFormerHead extends Block {
  readonly norm: BatchNorm2d;
  readonly head: Linear;
  private readonly drop: Dropout;

  constructor(input: ImageSpec, output: VectorSpec, options: HeadOptions, rng: Rng) {
    super(input, output);
    const o = headOptions.parse(options);
    this.norm = this.addModule('norm', new BatchNorm2d(input.channels, rng, o.normEps));
    this.head = this.addModule('head', new Linear(input.channels, o.numClasses, rng));
    this.drop = new Dropout(o.dropRate);
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'image') throw new CompositionError(`uniformer_head expects an image grid, got ${x.layout}`);
    const tensor = tf.tidy(() => {
      const pooled = tf.mean(this.norm.forward(x.tensor, ctx), [1, 2]);
      return this.head.forward(this.drop.forward(pooled, ctx)) as tf.Tensor2D;
    });
    return { layout: 'vector', tensor };
  }
}

export function headOutputSpec(input: FeatureSpec, options: { numClasses: number }): VectorSpec {
  if (input.layout !== 'image') throw new CompositionError(`uniformer_head takes an image grid, not ${input.layout}`);
  return { layout: 'vector', channels: options.numClasses };
}
