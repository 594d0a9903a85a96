import type { TesseraPlugin } from '@tessera/core';
import { transmixDefinition } from './transmix.js';

/** Register with `use(transmixPlugin)`; then `createAugmentation('transmix', options)`. */
export const transmixPlugin: TesseraPlugin = {
  name: '@tessera/plugin-transmix',
  version: '0.1.0',
  coreRange: '^0.1.0',
  augmentations: { transmix: transmixDefinition },
};
