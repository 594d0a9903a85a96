export { DynamicPositionEmbedding } from './position.js';
export { ConvMlp } from './conv-mlp.js';
export { LocalBlock, localBlockOptions, localBlockOutputSpec, type LocalBlockOptions } from './local-block.js';
export { GlobalBlock, globalBlockHeads, globalBlockOptions, globalBlockOutputSpec, type GlobalBlockOptions } from './global-block.js';
export { globalBlock, localBlock } from './blocks.js';
export { uniformerModelOptions, uniformerModels, uniformerSpec, type UniFormerConfig } from './models.js';
export { uniformerPlugin } from './plugin.js';
export { uniformerPlugin as default } from './plugin.js';
