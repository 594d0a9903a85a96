import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  InvalidArgumentError,
  loadTorchStateDict,
  modelOptions,
  parseModelOptions,
  resolveImgSize,
  StateDictError,
  z,
  type ComposedModel,
  type Grid,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  type ModelDefinition,
  type ModelOptions,
  type ModelSpecInput,
  type tf,
} from '@tessera/core';
import { resizePosEmbed } from './position.js';
import { T2T_SOFT_SPLITS, t2tGrids, type SoftSplit } from './t2t-module.js';

const PAPER = 'Yuan et al., Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet, ICCV 2021';

/**
 * Attention scale of the backbone: a number, 'head' (head_dim^-0.5, the default
 * for training from scratch) or 'embed' (embed_dim^-0.5, what every released
 * checkpoint was trained with: the official factories set it when
 * pretrained=True, upstream issue #62).
 */
export type QkScale = number | 'head' | 'embed';

/** The attention scale `qkScale` means for this width; undefined for head_dim^-0.5 (the transformer block's default). */
export function resolveQkScale(qkScale: QkScale, embedDim: number): number | undefined {
  if (qkScale === 'head') return undefined;
  if (qkScale === 'embed') return embedDim ** -0.5;
  if (typeof qkScale !== 'number' || !Number.isFinite(qkScale) || qkScale <= 0) {
    throw new InvalidArgumentError('qkScale', qkScale, "a positive number, 'head' (head_dim^-0.5) or 'embed' (embed_dim^-0.5, for the released checkpoints)");
  }
  return qkScale;
}

/** A T2T-ViT configuration (the arguments of the official `T2T_ViT` class). */
export interface T2TViTConfig {
  readonly name?: string;
  readonly imgSize?: number | readonly [number, number];
  readonly inChannels?: number;
  readonly numClasses?: number;
  /** 'performer' (t2t_vit_*) or 'transformer' (t2t_vit_t_*) layers in the T2T module. */
  readonly tokensType?: 'performer' | 'transformer';
  /** Width between soft splits (64 in every released model). */
  readonly tokenDim?: number;
  readonly embedDim: number;
  readonly depth: number;
  readonly numHeads: number;
  readonly mlpRatio: number;
  /** The backbone has no qkv bias in the official code. */
  readonly qkvBias?: boolean;
  readonly qkScale?: QkScale;
  readonly dropRate?: number;
  readonly attnDropRate?: number;
  readonly dropPathRate?: number;
  /** Dropout inside the T2T performer layers (hard-coded 0.1 in the official code). */
  readonly performerDropRate?: number;
  readonly softSplits?: readonly SoftSplit[];
  readonly seed?: number;
}

/**
 * The spec of a T2T-ViT: the `t2t` stem as `tokens_to_token`, a class token
 * with the fixed sinusoid position embedding at the top level, pre-norm blocks
 * (LayerNorm eps 1e-5, no qkv bias) as `blocks`, and the final `norm` and
 * `head`: the official state-dict names. Throws InvalidArgumentError, naming
 * `imgSize`, when the soft splits do not fit the input.
 */
export function t2tVitSpec(config: T2TViTConfig): ModelSpecInput {
  const [height, width] = resolveImgSize(config.imgSize, 224);
  const softSplits = (config.softSplits ?? T2T_SOFT_SPLITS).map((s) => ({ ...s }));
  try {
    t2tGrids(height, width, softSplits);
  } catch (error) {
    throw new InvalidArgumentError('imgSize', [height, width], `an input the soft splits fit (${(error as Error).message})`);
  }
  const qkScale = resolveQkScale(config.qkScale ?? 'head', config.embedDim);
  const dropRate = config.dropRate ?? 0;
  return {
    name: config.name ?? 't2t_vit',
    imgSize: [height, width],
    inChannels: config.inChannels ?? 3,
    numClasses: config.numClasses ?? 1000,
    mean: [...IMAGENET_MEAN],
    std: [...IMAGENET_STD],
    interpolation: 'bicubic',
    cropPct: 0.9,
    dropPathRate: config.dropPathRate ?? 0,
    dropPathSchedule: 'linear',
    seed: config.seed ?? 0,
    stem: {
      block: 't2t',
      name: 'tokens_to_token',
      options: {
        embedDim: config.embedDim,
        tokensType: config.tokensType ?? 'performer',
        tokenDim: config.tokenDim ?? 64,
        dropRate: config.performerDropRate ?? 0.1,
        softSplits,
      },
    },
    stages: [
      { block: 'class_token', name: '', options: { posEmbed: 'sinusoid', dropRate } },
      {
        block: 'transformer',
        name: 'blocks',
        depth: config.depth,
        options: {
          numHeads: config.numHeads,
          mlpRatio: config.mlpRatio,
          qkvBias: config.qkvBias ?? false,
          ...(qkScale === undefined ? {} : { qkScale }),
          dropRate,
          attnDropRate: config.attnDropRate ?? 0,
          normEps: 1e-5,
        },
      },
    ],
    head: { block: 'classifier', name: '', options: { pool: 'token', norm: 'layer', normEps: 1e-5 } },
  };
}

const t2tModelOptions = modelOptions.extend({
  /** 'embed' for the released checkpoints (embed_dim^-0.5); default 'head' (head_dim^-0.5). */
  qkScale: z.union([z.number().positive(), z.enum(['head', 'embed'])]).optional(),
});

interface T2TArchitecture {
  readonly tokensType: 'performer' | 'transformer';
  readonly embedDim: number;
  readonly depth: number;
  readonly numHeads: number;
  readonly mlpRatio: number;
}

/** The class token's position in the model: its grid and the number of prefix rows of `pos_embed`. */
function posEmbedLayout(model: ComposedModel): { grid: Grid; numPrefixTokens: number } {
  const planned = model.plan.find((p) => p.block === 'class_token' && p.prefix === '');
  if (!planned || planned.input.layout !== 'tokens' || planned.output.layout !== 'tokens') {
    throw new StateDictError(`${model.config.name} has no top-level class_token stage, so it has no pos_embed to resize`);
  }
  return { grid: planned.input.grid, numPrefixTokens: planned.output.numPrefixTokens };
}

/**
 * The official loader's filter (utils.load_state_dict / resize_pos_embed): a
 * `pos_embed` made for another input size is resized bicubically on its grid,
 * the class row kept. The checkpoint's grid is `checkpointGrid`, or square as the
 * official helper assumes. Returns a new dict; a resized tensor in it is new.
 */
export function t2tCheckpointFilter(state: Record<string, tf.Tensor>, model: ComposedModel, checkpointGrid?: Grid): Record<string, tf.Tensor> {
  const posEmbed = state.pos_embed;
  const target = model.stateDict().pos_embed;
  if (!posEmbed || !target || (posEmbed.shape[1] === target.shape[1] && posEmbed.shape[2] === target.shape[2])) return { ...state };
  if (posEmbed.rank !== 3 || posEmbed.shape[0] !== 1 || posEmbed.shape[2] !== target.shape[2]) {
    throw new StateDictError(`pos_embed: shape [${posEmbed.shape.join(', ')}] cannot be resized to the model's [${target.shape.join(', ')}] (the width must match)`);
  }
  const { grid, numPrefixTokens } = posEmbedLayout(model);
  const patches = posEmbed.shape[1]! - numPrefixTokens;
  const side = Math.round(Math.sqrt(patches));
  const from = checkpointGrid ?? { height: side, width: side };
  if (from.height * from.width !== patches) {
    throw new StateDictError(
      `pos_embed: ${patches} grid rows are not a ${from.height}x${from.width} grid; pass checkpointGrid {height, width} for a non-square checkpoint`,
    );
  }
  return { ...state, pos_embed: resizePosEmbed(posEmbed, from, grid, numPrefixTokens) };
}

function t2tModel(name: string, architecture: T2TArchitecture): ModelDefinition {
  const layer = architecture.tokensType === 'performer' ? 'Token_performer' : 'Token_transformer';
  return {
    description: `T2T-ViT with ${layer} T2T layers, ${architecture.embedDim} wide, ${architecture.depth} blocks, ${architecture.numHeads} heads, MLP ratio ${architecture.mlpRatio}`,
    paper: PAPER,
    spec(options: ModelOptions) {
      const o = parseModelOptions(t2tModelOptions, name, options);
      return t2tVitSpec({ ...architecture, ...o, name });
    },
    checkpointFilter: (state, model) => t2tCheckpointFilter(state, model),
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
 * converted to safetensors) into a T2T-ViT, transposing linear weights, with the
 * `pos_embed` resized by `t2tCheckpointFilter` when it was made for another input
 * size. The caller's tensors are not disposed.
 */
export function loadT2TStateDict(model: ComposedModel, state: Record<string, tf.Tensor>, options: LoadT2TOptions = {}): LoadStateDictResult {
  const filtered = t2tCheckpointFilter(state, model, options.checkpointGrid);
  try {
    return loadTorchStateDict(model, filtered, options);
  } finally {
    if (filtered.pos_embed !== state.pos_embed) filtered.pos_embed?.dispose();
  }
}
