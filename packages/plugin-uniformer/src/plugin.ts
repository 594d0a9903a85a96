import pkg from '../package.json' with { type: 'json' };
import type { TesseraPlugin } from '@tessera/core';
import { globalBlock, localBlock } from './blocks.js';
import { uniformerModels } from './models.js';

/** UniFormer for Tessera: the local and global blocks and the five uniformer_* models. Register with `use(uniformerPlugin)`. */
export const uniformerPlugin: TesseraPlugin = {
  name: '@tessera/plugin-uniformer',
  version: pkg.version,
  coreRange: '^1.0.0',
  blocks: { uniformer_local: localBlock, uniformer_global: globalBlock },
  models: uniformerModels,
};
