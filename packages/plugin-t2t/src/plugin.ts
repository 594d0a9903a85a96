import pkg from '../package.json' with { type: 'json' };
import type { TesseraPlugin } from '@tessera/core';
import { t2tModels } from './models.js';
import { t2tBlock } from './t2t-module.js';

/** T2T-ViT for Tessera: the `t2t` stem block and the nine `t2t_vit_*` models. Register with `use(t2tPlugin)`. */
export const t2tPlugin: TesseraPlugin = {
  name: '@tessera/plugin-t2t',
  version: pkg.version,
  coreRange: '^1.0.0',
  blocks: { t2t: t2tBlock },
  models: t2tModels,
};
