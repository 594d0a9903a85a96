import { IMAGENET_MEAN, IMAGENET_STD, modelOptions, parseModelOptions, tf, z, type ModelDefinition, type ModelOptions, type ModelSpecInput } from '@tessera/core';

const PAPER = 'Zhou et al., Understanding the Robustness in Vision Transformers (FAN), ICML 2022';

const fanModelOptions = modelOptions;
type FanModelOptions = z.infer<typeof fanModelOptions>;
// Options every FAN spec builder accepts (timm's create_model kwargs): numClasses, imgSize, inChannels, dropRate, attnDropRate, dropPathRate, seed.

/** The preprocessing and run-time facts every spec starts from (models/fan.py and swin_utils.py default cfgs). */
function base(name: string, o: FanModelOptions, cropPct: number) {
  return {
    name,
    imgSize: o.imgSize ?? 224,
    inChannels: o.inChannels ?? 3,
    numClasses: o.numClasses ?? 1000,
    mean: [...IMAGENET_MEAN] as [number, number, number],
    std: [...IMAGENET_STD] as [number, number, number],
    interpolation: 'bicubic' as const,
    cropPct,
    seed: o.seed ?? 0,
  };
}

export interface FanViTConfig {
  readonly embedDim: number;
  readonly depth: number;
  readonly numHeads: number;
  /** ConvPatchEmbed's patch size (16 in every released FAN-ViT). */
  readonly patchSize?: 16 | 8 | 4;
  /** FAN-Hybrid: ConvNeXt depths of its two stages, then a 2×2 embedding. Absent: ConvPatchEmbed. */
  readonly convnextDepths?: readonly [number, number];
  /** Widths of the two ConvNeXt stages (128, 256 in every released FAN-Hybrid). */
  readonly convnextDims?: readonly [number, number];
  /** fan_small_12_p16_224_se_attn: FANBlock_SE. */
  readonly channelMixer?: 'channel_processing' | 'se_mlp';
  /** FAN-XL: blocks from this index on are `wideDim` wide with `wideHeads` heads, after an OverlapPatchEmbed. */
  readonly widen?: { readonly at: number; readonly dim: number; readonly heads: number };
  /** `head_init_scale`: the classifier's initial weights times this (1e-3 for FAN-L-Hybrid, fan.py configs). */
  readonly headInitScale?: number;
}

/**
 * FAN-ViT and FAN-Hybrid (models/fan.py FAN): patch embedding, Fourier position encoding,
 * FAN blocks with a constant drop-path rate (fan.py L644), a class token, two
 * class-attention blocks (tokens_norm, no drop path), LayerNorm (eps 1e-6) and the head.
 */
export function fanViTSpec(name: string, c: FanViTConfig, options: ModelOptions = {}): ModelSpecInput {
  const o = parseModelOptions(fanModelOptions, name, options);
  const drop = { dropRate: o.dropRate ?? 0, attnDropRate: o.attnDropRate ?? 0 };
  const fan = (numHeads: number, extra: Record<string, unknown> = {}) => ({ numHeads, ...drop, ...(c.channelMixer ? { channelMixer: c.channelMixer } : {}), ...extra });
  const dims = c.convnextDims ?? [128, 256];
  const stem: ModelSpecInput['stem'] = c.convnextDepths
    ? { block: 'convnext_stem', name: 'patch_embed.backbone.stem', options: { outChannels: dims[0], patchSize: 4 } }
    : { block: 'fan_conv_patch_embed', name: 'patch_embed', options: { patchSize: c.patchSize ?? 16, embedDim: c.embedDim } };
  // The backbone is built without a drop-path rate (fan.py _create_hybrid_backbone), and its LayerNorm2d
  // normalises channels-last input with the unbiased variance (ChannelLayerNorm).
  const backbone = c.convnextDepths
    ? [
        { block: 'convnext_stage', name: 'patch_embed.backbone.stages.0', options: { outChannels: dims[0], stride: 1, depth: c.convnextDepths[0], dropPath: 0, unbiasedNorm: true } },
        { block: 'convnext_stage', name: 'patch_embed.backbone.stages.1', options: { outChannels: dims[1], stride: 2, depth: c.convnextDepths[1], dropPath: 0, unbiasedNorm: true } },
        { block: 'fan_hybrid_embed', name: 'patch_embed.proj', options: { embedDim: c.embedDim, patchSize: 2 } },
      ]
    : [];
  // FAN-XL changes width inside the list: each block is its own stage `blocks.<i>`, the last narrow one downsampling.
  const blocks = c.widen
    ? Array.from({ length: c.depth }, (_, i) => ({
        block: 'fan',
        name: `blocks.${i}`,
        options: i < c.widen!.at - 1 ? fan(c.numHeads) : i === c.widen!.at - 1 ? fan(c.numHeads, { downsampleTo: c.widen!.dim }) : fan(c.widen!.heads),
      }))
    : [{ block: 'fan', name: 'blocks', depth: c.depth, options: fan(c.numHeads) }];
  const headHeads = c.widen?.heads ?? c.numHeads;
  return {
    ...base(name, o, 1.0),
    dropPathRate: o.dropPathRate ?? 0,
    dropPathSchedule: 'constant',
    stem,
    stages: [
      ...backbone,
      { block: 'fan_position', name: 'pos_embed', options: { dropRate: drop.dropRate } },
      ...blocks,
      { block: 'class_token', name: '', options: { posEmbed: 'none' } },
      { block: 'fan_class_attention', name: 'cls_attn_blocks', depth: 2, options: { numHeads: headHeads, dropPath: 0, ...drop } },
    ],
    head: { block: 'classifier', name: '', options: { pool: 'token', normEps: 1e-6, dropRate: 0, ...(c.headInitScale ? { initScale: c.headInitScale } : {}) } },
  };
}

export interface FanSwinConfig {
  readonly embedDim: number;
  readonly depths: readonly number[];
  readonly numHeads: readonly number[];
  /** 7 and 4 in every released FAN-Swin. */
  readonly windowSize?: number;
  readonly patchSize?: number;
  /** Per stage, 'channel_processing' or 'mlp'; default FAN, FAN, FAN, Mlp (the last stage keeps the MLP). */
  readonly mlp?: ReadonlyArray<'channel_processing' | 'mlp'>;
}

/**
 * FAN-Swin (models/swin_utils.py SwinTransformer with mlp_type FAN, FAN, FAN, Mlp): patch 4,
 * window 7, LayerNorm eps 1e-5 everywhere, drop path linear over all blocks (default 0.1),
 * patch merging after stages 1–3, average pooling.
 */
export function fanSwinSpec(name: string, c: FanSwinConfig, options: ModelOptions = {}): ModelSpecInput {
  const o = parseModelOptions(fanModelOptions, name, options);
  const rate = o.dropPathRate ?? 0.1;
  const total = c.depths.reduce((a, b) => a + b, 0);
  // torch.linspace(0, rate, total), split by stage.
  const dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
  let offset = 0;
  const stages = c.depths.map((depth, i) => {
    const dropPath = dpr.slice(offset, offset + depth);
    offset += depth;
    return {
      block: 'fan_swin_stage',
      name: `layers.${i}`,
      options: {
        depth,
        numHeads: c.numHeads[i]!,
        windowSize: c.windowSize ?? 7,
        mlp: c.mlp?.[i] ?? (i < 3 ? 'channel_processing' : 'mlp'),
        downsample: i < c.depths.length - 1,
        dropPath,
      },
    };
  });
  return {
    ...base(name, o, 0.9),
    dropPathRate: rate,
    dropPathSchedule: 'linear',
    stem: { block: 'swin_patch_embed', name: 'patch_embed', options: { patchSize: c.patchSize ?? 4, embedDim: c.embedDim } },
    stages,
    head: { block: 'classifier', name: '', options: { pool: 'avg', normEps: 1e-5, dropRate: o.dropRate ?? 0 } },
  };
}

/**
 * The official checkpoint_filter_fn (models/fan.py L741-773): `pos_embeder.` becomes
 * `pos_embed.`, and a fused class-attention `qkv` ([3C, C] and [3C]) is split into the
 * separate q, k and v the model has. FAN-Swin's derived buffers (relative_position_index,
 * attn_mask) are dropped: the model rebuilds them from its grid. Tensors it makes are the
 * caller's to free; the caller's own are passed through.
 */
export function fanCheckpointFilter(stateDict: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(stateDict)) {
    if (key.endsWith('.relative_position_index') || key.endsWith('.attn_mask')) continue;
    const fused = /^(cls_attn_blocks\.\d+\.attn)\.qkv\.(weight|bias)$/.exec(key);
    if (fused) {
      const [prefix, kind] = [fused[1]!, fused[2]!];
      const parts = tf.split(value, 3, 0);
      ['q', 'k', 'v'].forEach((name, i) => (out[`${prefix}.${name}.${kind}`] = parts[i]!));
      continue;
    }
    out[key.startsWith('pos_embeder.') ? key.replace('pos_embeder.', 'pos_embed.') : key] = value;
  }
  return out;
}

function fanModel(description: string, spec: (o: ModelOptions) => ModelSpecInput): ModelDefinition {
  return { description, paper: PAPER, spec, checkpointFilter: fanCheckpointFilter };
}

const vit = (name: string, c: FanViTConfig, what: string) => fanModel(`FAN-${what}: ${c.embedDim} wide, ${c.depth} FAN blocks, ${c.numHeads} heads`, (o) => fanViTSpec(name, c, o));
const swin = (name: string, c: FanSwinConfig, what: string) =>
  fanModel(`FAN-Swin-${what}: ${c.embedDim} wide, depths ${c.depths.join('-')}, ChannelProcessing in stages 1-3`, (o) => fanSwinSpec(name, c, o));

/** Every model the official repository registers (models/fan.py L785-935). The names do not always match the depths ("small_12" hybrid has 10 blocks). */
export const fanModels: Record<string, ModelDefinition> = {
  fan_tiny_12_p16_224: vit('fan_tiny_12_p16_224', { embedDim: 192, depth: 12, numHeads: 4 }, 'ViT-T'),
  fan_small_12_p16_224: vit('fan_small_12_p16_224', { embedDim: 384, depth: 12, numHeads: 8 }, 'ViT-S'),
  fan_base_18_p16_224: vit('fan_base_18_p16_224', { embedDim: 448, depth: 18, numHeads: 8 }, 'ViT-B'),
  fan_large_24_p16_224: vit('fan_large_24_p16_224', { embedDim: 480, depth: 24, numHeads: 10 }, 'ViT-L'),
  // Upstream's forward pass is broken for this one (FANBlock_SE is called without its grid; PR #21): this port passes the grid.
  fan_small_12_p16_224_se_attn: vit('fan_small_12_p16_224_se_attn', { embedDim: 384, depth: 12, numHeads: 8, channelMixer: 'se_mlp' }, 'ViT-S with squeeze-excite MLPs'),
  fan_tiny_8_p4_hybrid: vit('fan_tiny_8_p4_hybrid', { embedDim: 192, depth: 8, numHeads: 8, convnextDepths: [3, 3] }, 'Hybrid-T'),
  fan_small_12_p4_hybrid: vit('fan_small_12_p4_hybrid', { embedDim: 384, depth: 10, numHeads: 8, convnextDepths: [3, 3] }, 'Hybrid-S'),
  fan_base_16_p4_hybrid: vit('fan_base_16_p4_hybrid', { embedDim: 448, depth: 16, numHeads: 8, convnextDepths: [3, 3] }, 'Hybrid-B'),
  fan_large_16_p4_hybrid: vit('fan_large_16_p4_hybrid', { embedDim: 480, depth: 22, numHeads: 10, convnextDepths: [3, 5], headInitScale: 1e-3 }, 'Hybrid-L'),
  fan_Xlarge_16_p4_hybrid: vit(
    'fan_Xlarge_16_p4_hybrid',
    { embedDim: 528, depth: 23, numHeads: 11, convnextDepths: [3, 7], widen: { at: 20, dim: 768, heads: 16 } },
    'Hybrid-XL (no released weights)',
  ),
  fan_swin_tiny_patch4_window7_224: swin('fan_swin_tiny_patch4_window7_224', { embedDim: 96, depths: [2, 2, 6, 2], numHeads: [3, 6, 12, 24] }, 'T'),
  fan_swin_small_patch4_window7_224: swin('fan_swin_small_patch4_window7_224', { embedDim: 96, depths: [2, 2, 18, 2], numHeads: [3, 6, 12, 24] }, 'S'),
  fan_swin_base_patch4_window7_224: swin('fan_swin_base_patch4_window7_224', { embedDim: 128, depths: [2, 2, 18, 2], numHeads: [4, 8, 16, 32] }, 'B'),
  fan_swin_large_patch4_window7_224: swin('fan_swin_large_patch4_window7_224', { embedDim: 192, depths: [2, 2, 18, 2], numHeads: [6, 12, 24, 48] }, 'L'),
};
