export { t2tPlugin } from './plugin.js';
export { t2tPlugin as default } from './plugin.js';
export { loadT2TStateDict, T2T_DEFAULTS, t2tModels, type LoadT2TOptions } from './models.js';
export { DEFAULT_T2T_ARGS, resolveQkScale, T2TViT, type QkScale, type T2TViTArgs } from './t2t-vit.js';
export { softSplitSchema, T2T_SOFT_SPLITS, t2tBlock, t2tGrids, T2TModule, t2tOptions, type SoftSplit, type T2TLayer, type T2TOptions } from './t2t-module.js';
export { orthogonalMatrix, TokenPerformer, type PerformerAttention, type TokenPerformerOptions } from './token-performer.js';
export { TokenTransformer, type TokenTransformerOptions } from './token-transformer.js';
export { bicubicResizeMatrix, resizePosEmbed, sinusoidPositionEmbedding } from './position.js';
