import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Attention, CompositionError, createModel, createModelFromSpec, InvalidArgumentError, parseModelSpec, planModel, registry, resolveImgSize, Rng, tf, UnknownNameError, withoutInitialValues, type Module, type ModelSpec, type PlannedBlock, type VisionModel } from '@tessera/core';
import { openRegularFile, readRange } from '@tessera/core/node';
import { checkModelFits, parametersAtLeast, type ModelFootprint, type ResourceEstimate } from './resources.js';

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

/** Spec files are small; a larger one is not a spec (and is not read into memory). */
const MAX_SPEC_BYTES = 16 * 1024 * 1024;

function isSpecPath(model: string): boolean {
  return model.endsWith('.json') || (existsSync(model) && !registry.listModels().includes(model));
}

/** An unknown model name, with suggestions and the CLI's way to list models. */
function unknownModel(error: UnknownNameError): CompositionError {
  return new CompositionError(error.withListHint('List the registered models with `tessera models`, or give a JSON spec file (name ending in .json).'));
}

/** Reads a spec file as text: a regular file only, bounded, the path named in every error. */
async function readSpecText(model: string, path: string): Promise<string> {
  if (existsSync(path) && statSync(path).isDirectory()) throw new InvalidArgumentError('--model', model, 'a registered model name (tessera models) or a JSON spec file, but it is a directory');
  let opened: Awaited<ReturnType<typeof openRegularFile>>;
  try {
    opened = await openRegularFile(path, 'model spec');
  } catch (error) {
    throw new InvalidArgumentError('--model', model, `a registered model name (tessera models) or a readable JSON spec file (${(error as Error).message})`);
  }
  try {
    if (opened.size > MAX_SPEC_BYTES) throw new InvalidArgumentError('--model', model, `a JSON spec file of at most ${MAX_SPEC_BYTES} bytes (it has ${opened.size})`);
    return new TextDecoder().decode(await readRange(opened.handle, 0, opened.size, path));
  } finally {
    await opened.handle.close();
  }
}

/**
 * Reads `--model`: a registered model name, or a path to a JSON model spec. A spec is
 * validated here exactly as the composer will validate it (strict options, the spec
 * path named), so every command refuses a bad spec before any tensor is made.
 * Call it after the plugins are loaded: their models and blocks must be registered.
 */
export async function resolveModelRef(model: string, cwd = process.cwd()): Promise<ModelRef> {
  if (typeof model !== 'string' || model.trim() === '') throw new InvalidArgumentError('--model', model, 'a registered model name (tessera models) or a JSON spec file');
  if (!isSpecPath(model)) {
    try {
      registry.getModel(model);
    } catch (error) {
      if (error instanceof UnknownNameError) throw unknownModel(error);
      throw error;
    }
    return { name: model };
  }
  const path = resolve(cwd, model);
  const text = await readSpecText(model, path);
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError('--model', model, `a JSON model spec (${(error as Error).message})`);
  }
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new InvalidArgumentError('--model', model, 'a JSON object with stem, stages and head');
  const named = spec as Record<string, unknown>;
  const ref = { name: typeof named.name === 'string' && named.name ? named.name : model, spec: named };
  checkModel(ref, {}, model);
  return ref;
}

function definedOverrides(overrides: ModelOverrides): Record<string, unknown> {
  return Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
}

/** The unparsed spec of a model reference with these overrides: a spec file's, or a named model's `definition.spec(options)`. */
function specInput(ref: ModelRef, overrides: ModelOverrides): Record<string, unknown> {
  if (ref.spec) return { ...ref.spec, ...definedOverrides(overrides) };
  let definition;
  try {
    definition = registry.getModel(ref.name).definition;
  } catch (error) {
    if (error instanceof UnknownNameError) throw unknownModel(error);
    throw error;
  }
  return definition.spec(definedOverrides(overrides)) as Record<string, unknown>;
}

/** A model's footprint before building, with the plan it came from. */
export interface PlannedFootprint extends ModelFootprint {
  readonly plan: readonly PlannedBlock[];
}

/**
 * Validates a model with these overrides without making a tensor, and returns what
 * it will cost before building: the features after each block and a lower bound of
 * its parameters. A spec file's errors name the file.
 */
export function checkModel(ref: ModelRef, overrides: ModelOverrides = {}, source: string = ref.name): PlannedFootprint {
  let parsed: ModelSpec;
  let plan: ReturnType<typeof planModel>;
  try {
    parsed = parseModelSpec(specInput(ref, overrides));
    plan = planModel(parsed, registry);
  } catch (error) {
    if (error instanceof CompositionError && ref.spec) throw new CompositionError(`--model ${source}: ${error.message}`);
    throw error;
  }
  const input = { layout: 'image' as const, ...sizeOf(parsed), channels: parsed.inChannels };
  return { input, outputs: plan.map((p) => p.output), params: parametersAtLeast(plan), paramsExact: false, plan };
}

/** Parameters of one planned block, built at its true input and freed again. */
function builtParameters(block: PlannedBlock): number {
  return tf.tidy(() => {
    // Counted, never run: no initial value is drawn.
    const built = withoutInitialValues(() => block.definition.create(block.input, block.options, new Rng(0)));
    try {
      return built.numParameters();
    } finally {
      built.dispose();
    }
  });
}

/**
 * A tighter parameter bound: each block that a stage repeats (its depth) is built once
 * at its true input and counted, and every copy has as many, since what differs between
 * the copies (the drop-path schedule, dropout rates) holds no parameters. A spec with
 * depth 10000 is refused from one block's count instead of aborting the wasm heap.
 * Blocks that appear once keep the width-change bound: building them here would cost
 * what building the model costs.
 */
export function measureRepeatedBlocks(planned: PlannedFootprint): ModelFootprint {
  const groups = new Map<string, PlannedBlock[]>();
  for (const block of planned.plan) {
    const options = Object.fromEntries(Object.entries((block.options ?? {}) as Record<string, unknown>).filter(([key]) => !/drop/i.test(key)));
    const key = JSON.stringify([block.block, block.input, options]);
    // Appended in place: copying the group per block made a depth of 100000 take minutes before its refusal.
    const group = groups.get(key);
    if (group) group.push(block);
    else groups.set(key, [block]);
  }
  let params = 0;
  for (const blocks of groups.values()) params += blocks.length > 1 ? blocks.length * builtParameters(blocks[0]!) : parametersAtLeast(blocks);
  return { input: planned.input, outputs: planned.outputs, params: Math.max(params, planned.params), paramsExact: false };
}

/**
 * Validates a model and refuses what cannot fit the backend before it is built: first
 * by the width-change bound (nothing is built, so an absurd width costs nothing), then
 * by the count of its repeated blocks, each built once.
 */
export function estimateModel(ref: ModelRef, overrides: ModelOverrides, fits: Parameters<typeof checkModelFits>[1], source: string = ref.name): ResourceEstimate {
  const planned = checkModel(ref, overrides, source);
  checkModelFits(planned, fits);
  return checkModelFits(measureRepeatedBlocks(planned), fits);
}

function sizeOf(spec: ModelSpec): { height: number; width: number } {
  const [height, width] = resolveImgSize(spec.imgSize, 224);
  return { height, width };
}

/** Heads of every attention layer in a module tree. */
function attentionHeads(module: Module): number[] {
  const own = module instanceof Attention ? [module.numHeads] : [];
  return [...own, ...module.namedChildren().flatMap(([, child]) => attentionHeads(child))];
}

/** The footprint of a built model: exact parameters, features after each stage, its attention layers. */
export function footprintOf(model: VisionModel): ModelFootprint {
  const [input, ...stages] = model.stages();
  return { input: input!.spec, outputs: stages.map((s) => s.spec), params: model.numParameters(), paramsExact: true, attentionHeads: attentionHeads(model) };
}

/** The input size a model gets when no --img-size is given: the spec's (validated), or the named model's default. */
export function defaultImgSize(ref: ModelRef): number {
  if (ref.spec) return sizeOf(parseModelSpec(ref.spec)).height;
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
  const spec = parseModelSpec(specInput(ref, overrides));
  planModel(spec, registry);
  return spec;
}

/** Builds the model; explicit overrides replace what the spec or the model's defaults say. */
export function buildModel(ref: ModelRef, overrides: ModelOverrides = {}): VisionModel {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  if (ref.spec) return createModelFromSpec({ ...ref.spec, ...defined });
  return createModel(ref.name, defined);
}
