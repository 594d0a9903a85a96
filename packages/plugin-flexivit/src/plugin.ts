import pkg from '../package.json' with { type: 'json' };
import type { TesseraPlugin } from '@tessera/core';
import { flexiPatchEmbedBlock } from './flexi-patch-embed.js';
import { flexiModels } from './models.js';

/** FlexiViT for Tessera: the `flexi_patch_embed` stem block and the `flexivit_*` models. Register with `use(flexivitPlugin)`. */
export const flexivitPlugin: TesseraPlugin = {
  name: '@tessera/plugin-flexivit',
  version: pkg.version,
  coreRange: '^1.0.0',
  blocks: { flexi_patch_embed: flexiPatchEmbedBlock },
  models: flexiModels,
};
