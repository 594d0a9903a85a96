export { ChannelProcessing, channelGate, type ChannelProcessingOptions } from './channel-processing.js';
export { FanClassAttentionBlock, fanClassAttentionOutput, type FanClassAttentionOptions } from './class-attention-block.js';
export { ConvPatchEmbed, convPatchEmbedGrid, convPatchEmbedOutput, convPatchEmbedWidths, type ConvPatchEmbedOptions } from './conv-patch-embed.js';
export {
  ChannelLayerNorm,
  ConvMlp,
  ConvNeXtBlock,
  ConvNeXtStage,
  convNeXtStageOutput,
  ConvNeXtStem,
  convNeXtStemOutput,
  type ConvNeXtStageOptions,
  type ConvNeXtStemOptions,
} from './convnext.js';
export { FANBlock, fanBlockOutput, OverlapPatchEmbed, type FANBlockOptions } from './fan-block.js';
export { DWConv, FanMlp, SEMlp, seReducedChannels, SqueezeExcite, type FanMlpOptions } from './fan-mlp.js';
export { fourierFeatures, fourierPositionOutput, PositionalEncodingFourier, type FourierPositionOptions } from './fourier-position.js';
export { HybridEmbed, hybridEmbedOutput, type HybridEmbedOptions } from './hybrid-embed.js';
export {
  effectiveWindow,
  PatchMerging,
  relativePositionLookup,
  shiftedWindowMask,
  SwinBlock,
  SwinPatchEmbed,
  swinPatchEmbedOutput,
  SwinStage,
  swinStageOutput,
  WindowAttention,
  type SwinBlockOptions,
  type SwinPatchEmbedOptions,
  type SwinStageOptions,
} from './swin.js';
export { TokenMixing, type TokenMixingOptions } from './token-mixing.js';
export { fanPlugin } from './plugin.js';
export { fanPlugin as default } from './plugin.js';
export { fanCheckpointFilter, fanModels, fanSwinSpec, fanViTSpec, type FanSwinConfig, type FanViTConfig } from './models.js';
export {
  convnextStageBlock,
  convnextStemBlock,
  fanBlock,
  fanBlocks,
  fanClassAttentionBlock,
  fanConvPatchEmbedBlock,
  fanHybridEmbedBlock,
  fanPositionBlock,
  fanSwinStageBlock,
  swinPatchEmbedBlock,
} from './blocks.js';
