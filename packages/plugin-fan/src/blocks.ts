import { z, type BlockDefinition, type FeatureSpec, type ImageSpec, type TokenSpec } from '@tessera/core';
import { FanClassAttentionBlock, fanClassAttentionOutput } from './class-attention-block.js';
import { ConvPatchEmbed, convPatchEmbedOutput } from './conv-patch-embed.js';
import { ConvNeXtStage, convNeXtStageOutput, ConvNeXtStem, convNeXtStemOutput } from './convnext.js';
import { FANBlock, fanBlockOutput } from './fan-block.js';
import { fourierPositionOutput, PositionalEncodingFourier } from './fourier-position.js';
import { HybridEmbed, hybridEmbedOutput } from './hybrid-embed.js';
import { SwinPatchEmbed, swinPatchEmbedOutput, SwinStage, swinStageOutput } from './swin.js';

/*
 * Every FAN part as a block any spec can use. Names are the official state-dict
 * prefixes' owners: a stage named `patch_embed` holding fan_conv_patch_embed gives
 * `patch_embed.proj.0.0.weight`, as models/fan.py does.
 */

const rate = z.number().min(0).lt(1);
const rates = z.union([rate, z.array(rate).min(1)]);

const convPatchEmbedOptions = z
  .object({
    patchSize: z.union([z.literal(16), z.literal(8), z.literal(4)]).default(16),
    embedDim: z.number().int().min(1),
  })
  .strict();

export const fanConvPatchEmbedBlock: BlockDefinition<z.infer<typeof convPatchEmbedOptions>> = {
  description: "FAN's convolutional patch embedding: stride-2 3x3 conv + BatchNorm stages with GELU between, 2-4 stages for patch 4-16 (image → tokens)",
  supports: { positions: ['stem', 'transition'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: convPatchEmbedOptions,
  examples: [{ patchSize: 4, embedDim: 8 }, { patchSize: 8, embedDim: 16 }],
  outputSpec: (input, options) => convPatchEmbedOutput(input, options),
  create: (input, options, rng) => new ConvPatchEmbed(input as ImageSpec, options, rng),
};

const positionOptions = z
  .object({
    hiddenDim: z.number().int().min(1).default(32),
    temperature: z.number().positive().default(10000),
    dropRate: rate.default(0),
  })
  .strict();

export const fanPositionBlock: BlockDefinition<z.infer<typeof positionOptions>> = {
  description: "FAN's Fourier position encoding of the current grid through a learned 1x1 projection, added to the patch tokens (tokens → tokens)",
  supports: { positions: ['stage'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['tokens'],
  options: positionOptions,
  examples: [{}, { hiddenDim: 8 }],
  outputSpec: (input: FeatureSpec) => fourierPositionOutput(input),
  create: (input, options, rng) => new PositionalEncodingFourier(input as TokenSpec, options, rng),
};

const fanOptions = z
  .object({
    numHeads: z.number().int().min(1),
    mlpRatio: z.number().positive().default(4),
    qkvBias: z.boolean().default(true),
    dropRate: rate.default(0),
    attnDropRate: rate.default(0),
    dropPath: rate.default(0),
    /** LayerScale init η. */
    eta: z.number().default(1),
    normEps: z.number().positive().default(1e-6),
    channelMixer: z.enum(['channel_processing', 'se_mlp']).default('channel_processing'),
    channelHeads: z.number().int().min(1).optional(),
    downsampleTo: z.number().int().min(1).optional(),
  })
  .strict();

export const fanBlock: BlockDefinition<z.infer<typeof fanOptions>> = {
  description: 'FAN block: token-mixing self-attention, then attentional channel processing (Eq. 7), both with LayerScale (tokens → tokens, patch grid only)',
  supports: { positions: ['stage'], dropPath: true, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['tokens'],
  options: fanOptions,
  examples: [{ numHeads: 2 }, { numHeads: 1, mlpRatio: 2, channelMixer: 'se_mlp', dropPath: 0.1 }, { numHeads: 2, downsampleTo: 12 }],
  outputSpec: (input, options) => fanBlockOutput(input, options),
  create: (input, options, rng) => new FANBlock(input as TokenSpec, options, rng),
};

const classAttentionOptions = z
  .object({
    numHeads: z.number().int().min(1),
    mlpRatio: z.number().positive().default(4),
    qkvBias: z.boolean().default(true),
    dropRate: rate.default(0),
    attnDropRate: rate.default(0),
    dropPath: rate.default(0),
    eta: z.number().default(1),
    normEps: z.number().positive().default(1e-6),
    tokensNorm: z.boolean().default(true),
  })
  .strict();

export const fanClassAttentionBlock: BlockDefinition<z.infer<typeof classAttentionOptions>> = {
  description: "FAN's class-attention block as the official code computes it: patches get their normalised value, LN over all tokens, MLP on the class token (tokens with a class token → same)",
  supports: { positions: ['stage'], dropPath: true, attention: 'class', dynamicGrid: true, overridable: [] },
  accepts: ['tokens'],
  options: classAttentionOptions,
  examples: [{ numHeads: 2 }, { numHeads: 1, tokensNorm: false, mlpRatio: 2 }],
  outputSpec: (input, options) => fanClassAttentionOutput(input, options),
  create: (input, options, rng) => new FanClassAttentionBlock(input as TokenSpec, options, rng),
};

const convnextStemOptions = z
  .object({
    outChannels: z.number().int().min(1),
    patchSize: z.number().int().min(1).default(4),
  })
  .strict();

export const convnextStemBlock: BlockDefinition<z.infer<typeof convnextStemOptions>> = {
  description: "ConvNeXt's stem: a patch x patch stride-patch convolution and LayerNorm over channels (image → image)",
  supports: { positions: ['stem'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: convnextStemOptions,
  examples: [{ outChannels: 8 }, { outChannels: 4, patchSize: 2 }],
  outputSpec: (input, options) => convNeXtStemOutput(input, options),
  create: (input, options, rng) => new ConvNeXtStem(input as ImageSpec, options, rng),
};

const convnextStageOptions = z
  .object({
    outChannels: z.number().int().min(1),
    depth: z.number().int().min(1),
    stride: z.number().int().min(1).default(2),
    lsInitValue: z.number().min(0).default(1e-6),
    mlpRatio: z.number().positive().default(4),
    dropPath: rates.default(0),
    unbiasedNorm: z.boolean().default(false),
  })
  .strict();

export const convnextStageBlock: BlockDefinition<z.infer<typeof convnextStageOptions>> = {
  description: 'ConvNeXt stage: optional LayerNorm + strided-conv downsample, then ConvNeXt blocks (dw 7x7, LayerNorm, 1x1-conv MLP, LayerScale) (image → image)',
  supports: { positions: ['stage', 'transition'], dropPath: true, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: convnextStageOptions,
  examples: [{ outChannels: 8, depth: 1, stride: 1 }, { outChannels: 12, depth: 2, unbiasedNorm: true, dropPath: [0, 0.1] }],
  outputSpec: (input, options) => convNeXtStageOutput(input, options),
  create: (input, options, rng) => new ConvNeXtStage(input as ImageSpec, options, rng),
};

const hybridEmbedOptions = z
  .object({
    embedDim: z.number().int().min(1),
    patchSize: z.number().int().min(1).default(2),
  })
  .strict();

export const fanHybridEmbedBlock: BlockDefinition<z.infer<typeof hybridEmbedOptions>> = {
  description: "FAN-Hybrid's embedding of a feature map: a patch x patch stride-patch convolution with bias (image → tokens)",
  supports: { positions: ['stem', 'transition'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: hybridEmbedOptions,
  examples: [{ embedDim: 8 }, { embedDim: 12, patchSize: 1 }],
  outputSpec: (input, options) => hybridEmbedOutput(input, options),
  create: (input, options, rng) => new HybridEmbed(input as ImageSpec, options, rng),
};

const swinPatchEmbedOptions = z
  .object({
    patchSize: z.number().int().min(1).default(4),
    embedDim: z.number().int().min(1),
    normEps: z.number().positive().default(1e-5),
  })
  .strict();

export const swinPatchEmbedBlock: BlockDefinition<z.infer<typeof swinPatchEmbedOptions>> = {
  description: "Swin's patch embedding: non-overlapping p x p patches projected, then LayerNorm (image → tokens)",
  supports: { positions: ['stem'], dropPath: false, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['image'],
  options: swinPatchEmbedOptions,
  examples: [{ embedDim: 8 }, { patchSize: 2, embedDim: 4 }],
  outputSpec: (input, options) => swinPatchEmbedOutput(input, options),
  create: (input, options, rng) => new SwinPatchEmbed(input as ImageSpec, options, rng),
};

const swinStageOptions = z
  .object({
    depth: z.number().int().min(1),
    numHeads: z.number().int().min(1),
    windowSize: z.number().int().min(1).default(7),
    mlp: z.enum(['channel_processing', 'mlp']).default('channel_processing'),
    mlpRatio: z.number().positive().default(4),
    qkvBias: z.boolean().default(true),
    downsample: z.boolean().default(false),
    dropPath: rates.default(0),
    normEps: z.number().positive().default(1e-5),
  })
  .strict();

export const fanSwinStageBlock: BlockDefinition<z.infer<typeof swinStageOptions>> = {
  description: 'Swin stage with FAN channel processing: (shifted-)window attention with relative position bias, ChannelProcessing or MLP, optional patch merging (tokens → tokens)',
  supports: { positions: ['stage'], dropPath: true, attention: false, dynamicGrid: false, overridable: [] },
  accepts: ['tokens'],
  options: swinStageOptions,
  examples: [{ depth: 2, numHeads: 2, windowSize: 2 }, { depth: 1, numHeads: 1, windowSize: 2, mlp: 'mlp', downsample: true }],
  outputSpec: (input, options) => swinStageOutput(input, options),
  create: (input, options, rng) => new SwinStage(input as TokenSpec, options, rng),
};

/** The blocks this plugin registers, by name. */
export const fanBlocks = {
  fan_conv_patch_embed: fanConvPatchEmbedBlock,
  fan_position: fanPositionBlock,
  fan: fanBlock,
  fan_class_attention: fanClassAttentionBlock,
  fan_hybrid_embed: fanHybridEmbedBlock,
  convnext_stem: convnextStemBlock,
  convnext_stage: convnextStageBlock,
  swin_patch_embed: swinPatchEmbedBlock,
  fan_swin_stage: fanSwinStageBlock,
} as const;
