import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  loadTorchStateDict,
  parseModelOptions,
  resolveImgSize,
  StateDictError,
  z,
  type Grid,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  type ModelDefaults,
  type ModelDefinition,
  type ModelOptions,
  type tf,
} from '@tessera/core';
import { resizePosEmbed } from './position.js';
import { DEFAULT_T2T_ARGS, T2TViT } from './t2t-vit.js';

const PAPER = 'Yuan et al., Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet, ICCV 2021';

/** The official default_cfg of every T2T-ViT model. */
export const T2T_DEFAULTS: ModelDefaults = {
  inputSize: [224, 224, 3],
  numClasses: 1000,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  interpolation: 'bicubic',
  cropPct: 0.9,
  classifier: 'head',
};

const t2tModelOptions = z
  .object({
    numClasses: z.number().int().min(1).optional(),
    imgSize: z.union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])]).optional(),
    inChannels: z.number().int().min(1).optional(),
    dropRate: z.number().min(0).lt(1).optional(),
    attnDropRate: z.number().min(0).lt(1).optional(),
    dropPathRate: z.number().min(0).lt(1).optional(),
    seed: z.number().int().optional(),
    /** 'embed' for the released checkpoints (embed_dim^-0.5); default 'head' (head_dim^-0.5). */
    qkScale: z.union([z.number().positive(), z.enum(['head', 'embed'])]).optional(),
  })
  .strict();

interface T2TConfig {
  readonly tokensType: 'performer' | 'transformer';
  readonly embedDim: number;
  readonly depth: number;
  readonly numHeads: number;
  readonly mlpRatio: number;
}

function t2tModel(name: string, config: T2TConfig): ModelDefinition {
  const layer = config.tokensType === 'performer' ? 'Token_performer' : 'Token_transformer';
  return {
    description: `T2T-ViT with ${layer} T2T layers, ${config.embedDim} wide, ${config.depth} blocks, ${config.numHeads} heads, MLP ratio ${config.mlpRatio}`,
    paper: PAPER,
    defaults: T2T_DEFAULTS,
    create(options: ModelOptions) {
      const o = parseModelOptions(t2tModelOptions, name, options);
      return new T2TViT(name, T2T_DEFAULTS, {
        ...DEFAULT_T2T_ARGS,
        ...config,
        imgSize: resolveImgSize(o.imgSize, 224),
        inChannels: o.inChannels ?? 3,
        numClasses: o.numClasses ?? 1000,
        qkScale: o.qkScale ?? 'head',
        dropRate: o.dropRate ?? 0,
        attnDropRate: o.attnDropRate ?? 0,
        dropPathRate: o.dropPathRate ?? 0,
        seed: o.seed ?? 0,
      });
    },
  };
}

/** The nine released configurations (models/t2t_vit.py). */
export const t2tModels: Record<string, ModelDefinition> = {
  t2t_vit_7: t2tModel('t2t_vit_7', { tokensType: 'performer', embedDim: 256, depth: 7, numHeads: 4, mlpRatio: 2 }),
  t2t_vit_10: t2tModel('t2t_vit_10', { tokensType: 'performer', embedDim: 256, depth: 10, numHeads: 4, mlpRatio: 2 }),
  t2t_vit_12: t2tModel('t2t_vit_12', { tokensType: 'performer', embedDim: 256, depth: 12, numHeads: 4, mlpRatio: 2 }),
  t2t_vit_14: t2tModel('t2t_vit_14', { tokensType: 'performer', embedDim: 384, depth: 14, numHeads: 6, mlpRatio: 3 }),
  t2t_vit_19: t2tModel('t2t_vit_19', { tokensType: 'performer', embedDim: 448, depth: 19, numHeads: 7, mlpRatio: 3 }),
  t2t_vit_24: t2tModel('t2t_vit_24', { tokensType: 'performer', embedDim: 512, depth: 24, numHeads: 8, mlpRatio: 3 }),
  t2t_vit_t_14: t2tModel('t2t_vit_t_14', { tokensType: 'transformer', embedDim: 384, depth: 14, numHeads: 6, mlpRatio: 3 }),
  t2t_vit_t_19: t2tModel('t2t_vit_t_19', { tokensType: 'transformer', embedDim: 448, depth: 19, numHeads: 7, mlpRatio: 3 }),
  t2t_vit_t_24: t2tModel('t2t_vit_t_24', { tokensType: 'transformer', embedDim: 512, depth: 24, numHeads: 8, mlpRatio: 3 }),
};

export interface LoadT2TOptions extends LoadStateDictOptions {
  /**
   * Token grid of the checkpoint's `pos_embed`, when it differs from the model's.
   * Defaults to a square grid, as the official loader assumes.
   */
  readonly checkpointGrid?: Grid;
}

/**
 * Loads a PyTorch state dict with the official names (e.g. an official checkpoint
 * converted to safetensors) into a T2T-ViT, transposing linear weights. When the
 * checkpoint's `pos_embed` was made for another input size it is resized first,
 * bicubically on the grid with the class row kept, as the official loader does
 * (utils.load_state_dict / resize_pos_embed). The caller's tensors are not disposed.
 */
export function loadT2TStateDict(model: T2TViT, state: Record<string, tf.Tensor>, options: LoadT2TOptions = {}): LoadStateDictResult {
  const posEmbed = state.pos_embed;
  const target = model.posEmbed.shape;
  if (!posEmbed || (posEmbed.shape[1] === target[1] && posEmbed.shape[2] === target[2])) {
    return loadTorchStateDict(model, state, options);
  }
  if (posEmbed.rank !== 3 || posEmbed.shape[0] !== 1 || posEmbed.shape[2] !== target[2]) {
    throw new StateDictError(`pos_embed: shape [${posEmbed.shape.join(', ')}] cannot be resized to the model's [${target.join(', ')}] (the width must match)`);
  }
  const patches = posEmbed.shape[1]! - 1;
  const side = Math.round(Math.sqrt(patches));
  const from = options.checkpointGrid ?? { height: side, width: side };
  if (from.height * from.width !== patches) {
    throw new StateDictError(
      `pos_embed: ${patches} grid rows are not a ${from.height}x${from.width} grid; pass checkpointGrid {height, width} for a non-square checkpoint`,
    );
  }
  const resized = resizePosEmbed(posEmbed, from, model.grid, 1);
  try {
    return loadTorchStateDict(model, { ...state, pos_embed: resized }, options);
  } finally {
    resized.dispose();
  }
}
