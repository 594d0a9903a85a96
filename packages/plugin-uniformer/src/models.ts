import { IMAGENET_MEAN, IMAGENET_STD, modelOptions, parseModelOptions, z, type ModelDefinition, type ModelOptions, type ModelSpecInput } from '@tessera/core';

const PAPER = 'Li et al., UniFormer: Unified Transformer for Efficient Spatiotemporal Representation Learning / Unifying Convolution and Self-attention for Visual Recognition, ICLR 2022';

/** One UniFormer configuration (the factory functions of uniformer.py L330-380). */
export interface UniFormerConfig {
  readonly depths: readonly [number, number, number, number];
  readonly dims: readonly [number, number, number, number];
  /** Width of one attention head in stages 3-4 (heads = dim / headDim). */
  readonly headDim: number;
  readonly mlpRatio: number;
  /** Overlapping 3×3 stride-2 conv stems (`conv_stem=True`) instead of p×p patch embeddings. */
  readonly convStem: boolean;
  /** LayerScale γ initial value in the global blocks (`_ls` models), or null. */
  readonly layerScale: number | null;
}

export const uniformerModelOptions = modelOptions.extend({
  /** Override the configuration's head width (the token-labelling checkpoints use 32; upstream #128). */
  headDim: z.number().int().min(1).optional(),
});

/**
 * The spec of a UniFormer: four stages, each behind its own embedding
 * (`patch_embed1`…`patch_embed4`), local blocks in stages 1-2 (`blocks1`,
 * `blocks2`), global blocks in stages 3-4, then BN, average pool and Linear
 * (`norm`, `head`). Drop path rises linearly over all blocks of all stages.
 */
export function uniformerSpec(name: string, config: UniFormerConfig, options: ModelOptions = {}): ModelSpecInput {
  const o = parseModelOptions(uniformerModelOptions, name, options);
  const [d1, d2, d3, d4] = config.dims;
  const headDim = o.headDim ?? config.headDim;
  const dropRate = o.dropRate ?? 0;
  const embed = (i: number, dim: number) =>
    config.convStem
      ? i === 1
        ? // head_embedding: conv to out_channels // 2, BN, GELU, conv to out_channels, BN
          { block: 'conv_stem', name: 'patch_embed1', options: { channels: [Math.floor(dim / 2), dim], activation: 'gelu' } }
        : { block: 'conv_stem', name: `patch_embed${i}`, options: { channels: [dim], activation: 'none' } }
      : { block: 'conv_patch_embed', name: `patch_embed${i}`, options: { patchSize: i === 1 ? 4 : 2, embedDim: dim } };
  const local = (i: number, depth: number) => ({ block: 'uniformer_local', name: `blocks${i}`, depth, options: { mlpRatio: config.mlpRatio, dropRate } });
  const global = (i: number, depth: number) => ({
    block: 'uniformer_global',
    name: `blocks${i}`,
    depth,
    options: { headDim, mlpRatio: config.mlpRatio, dropRate, attnDropRate: o.attnDropRate ?? 0, layerScale: config.layerScale },
  });
  return {
    name,
    imgSize: o.imgSize ?? 224,
    inChannels: o.inChannels ?? 3,
    numClasses: o.numClasses ?? 1000,
    mean: [...IMAGENET_MEAN] as [number, number, number],
    std: [...IMAGENET_STD] as [number, number, number],
    interpolation: 'bicubic',
    cropPct: 0.9,
    dropPathRate: o.dropPathRate ?? 0,
    dropPathSchedule: 'linear',
    seed: o.seed ?? 0,
    stem: embed(1, d1),
    stages: [local(1, config.depths[0]), embed(2, d2), local(2, config.depths[1]), embed(3, d3), global(3, config.depths[2]), embed(4, d4), global(4, config.depths[3])],
    // `norm` (BatchNorm2d), global average pool, `head` (uniformer.py L305-327): core's classifier.
    head: { block: 'classifier', name: '', options: { pool: 'avg', norm: 'batch', normEps: 1e-5, dropRate } },
  };
}

function uniformer(name: string, description: string, config: UniFormerConfig): ModelDefinition {
  return { description, paper: PAPER, spec: (options: ModelOptions) => uniformerSpec(name, config, options) };
}

const SMALL = { dims: [64, 128, 320, 512], mlpRatio: 4, layerScale: null } as const;

/** The five ImageNet-1k configurations of image_classification/models/uniformer.py. */
export const uniformerModels: Record<string, ModelDefinition> = {
  uniformer_small: uniformer('uniformer_small', 'UniFormer-S: depths 3-4-8-3, widths 64-128-320-512, head_dim 64, patch stems', { ...SMALL, depths: [3, 4, 8, 3], headDim: 64, convStem: false }),
  uniformer_small_plus: uniformer('uniformer_small_plus', 'UniFormer-S†: depths 3-5-9-3, conv stems, head_dim 32 (upstream #16)', { ...SMALL, depths: [3, 5, 9, 3], headDim: 32, convStem: true }),
  uniformer_small_plus_dim64: uniformer('uniformer_small_plus_dim64', 'UniFormer-S† with head_dim 64: depths 3-5-9-3, conv stems', { ...SMALL, depths: [3, 5, 9, 3], headDim: 64, convStem: true }),
  uniformer_base: uniformer('uniformer_base', 'UniFormer-B: depths 5-8-20-7, widths 64-128-320-512, head_dim 64, patch stems', { ...SMALL, depths: [5, 8, 20, 7], headDim: 64, convStem: false }),
  uniformer_base_ls: uniformer('uniformer_base_ls', 'UniFormer-B with LayerScale (γ init 1e-6) in the global blocks', { ...SMALL, depths: [5, 8, 20, 7], headDim: 64, convStem: false, layerScale: 1e-6 }),
};
