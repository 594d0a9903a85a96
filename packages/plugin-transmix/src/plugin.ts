import pkg from '../package.json' with { type: 'json' };
import type { TesseraPlugin } from '@tessera/core';
import { transmixDefinition } from './transmix.js';

/** Register with `use(transmixPlugin)`; then `createAugmentation('transmix', options)`. */
export const transmixPlugin: TesseraPlugin = {
  name: '@tessera/plugin-transmix',
  version: pkg.version,
  coreRange: '^1.0.0',
  augmentations: { transmix: transmixDefinition },
};
