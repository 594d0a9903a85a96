export { flexivitPlugin } from './plugin.js';
export { flexivitPlugin as default } from './plugin.js';
export { FLEXI_CONVENTIONS, flexiGrid, FlexiPatchEmbed, flexiPatchEmbedBlock, flexiPatchEmbedOptions, type FlexiConvention, type FlexiPatchEmbedOptions } from './flexi-patch-embed.js';
export { FLEXIVIT_DEFAULTS, flexiCheckpointFilter, flexiModels, PAPER_PATCH_SIZES } from './models.js';
export { resampleGridEmbedding } from './position.js';
