import {
  InvalidArgumentError,
  modelOptions,
  parseModelOptions,
  resamplePatchEmbed,
  PATCH_RESAMPLE_PRESETS,
  StateDictError,
  tf,
  z,
  type ModelDefinition,
  type ModelOptions,
  type ModelSpecInput,
  type VisionModel,
} from '@tessera/core';
import { FLEXI_CONVENTIONS } from './flexi-patch-embed.js';
import { resampleGridEmbedding } from './position.js';

const PAPER = 'Beyer et al., FlexiViT: One Model for All Patch Sizes, CVPR 2023';

/** timm's pretrained cfg for every flexivit_* model (vision_transformer.py default_cfgs). */
export const FLEXIVIT_DEFAULTS = {
  imgSize: 240,
  patchSize: 16,
  numClasses: 1000,
  mean: [0.5, 0.5, 0.5] as [number, number, number],
  std: [0.5, 0.5, 0.5] as [number, number, number],
  interpolation: 'bicubic' as const,
  cropPct: 0.95,
};

/** The ten patch sizes of the paper at 240 px (seqhw 30…5, shared/docs/papers.md §4.1). */
export const PAPER_PATCH_SIZES = [8, 10, 12, 15, 16, 20, 24, 30, 40, 48] as const;

// No attention dropout: timm's FlexiViT configs set none, and the flexivit_* specs do not pass one.
const flexiModelOptions = modelOptions.omit({ attnDropRate: true }).extend({
  /** Patch size of a call without an override (timm's `patch_size`, default 16). */
  patchSize: z.number().int().min(1).optional(),
  /** 'timm' (default): the kernel is stored at patchSize and the position table on the img/patch grid, as timm's models. 'big_vision': 32 and 7×7, as the released .npz files. */
  convention: z.enum(FLEXI_CONVENTIONS).optional(),
  kernelSize: z.number().int().min(1).optional(),
  posEmbedGrid: z.union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])]).optional(),
});

interface FlexiConfig {
  readonly embedDim: number;
  readonly depth: number;
  readonly numHeads: number;
}

function flexiSpec(name: string, config: FlexiConfig, options: ModelOptions): ModelSpecInput {
  const o = parseModelOptions(flexiModelOptions, name, options);
  const imgSize = o.imgSize ?? FLEXIVIT_DEFAULTS.imgSize;
  const [height, width] = typeof imgSize === 'number' ? [imgSize, imgSize] : imgSize;
  const patchSize = o.patchSize ?? FLEXIVIT_DEFAULTS.patchSize;
  if (patchSize > Math.min(height, width)) {
    throw new InvalidArgumentError(`${name} option patchSize`, patchSize, `at most the input size (${height}x${width})`);
  }
  const convention = o.convention ?? 'timm';
  const timm = convention === 'timm';
  const grid: [number, number] = [Math.floor(height / patchSize), Math.floor(width / patchSize)];
  return {
    name,
    imgSize,
    inChannels: o.inChannels ?? 3,
    numClasses: o.numClasses ?? FLEXIVIT_DEFAULTS.numClasses,
    mean: FLEXIVIT_DEFAULTS.mean,
    std: FLEXIVIT_DEFAULTS.std,
    interpolation: FLEXIVIT_DEFAULTS.interpolation,
    cropPct: FLEXIVIT_DEFAULTS.cropPct,
    dropPathRate: o.dropPathRate ?? 0,
    seed: o.seed ?? 0,
    stem: {
      block: 'flexi_patch_embed',
      name: '',
      options: {
        patchSize,
        embedDim: config.embedDim,
        kernelSize: o.kernelSize ?? (timm ? patchSize : 32),
        posEmbedGrid: o.posEmbedGrid ?? (timm ? grid : 7),
        convention,
      },
    },
    stages: [
      // no_embed_class: the class token is prepended after the position embedding and gets none.
      { block: 'class_token', name: '', options: { posEmbed: 'none', dropRate: o.dropRate ?? 0 } },
      { block: 'transformer', name: 'blocks', depth: config.depth, options: { numHeads: config.numHeads, dropRate: o.dropRate ?? 0 } },
    ],
    head: { block: 'classifier', name: '', options: { numClasses: o.numClasses ?? FLEXIVIT_DEFAULTS.numClasses, pool: 'token', norm: 'layer' } },
  };
}

function parameterShape(model: VisionModel, key: string): number[] | undefined {
  return model.namedParameters().find(([name]) => name === key)?.[1].variable.shape;
}

/**
 * timm's `checkpoint_filter_fn` as `_create_vision_transformer` binds it for
 * 'flexi' variants (interpolation='bilinear', antialias=False): a state dict in
 * PyTorch names and layouts whose patch kernel or position table has another size
 * is PI-resized (`resample_patch_embed`) and resampled (`resample_abs_pos_embed`,
 * no prefix rows since no_embed_class) to this model's stored sizes.
 */
export function flexiCheckpointFilter(stateDict: Record<string, tf.Tensor>, model: VisionModel): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(stateDict)) {
    const target = parameterShape(model, key);
    if (key.endsWith('patch_embed.proj.weight') && target && value.rank === 4) {
      // Model kernel HWIO [k, k, in, out]; the checkpoint's is OIHW.
      const [kh, kw] = target as [number, number];
      if (value.shape[2] !== kh || value.shape[3] !== kw) {
        out[key] = tf.tidy(() => tf.transpose(resamplePatchEmbed(tf.transpose(value, [2, 3, 1, 0]), [kh, kw], PATCH_RESAMPLE_PRESETS.timm), [3, 2, 0, 1]));
        continue;
      }
    } else if (key.endsWith('pos_embed') && target && value.rank === 3 && value.shape[1] !== target[1]) {
      const from = Math.round(Math.sqrt(value.shape[1]!));
      const to = Math.round(Math.sqrt(target[1]!));
      if (from * from !== value.shape[1] || to * to !== target[1]) {
        throw new StateDictError(`${key}: cannot resample ${value.shape[1]} positions to ${target[1]}: only square grids are inferred from a state dict, as timm does`);
      }
      out[key] = resampleGridEmbedding(value, { height: from, width: from }, { height: to, width: to }, false);
      continue;
    }
    out[key] = value;
  }
  return out;
}

function flexiModel(size: string, config: FlexiConfig, params: string): ModelDefinition {
  const name = `flexivit_${size}`;
  return {
    description: `FlexiViT-${size[0]!.toUpperCase()}: ViT ${config.embedDim} wide, ${config.depth} blocks, ${config.numHeads} heads, one set of weights for every patch size (${params} parameters at 240 px / patch 16)`,
    paper: PAPER,
    spec: (options) => flexiSpec(name, config, options),
    checkpointFilter: flexiCheckpointFilter,
  };
}

/** timm's registered flexivit_* (vision_transformer.py: patch 16, no_embed_class=True) at timm's 240 px default. */
export const flexiModels: Record<string, ModelDefinition> = {
  flexivit_small: flexiModel('small', { embedDim: 384, depth: 12, numHeads: 6 }, '22,061,416'),
  flexivit_base: flexiModel('base', { embedDim: 768, depth: 12, numHeads: 12 }, '86,589,160'),
  flexivit_large: flexiModel('large', { embedDim: 1024, depth: 24, numHeads: 16 }, '304,355,304'),
};
