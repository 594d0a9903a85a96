import { composeModel, type ComposedModel } from '../compose/composed-model.js';
import type { ModelSpec } from '../compose/spec.js';
import { corePlugin } from './core-plugin.js';
import { Registry } from './registry.js';
import type { ModelOptions, TesseraPlugin } from './types.js';

/** The process-wide registry, with core's own blocks and models already registered. */
export const registry = new Registry().use(corePlugin);

/** Registers a plugin in the default registry. */
export function use(plugin: TesseraPlugin): Registry {
  return registry.use(plugin);
}

/** Builds a named model from the default registry (timm's create_model). */
export function createModel(name: string, options: ModelOptions = {}): ComposedModel {
  return registry.createModel(name, options);
}

/** The validated JSON spec of a named model for these options, every default filled in. */
export function modelSpec(name: string, options: ModelOptions = {}): ModelSpec {
  return registry.modelSpec(name, options);
}

/** Names of the registered models, optionally filtered by a glob such as `t2t_*`. */
export function listModels(filter?: string): string[] {
  return registry.listModels(filter);
}

/** Builds a model from a JSON spec with blocks from the default registry. */
export function createModelFromSpec(spec: unknown): ComposedModel {
  return composeModel(spec, registry);
}
