import { CORE_VERSION, type TesseraPlugin } from '@tessera/core';
import { HARNESS_VERSION } from '../environment.js';
import { corruptAugmentationDefinition } from './augment.js';

let plugin: TesseraPlugin | undefined;

/**
 * What the harness itself registers with core's registry: the `corrupt` training
 * augmentation. Built on first use (one value, so registering it again is a no-op).
 * The harness ships with the core it was built against, hence the range.
 */
export function harnessPlugin(): TesseraPlugin {
  plugin ??= { name: '@tessera/harness', version: HARNESS_VERSION, coreRange: `^${CORE_VERSION}`, augmentations: { corrupt: corruptAugmentationDefinition } };
  return plugin;
}
