import { z } from 'zod';
import { CompositionError } from '../errors.js';
import type { ForwardContext } from '../nn/context.js';
import { ConvNormAct } from '../nn/conv-norm-act.js';
import { convOutputSize } from '../nn/conv.js';
import { Block, type BlockDefinition } from '../plugin/types.js';
import type { FeatureSpec, Features, ImageSpec } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';

const convStemOptions = z.strictObject({
  /** Output channels of each convolution; the last is the stem's width. */
  channels: z.array(z.number().int().min(1)).min(1),
  kernelSize: z.number().int().min(1).default(3),
  stride: z.number().int().min(1).default(2),
  /** Default kernelSize // 2. */
  padding: z.number().int().min(0).optional(),
  bias: z.boolean().default(true),
  norm: z.enum(['batch', 'none']).default('batch'),
  normEps: z.number().positive().default(1e-5),
  activation: z.enum(['gelu', 'relu', 'none']).default('gelu'),
  finalActivation: z.boolean().default(false),
});
type ConvStemOptions = z.infer<typeof convStemOptions>;

class ConvStemBlock extends Block {
  readonly stem: ConvNormAct;

  constructor(input: ImageSpec, output: ImageSpec, options: ConvStemOptions, rng: Rng) {
    super(input, output);
    // Inline: the stage's name is the prefix (UniFormer's `patch_embed1.proj.0.weight`).
    this.stem = this.addInlineModule(new ConvNormAct(input.channels, rng, options));
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'image') throw new CompositionError(`conv_stem expects images, got ${x.layout}`);
    return { layout: 'image', tensor: this.stem.forward(x.tensor, ctx) };
  }
}

/** The grid after every convolution of the stack, or a CompositionError saying which one has nothing left. */
function stemOutputSpec(input: FeatureSpec, options: ConvStemOptions): ImageSpec {
  if (input.layout !== 'image') throw new CompositionError(`conv_stem takes images, not ${input.layout}`);
  const padding = options.padding ?? Math.floor(options.kernelSize / 2);
  let [height, width] = [input.height, input.width];
  options.channels.forEach((_, i) => {
    [height, width] = [convOutputSize(height, options.kernelSize, options.stride, padding), convOutputSize(width, options.kernelSize, options.stride, padding)];
    if (height < 1 || width < 1) throw new CompositionError(`convolution ${i + 1} of ${options.channels.length} leaves no pixels of the ${input.height}x${input.width} input`);
  });
  return { layout: 'image', height, width, channels: options.channels[options.channels.length - 1]! };
}

/**
 * Conv → BatchNorm → activation stacks (ConvNormAct), as the stem of any model or
 * as a downsampling embedding between stages: UniFormer's conv stem is
 * `{ channels: [C/2, C] }`, its between-stage embedding `{ channels: [C], activation: 'none' }`.
 */
export const convStemBlock: BlockDefinition<ConvStemOptions> = {
  description: 'Conv–norm–activation stem: k×k strided convolutions, each with BatchNorm and an activation between them (image → image)',
  supports: { positions: ['stem', 'transition'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: convStemOptions,
  examples: [{ channels: [4, 8] }, { channels: [6], activation: 'none' }, { channels: [4], stride: 1, activation: 'relu', finalActivation: true }],
  outputSpec: stemOutputSpec,
  create(input, options, rng) {
    return new ConvStemBlock(input as ImageSpec, stemOutputSpec(input, options), options, rng);
  },
};
