import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createModel, createModelFromSpec, InvalidArgumentError, parseModelSpec, planModel, registry, resolveImgSize, type ModelSpec, type VisionModel } from '@tessera/core';

/** What a run needs to rebuild its model: a registered name, or a spec (kept inline so a run folder is self-contained). */
export interface ModelRef {
  readonly name: string;
  readonly spec?: Record<string, unknown>;
}

export interface ModelOverrides {
  readonly numClasses?: number;
  readonly imgSize?: number;
  readonly inChannels?: number;
  readonly dropPathRate?: number;
  readonly seed?: number;
}

function isSpecPath(model: string): boolean {
  return model.endsWith('.json') || (existsSync(model) && !registry.listModels().includes(model));
}

/** Reads `--model`: a registered model name, or a path to a JSON model spec. */
export function resolveModelRef(model: string, cwd = process.cwd()): ModelRef {
  if (!isSpecPath(model)) {
    registry.getModel(model);
    return { name: model };
  }
  const path = resolve(cwd, model);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError('--model', model, `a registered model name (tessera models) or a readable JSON spec file (${(error as Error).message})`);
  }
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError('--model', model, `a JSON model spec (${(error as Error).message})`);
  }
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new InvalidArgumentError('--model', model, 'a JSON object with stem, stages and head');
  const named = spec as Record<string, unknown>;
  return { name: typeof named.name === 'string' ? named.name : model, spec: named };
}

/** The input size a model gets when no --img-size is given: the spec's, or the named model's default. */
export function defaultImgSize(ref: ModelRef): number {
  if (ref.spec) {
    const size = ref.spec.imgSize;
    if (typeof size === 'number') return size;
    if (Array.isArray(size) && typeof size[0] === 'number') return size[0];
    return 224;
  }
  return modelInputSize(ref.name)[0];
}

/** A registered model's default input [height, width, channels], from its spec. */
export function modelInputSize(name: string): readonly [number, number, number] {
  const spec = registry.modelSpec(name);
  const [height, width] = resolveImgSize(spec.imgSize, 224);
  return [height, width, spec.inChannels];
}

/**
 * The validated spec of a model reference, every default filled in, with explicit
 * overrides applied (what `tessera spec` prints). Every block and option is
 * checked, without making a tensor.
 */
export function resolveModelSpec(ref: ModelRef, overrides: ModelOverrides = {}): ModelSpec {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const spec = ref.spec ? parseModelSpec({ ...ref.spec, ...defined }) : registry.modelSpec(ref.name, defined);
  planModel(spec, registry);
  return spec;
}

/** Builds the model; explicit overrides replace what the spec or the model's defaults say. */
export function buildModel(ref: ModelRef, overrides: ModelOverrides = {}): VisionModel {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  if (ref.spec) return createModelFromSpec({ ...ref.spec, ...defined });
  return createModel(ref.name, defined);
}
