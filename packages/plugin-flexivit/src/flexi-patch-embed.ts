import {
  Block,
  checkInteger,
  CompositionError,
  Conv2d,
  InvalidArgumentError,
  linear,
  Module,
  PATCH_RESAMPLE_PRESETS,
  resamplePatchEmbed,
  truncNormal,
  z,
  type BlockDefinition,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type Grid,
  type ImageSpec,
  type Initializer,
  type Rng,
  type TokenSpec,
  tf,
} from '@tessera/core';
import { resampleGridEmbedding } from './position.js';

/**
 * The two published conventions of a flexible patch embedding.
 * - `big_vision` (the paper's code, `flexi/vit.py`): kernel and position table
 *   initialised normal(1/√D); the position table is resized with antialias when
 *   shrinking (`jax.image.resize(..., 'linear')`).
 * - `timm` (`vision_transformer.py` flexivit_*, `no_embed_class=True`): position
 *   table trunc-normal(0.02), resized bilinearly without antialias, as timm's
 *   checkpoint filter for FlexiViT does.
 * Both PI-resize the kernel through a bilinear, non-antialiased patch resize
 * (big_vision: `tf.image.resize(method='bilinear')`; timm: `interpolation='bilinear',
 * antialias=False`), and neither gives the class token a position embedding.
 */
export const FLEXI_CONVENTIONS = ['big_vision', 'timm'] as const;
export type FlexiConvention = (typeof FLEXI_CONVENTIONS)[number];

const gridSize = z.union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])]);

export const flexiPatchEmbedOptions = z.strictObject({
  /** Patch size of a call that does not override it; `overrides: { [stage]: { patchSize } }` changes it per call. */
  patchSize: z.number().int().min(1),
  embedDim: z.number().int().min(1),
  /** Side of the stored kernel every call is PI-resized from (FlexiViT's released checkpoints: 32). */
  kernelSize: z.number().int().min(1).default(32),
  /** Learned position embedding added to the patch tokens, stored on `posEmbedGrid` and resampled per call. */
  posEmbed: z.enum(['learned', 'none']).default('learned'),
  posEmbedGrid: gridSize.default(7),
  convention: z.enum(FLEXI_CONVENTIONS).default('big_vision'),
});
export type FlexiPatchEmbedOptions = z.input<typeof flexiPatchEmbedOptions>;
type ResolvedOptions = z.infer<typeof flexiPatchEmbedOptions>;

function toGrid(size: number | readonly [number, number]): Grid {
  return typeof size === 'number' ? { height: size, width: size } : { height: size[0], width: size[1] };
}

/** Tokens per axis for a patch size: whole patches only, as a VALID stride-p convolution (big_vision p = n // s). */
export function flexiGrid(height: number, width: number, patchSize: number): Grid {
  return { height: Math.floor(height / patchSize), width: Math.floor(width / patchSize) };
}

/**
 * FlexiViT's patch embedding (Beyer et al. 2023, §3.4): one stored kernel
 * `proj.weight` at `kernelSize`, PI-resized to the requested patch size on every
 * call (never from an already resized copy: resizes do not chain), so the
 * gradient of every step lands in the stored kernel. `proj` is a Conv2d for its
 * PyTorch names and OIHW layout only; the embedding itself is patchify + matmul.
 */
export class FlexiPatchEmbed extends Module {
  readonly proj: Conv2d;

  constructor(
    readonly kernelSize: number,
    readonly inChannels: number,
    readonly embedDim: number,
    rng: Rng,
    weightInit?: Initializer,
  ) {
    super();
    checkInteger('kernelSize', kernelSize, 1);
    this.proj = this.addModule(
      'proj',
      new Conv2d(inChannels, embedDim, kernelSize, rng, { stride: kernelSize, ...(weightInit ? { weightInit } : {}) }),
    );
  }

  /** The stored kernel PI-resized to p×p (HWIO [p, p, in, out]). */
  kernelFor(patchSize: number): tf.Tensor4D {
    return resamplePatchEmbed(this.proj.weight, patchSize, PATCH_RESAMPLE_PRESETS.timm);
  }

  /** [B, H, W, C] → [B, h·w, D] at patch size p; rows and columns short of a whole patch are dropped. */
  forward(images: tf.Tensor4D, patchSize: number): { tokens: tf.Tensor3D; grid: Grid } {
    checkInteger('patchSize', patchSize, 1);
    const [b, height, width, c] = images.shape;
    const p = patchSize;
    const grid = flexiGrid(height, width, p);
    if (grid.height < 1 || grid.width < 1) {
      throw new InvalidArgumentError('patchSize', patchSize, `at most ${Math.min(height, width)} for a ${height}x${width} input`);
    }
    const tokens = tf.tidy(() => {
      const cropped =
        grid.height * p === height && grid.width * p === width ? images : tf.slice(images, [0, 0, 0, 0], [b, grid.height * p, grid.width * p, c]);
      // [B, h, p, w, p, C] → [B·h·w, p·p·C]: each patch flattened in the kernel's HWI order.
      const patches = tf.reshape(tf.transpose(tf.reshape(cropped, [b, grid.height, p, grid.width, p, c]), [0, 1, 3, 2, 4, 5]), [b * grid.height * grid.width, p * p * c]);
      const kernel = tf.reshape(this.kernelFor(p), [p * p * c, this.embedDim]) as tf.Tensor2D;
      return tf.reshape(linear(patches, kernel, this.proj.bias as tf.Tensor1D | null), [b, grid.height * grid.width, this.embedDim]) as tf.Tensor3D;
    });
    return { tokens, grid };
  }
}

/** The patch size of this call: the stage's `patchSize` override (checked by FlexiPatchEmbed.forward), else the spec's. */
function callPatchSize(ctx: ForwardContext, fallback: number): number {
  const value = ctx.overrides?.patchSize;
  return value === undefined ? fallback : (value as number);
}

class FlexiPatchEmbedBlock extends Block {
  readonly embed: FlexiPatchEmbed;
  readonly posEmbed: tf.Variable | null;
  readonly posGrid: Grid;

  constructor(
    input: ImageSpec,
    output: TokenSpec,
    readonly options: ResolvedOptions,
    rng: Rng,
  ) {
    super(input, output);
    const dim = options.embedDim;
    const bigVision = options.convention === 'big_vision';
    // big_vision: normal(1/√D) for both (`Patchify`, `vit.get_posemb`); timm: PyTorch's conv init and trunc-normal(0.02).
    const normal: Initializer = (shape, r) => {
      const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < values.length; i++) values[i] = r.normal() / Math.sqrt(dim);
      return tf.tensor(values, shape);
    };
    this.embed = this.addModule('patch_embed', new FlexiPatchEmbed(options.kernelSize, input.channels, dim, rng, bigVision ? normal : undefined));
    this.posGrid = toGrid(options.posEmbedGrid);
    this.posEmbed =
      options.posEmbed === 'learned'
        ? this.addParameter('pos_embed', (bigVision ? normal : truncNormal(0.02))([1, this.posGrid.height * this.posGrid.width, dim], rng), { weightDecay: false })
        : null;
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'image') throw new CompositionError(`flexi_patch_embed expects images, got ${x.layout}`);
    const patchSize = callPatchSize(ctx, this.options.patchSize);
    const { tokens, grid } = this.embed.forward(x.tensor, patchSize);
    if (!this.posEmbed) return { layout: 'tokens', tensor: tokens, grid, numPrefixTokens: 0 };
    const tensor = tf.tidy(() => {
      const pos = resampleGridEmbedding(this.posEmbed!, this.posGrid, grid, this.options.convention === 'big_vision');
      return tf.add(tokens, pos) as tf.Tensor3D;
    });
    tokens.dispose();
    return { layout: 'tokens', tensor, grid, numPrefixTokens: 0 };
  }
}

export const flexiPatchEmbedBlock: BlockDefinition<ResolvedOptions> = {
  description:
    'FlexiViT flexible patch embedding: a stored kernel PI-resized to any patch size per call (overridable patchSize) plus a learned position embedding resampled to the grid (image → tokens)',
  supports: { positions: ['stem'], dropPath: false, attention: false, dynamicGrid: true, overridable: ['patchSize'] },
  accepts: ['image'],
  options: flexiPatchEmbedOptions,
  examples: [
    { patchSize: 4, embedDim: 8, kernelSize: 8, posEmbedGrid: 3 },
    { patchSize: 2, embedDim: 6, kernelSize: 4, posEmbedGrid: [2, 3], convention: 'timm' },
    { patchSize: 4, embedDim: 8, kernelSize: 4, posEmbed: 'none' },
  ],
  outputSpec(input: FeatureSpec, options: ResolvedOptions): TokenSpec {
    if (input.layout !== 'image') throw new CompositionError(`flexi_patch_embed takes images, not ${input.layout}`);
    const grid = flexiGrid(input.height, input.width, options.patchSize);
    if (grid.height < 1 || grid.width < 1) {
      throw new CompositionError(`patchSize ${options.patchSize} is larger than the ${input.height}x${input.width} input`);
    }
    return { layout: 'tokens', grid, channels: options.embedDim, numPrefixTokens: 0 };
  },
  create(input, options, rng) {
    const resolved = flexiPatchEmbedOptions.parse(options);
    return new FlexiPatchEmbedBlock(input as ImageSpec, this.outputSpec(input, resolved) as TokenSpec, resolved, rng);
  },
};
