import { z } from 'zod';
import { CompositionError, checkInteger } from '../errors.js';
import { Conv2d } from '../nn/conv.js';
import { truncNormal } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { linear } from '../ops/linear.js';
import { Block, type BlockDefinition } from '../plugin/types.js';
import type { FeatureSpec, Features, ImageSpec, TokenSpec } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';

/**
 * ViT's patch embedding: a p×p, stride-p convolution (timm's `patch_embed.proj`),
 * computed as patchify + one matmul. The two are the same arithmetic, but the
 * matmul form trains on every backend's fast path (tfjs-wasm has no fast
 * convolution-filter gradient). Rows and columns that do not fill a whole patch
 * are dropped, as the strided convolution does.
 */
export class PatchEmbed extends Module {
  readonly proj: Conv2d;

  constructor(
    readonly patchSize: number,
    readonly inChannels: number,
    readonly embedDim: number,
    rng: Rng,
  ) {
    super();
    checkInteger('patchSize', patchSize, 1);
    this.proj = this.addModule('proj', new Conv2d(inChannels, embedDim, patchSize, rng, { stride: patchSize }));
  }

  gridSize(height: number, width: number): { height: number; width: number } {
    return { height: Math.floor(height / this.patchSize), width: Math.floor(width / this.patchSize) };
  }

  /** [B, H, W, C] → [B, h·w, D] with the grid, row-major. */
  forward(images: tf.Tensor4D): { tokens: tf.Tensor3D; grid: { height: number; width: number } } {
    const [b, height, width, c] = images.shape;
    const p = this.patchSize;
    const grid = this.gridSize(height, width);
    if (grid.height < 1 || grid.width < 1) {
      throw new CompositionError(`a ${height}x${width} image is smaller than one ${p}x${p} patch`);
    }
    const tokens = tf.tidy(() => {
      const cropped =
        grid.height * p === height && grid.width * p === width
          ? images
          : tf.slice(images, [0, 0, 0, 0], [b, grid.height * p, grid.width * p, c]);
      // [B, h, p, w, p, C] → [B, h, w, p, p, C]: each patch flattened in the kernel's HWI order.
      const patches = tf.reshape(
        tf.transpose(tf.reshape(cropped, [b, grid.height, p, grid.width, p, c]), [0, 1, 3, 2, 4, 5]),
        [b * grid.height * grid.width, p * p * c],
      );
      const w2d = tf.reshape(this.proj.weight, [p * p * c, this.embedDim]) as tf.Tensor2D;
      return tf.reshape(linear(patches, w2d, this.proj.bias as tf.Tensor1D | null), [b, grid.height * grid.width, this.embedDim]) as tf.Tensor3D;
    });
    return { tokens, grid };
  }
}

const patchEmbedOptions = z.strictObject({
  patchSize: z.number().int().min(1),
  embedDim: z.number().int().min(1),
});
type PatchEmbedOptions = z.infer<typeof patchEmbedOptions>;

class PatchEmbedBlock extends Block {
  readonly embed: PatchEmbed;

  constructor(input: ImageSpec, output: TokenSpec, options: PatchEmbedOptions, rng: Rng) {
    super(input, output);
    // Inline: the stage's name is the prefix (`patch_embed.proj.weight` in a stage named 'patch_embed').
    this.embed = this.addInlineModule(new PatchEmbed(options.patchSize, input.channels, options.embedDim, rng));
  }

  forward(x: Features): Features {
    if (x.layout !== 'image') throw new CompositionError(`patch_embed expects images, got ${x.layout}`);
    const { tokens, grid } = this.embed.forward(x.tensor);
    return { layout: 'tokens', tensor: tokens, grid, numPrefixTokens: 0 };
  }
}

export const patchEmbedBlock: BlockDefinition<PatchEmbedOptions> = {
  description: 'ViT patch embedding: non-overlapping p×p patches projected to embedDim (image → tokens)',
  supports: { positions: ['stem', 'transition'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: patchEmbedOptions,
  examples: [{ patchSize: 4, embedDim: 8 }, { patchSize: 2, embedDim: 6 }],
  outputSpec(input: FeatureSpec, options: PatchEmbedOptions): TokenSpec {
    if (input.layout !== 'image') throw new CompositionError(`patch_embed takes images, not ${input.layout}`);
    const grid = { height: Math.floor(input.height / options.patchSize), width: Math.floor(input.width / options.patchSize) };
    if (grid.height < 1 || grid.width < 1) {
      throw new CompositionError(`patchSize ${options.patchSize} is larger than the ${input.height}x${input.width} input`);
    }
    return { layout: 'tokens', grid, channels: options.embedDim, numPrefixTokens: 0 };
  },
  create(input, options, rng) {
    return new PatchEmbedBlock(input as ImageSpec, this.outputSpec(input, options) as TokenSpec, options, rng);
  },
};

/** Learned position embedding initialiser shared by ViT and the class-token block (timm: trunc normal 0.02). */
export const positionEmbeddingInit = truncNormal(0.02);

