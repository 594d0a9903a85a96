import {
  Block,
  CompositionError,
  InvalidArgumentError,
  Linear,
  tf,
  tokens,
  tokensToGrid,
  unfold,
  unfoldGrid,
  z,
  type BlockDefinition,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type Grid,
  type ImageSpec,
  type Rng,
  type TokenSpec,
} from '@tessera/core';
import { TokenPerformer } from './token-performer.js';
import { TokenTransformer } from './token-transformer.js';

export const softSplitSchema = z
  .object({
    kernelSize: z.number().int().min(1),
    stride: z.number().int().min(1),
    padding: z.number().int().min(0),
  })
  .strict();
export type SoftSplit = z.infer<typeof softSplitSchema>;

/** The paper's three soft splits (§3.1, Fig. 4): 7/4/2 on the image, then 3/2/1 twice; 224 px → 56 → 28 → 14. */
export const T2T_SOFT_SPLITS: readonly SoftSplit[] = [
  { kernelSize: 7, stride: 4, padding: 2 },
  { kernelSize: 3, stride: 2, padding: 1 },
  { kernelSize: 3, stride: 2, padding: 1 },
];

export const t2tOptions = z
  .object({
    /** Width of the tokens the module hands on (the backbone's embed_dim); 384 as T2T-ViT-14. */
    embedDim: z.number().int().min(1).default(384),
    /** 'performer' (t2t_vit_*) or 'transformer' (t2t_vit_t_*) re-structurisation layers. */
    tokensType: z.enum(['performer', 'transformer']).default('performer'),
    /** Width of the tokens between soft splits (token_dim, 64 in every released model). */
    tokenDim: z.number().int().min(1).default(64),
    /** Performer random features per channel (m = tokenDim · kernelRatio). */
    kernelRatio: z.number().positive().default(0.5),
    /** Performer dropout (hard-coded 0.1 in the official code; the transformer layers have none). */
    dropRate: z.number().min(0).lt(1).default(0.1),
    /** Soft splits, first on the image; a T2T layer sits between consecutive splits. */
    softSplits: z.array(softSplitSchema).min(1).default(T2T_SOFT_SPLITS.map((s) => ({ ...s }))),
  })
  .strict();
export type T2TOptions = z.input<typeof t2tOptions>;
type ResolvedT2TOptions = z.output<typeof t2tOptions>;

/** The token grid after every soft split of a height×width input, or the reason none fits. */
export function t2tGrids(height: number, width: number, splits: readonly SoftSplit[] = T2T_SOFT_SPLITS): Grid[] {
  const grids: Grid[] = [];
  let grid: Grid = { height, width };
  splits.forEach((split, i) => {
    try {
      grid = unfoldGrid(grid.height, grid.width, split);
    } catch (error) {
      const where = i === 0 ? `the ${height}x${width} image` : `the ${grid.height}x${grid.width} token grid after soft split ${i - 1}`;
      throw new CompositionError(
        `soft split ${i} (kernel ${split.kernelSize}, stride ${split.stride}, padding ${split.padding}) does not fit ${where}: ${(error as Error).message}`,
      );
    }
    grids.push(grid);
  });
  return grids;
}

function outputSpecOf(input: FeatureSpec, options: ResolvedT2TOptions): TokenSpec {
  if (input.layout !== 'image') throw new CompositionError(`t2t takes images, not ${input.layout}`);
  const grids = t2tGrids(input.height, input.width, options.softSplits);
  return { layout: 'tokens', grid: grids[grids.length - 1]!, channels: options.embedDim, numPrefixTokens: 0 };
}

export type T2TLayer = TokenPerformer | TokenTransformer;

/**
 * The Tokens-to-Token module (Yuan et al., ICCV 2021, §3.1): soft split (an
 * overlapping unfold), then alternately a T2T layer on the tokens and a
 * re-structurisation of the tokens into an image for the next soft split, and
 * finally a linear projection to `embedDim`. Image in, tokens with their grid
 * out (no prefix token). State-dict names attention1, attention2, project as in
 * the official checkpoints' `tokens_to_token`.
 */
export class T2TModule extends Block {
  readonly layers: T2TLayer[];
  readonly project: Linear;
  readonly options: ResolvedT2TOptions;
  /** Token grid after each soft split. */
  readonly grids: Grid[];

  constructor(input: ImageSpec, options: T2TOptions, rng: Rng) {
    const o = t2tOptions.parse(options);
    super(input, outputSpecOf(input, o));
    this.options = o;
    this.grids = t2tGrids(input.height, input.width, o.softSplits);
    const splits = o.softSplits;
    this.layers = [];
    for (let i = 0; i + 1 < splits.length; i++) {
      const dim = (i === 0 ? input.channels : o.tokenDim) * splits[i]!.kernelSize ** 2;
      const layer =
        o.tokensType === 'performer'
          ? new TokenPerformer(dim, o.tokenDim, rng, { kernelRatio: o.kernelRatio, dropRate: o.dropRate })
          : new TokenTransformer(dim, o.tokenDim, rng);
      this.layers.push(this.addModule(`attention${i + 1}`, layer));
    }
    const last = splits[splits.length - 1]!;
    const projectIn = (splits.length === 1 ? input.channels : o.tokenDim) * last.kernelSize ** 2;
    this.project = this.addModule('project', new Linear(projectIn, o.embedDim, rng));
  }

  get outputGrid(): Grid {
    return this.grids[this.grids.length - 1]!;
  }

  /**
   * [B, H, W, C] → tokens [B, h·w, embedDim] on the final grid (row-major), with
   * that grid. Any input size the soft splits fit: the grids follow the image.
   */
  tokenizeWithGrid(images: tf.Tensor4D, ctx: ForwardContext): { tokens: tf.Tensor3D; grid: Grid } {
    const spec = this.inputSpec as ImageSpec;
    if (images.rank !== 4 || images.shape[3] !== spec.channels) {
      throw new InvalidArgumentError('images', `a tensor of shape [${images.shape.join(', ')}]`, `an NHWC batch [B, H, W, ${spec.channels}]`);
    }
    const grids =
      images.shape[1] === spec.height && images.shape[2] === spec.width ? this.grids : t2tGrids(images.shape[1], images.shape[2], this.options.softSplits);
    const out = tf.tidy(() => {
      let image = images;
      let soft: tf.Tensor3D | undefined;
      this.options.softSplits.forEach((split, i) => {
        soft = unfold(image, split);
        const layer = this.layers[i];
        if (layer) image = tokensToGrid(tokens(layer.forward(soft, ctx), grids[i]!)).grid;
      });
      return this.project.forward(soft!) as tf.Tensor3D;
    });
    return { tokens: out, grid: grids[grids.length - 1]! };
  }

  /** [B, H, W, C] → tokens [B, h·w, embedDim] on the final grid (row-major). */
  tokenize(images: tf.Tensor4D, ctx: ForwardContext): tf.Tensor3D {
    return this.tokenizeWithGrid(images, ctx).tokens;
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'image') throw new CompositionError(`t2t expects images, got ${x.layout}`);
    const { tokens: out, grid } = this.tokenizeWithGrid(x.tensor, ctx);
    return { layout: 'tokens', tensor: out, grid, numPrefixTokens: 0 };
  }
}

export const t2tBlock: BlockDefinition<ResolvedT2TOptions> = {
  description: 'Tokens-to-Token stem of T2T-ViT: soft splits (7/4/2, 3/2/1, 3/2/1) with performer or transformer re-structurisation, then a linear projection (image → tokens)',
  supports: { positions: ['stem'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: t2tOptions,
  examples: [
    { embedDim: 16, tokenDim: 8 },
    { embedDim: 12, tokenDim: 4, tokensType: 'transformer', softSplits: [{ kernelSize: 3, stride: 2, padding: 1 }, { kernelSize: 3, stride: 2, padding: 1 }] },
  ],
  outputSpec: outputSpecOf,
  create(input, options, rng) {
    return new T2TModule(input as ImageSpec, options, rng);
  },
};
