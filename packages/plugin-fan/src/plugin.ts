import pkg from '../package.json' with { type: 'json' };
import type { TesseraPlugin } from '@tessera/core';
import { fanBlocks } from './blocks.js';
import { fanModels } from './models.js';

/** FAN for Tessera: the FAN, class-attention, ConvNeXt and Swin blocks and the fourteen official models. Register with `use(fanPlugin)`. */
export const fanPlugin: TesseraPlugin = {
  name: '@tessera/plugin-fan',
  version: pkg.version,
  coreRange: '^1.0.0',
  blocks: fanBlocks,
  models: fanModels,
};
