import { z } from 'zod';
import { CompositionError, InvalidArgumentError } from '../errors.js';
import { LayerNorm } from '../nn/norm.js';
import { Block, type BlockDefinition } from '../plugin/types.js';
import type { FeatureSpec, Features, ImageSpec } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { PatchEmbed } from './patch-embed.js';

export interface ConvPatchEmbedOptions {
  /** LayerNorm over the channels after the projection (UniFormer's PatchEmbed), or none. */
  readonly norm?: 'layer' | 'none';
  /** UniFormer's PatchEmbed uses nn.LayerNorm's default 1e-5. */
  readonly normEps?: number;
}

/**
 * A patch embedding that keeps the grid: a p×p, stride-p convolution (`proj`)
 * then an optional LayerNorm over channels (`norm`), image in, image out. As the
 * stem it embeds pixels; between stages it downsamples a feature map by p and
 * changes its width, as UniFormer's patch_embed2-4 (uniformer.py L172-196) and
 * the hierarchical ViTs' stage embeddings do. The convolution runs as
 * patchify + one matmul (PatchEmbed), which trains on wasm's fast path.
 */
export class ConvPatchEmbed extends PatchEmbed {
  readonly norm: LayerNorm | null;

  constructor(patchSize: number, inChannels: number, embedDim: number, rng: Rng, options: ConvPatchEmbedOptions = {}) {
    super(patchSize, inChannels, embedDim, rng);
    const norm = options.norm ?? 'layer';
    if (norm !== 'layer' && norm !== 'none') throw new InvalidArgumentError('norm', norm, "'layer' or 'none'");
    this.norm = norm === 'layer' ? this.addModule('norm', new LayerNorm(embedDim, rng, options.normEps ?? 1e-5)) : null;
  }

  /** [B, H, W, C] → [B, ⌊H/p⌋, ⌊W/p⌋, embedDim]. */
  embedGrid(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, `an NHWC batch with ${this.inChannels} channels`);
    }
    const grid = this.gridSize(x.shape[1], x.shape[2]);
    if (grid.height < 1 || grid.width < 1) throw new CompositionError(`a ${x.shape[1]}x${x.shape[2]} grid is smaller than one ${this.patchSize}x${this.patchSize} patch`);
    return tf.tidy(() => {
      const { tokens } = this.forward(x);
      const normed = this.norm ? this.norm.forward(tokens) : tokens;
      return tf.reshape(normed, [x.shape[0], grid.height, grid.width, this.embedDim]) as tf.Tensor4D;
    });
  }
}

const convPatchEmbedOptions = z.strictObject({
  patchSize: z.number().int().min(1),
  embedDim: z.number().int().min(1),
  norm: z.enum(['layer', 'none']).default('layer'),
  normEps: z.number().positive().default(1e-5),
});
type ConvPatchEmbedBlockOptions = z.infer<typeof convPatchEmbedOptions>;

class ConvPatchEmbedBlock extends Block {
  readonly embed: ConvPatchEmbed;

  constructor(input: ImageSpec, output: ImageSpec, options: ConvPatchEmbedBlockOptions, rng: Rng) {
    super(input, output);
    // Inline: the stage's name is the prefix (UniFormer's `patch_embed2.proj.weight`, `patch_embed2.norm.bias`).
    this.embed = this.addInlineModule(new ConvPatchEmbed(options.patchSize, input.channels, options.embedDim, rng, options));
  }

  forward(x: Features): Features {
    if (x.layout !== 'image') throw new CompositionError(`conv_patch_embed expects an image grid, got ${x.layout}`);
    return { layout: 'image', tensor: this.embed.embedGrid(x.tensor) };
  }
}

function gridOutputSpec(input: FeatureSpec, options: ConvPatchEmbedBlockOptions): ImageSpec {
  if (input.layout !== 'image') throw new CompositionError(`conv_patch_embed takes an image grid, not ${input.layout}`);
  const [height, width] = [Math.floor(input.height / options.patchSize), Math.floor(input.width / options.patchSize)];
  if (height < 1 || width < 1) throw new CompositionError(`patchSize ${options.patchSize} is larger than the ${input.height}x${input.width} grid`);
  return { layout: 'image', height, width, channels: options.embedDim };
}

/** The grid-keeping patch embedding as a block: a stem, or a downsampling embedding between stages. */
export const convPatchEmbedBlock: BlockDefinition<ConvPatchEmbedBlockOptions> = {
  description: 'Patch embedding that keeps the grid: p×p stride-p convolution, then LayerNorm over channels (image → image, downsampled by p)',
  supports: { positions: ['stem', 'transition'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: convPatchEmbedOptions,
  examples: [{ patchSize: 2, embedDim: 8 }, { patchSize: 4, embedDim: 6, norm: 'none' }],
  outputSpec: gridOutputSpec,
  create(input, options, rng) {
    return new ConvPatchEmbedBlock(input as ImageSpec, gridOutputSpec(input, options), options, rng);
  },
};
