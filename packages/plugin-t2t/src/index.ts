export { t2tPlugin } from './plugin.js';
export { t2tPlugin as default } from './plugin.js';
export { loadT2TStateDict, resolveQkScale, t2tCheckpointFilter, t2tModels, t2tVitSpec, type LoadT2TOptions, type QkScale, type T2TViTConfig } from './models.js';
export { softSplitSchema, T2T_SOFT_SPLITS, t2tBlock, t2tGrids, T2TModule, t2tOptions, type SoftSplit, type T2TLayer, type T2TOptions } from './t2t-module.js';
export { orthogonalMatrix, TokenPerformer, type PerformerAttention, type TokenPerformerOptions } from './token-performer.js';
export { TokenTransformer, type TokenTransformerOptions } from './token-transformer.js';
export { resizePosEmbed } from './position.js';
