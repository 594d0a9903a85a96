import { parseModelOptions } from '../compose/options.js';
import { registry as defaultRegistry } from '../plugin/default-registry.js';
import type { Registry } from '../plugin/registry.js';
import type { Augmentation } from '../plugin/types.js';

/**
 * Builds a registered augmentation by name, e.g. `createAugmentation('mixup',
 * {mixupAlpha: 0.8, cutmixAlpha: 1})` or `createAugmentation('transmix')` once its
 * plugin is registered. A bad option is named in the error.
 */
export function createAugmentation(name: string, options: Record<string, unknown> = {}, registry: Registry = defaultRegistry): Augmentation {
  const { definition } = registry.getAugmentation(name);
  return definition.create(parseModelOptions(definition.options, name, options));
}
