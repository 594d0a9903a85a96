import { CompositionError, InvalidArgumentError } from '../errors.js';
import type { ForwardContext } from '../nn/context.js';
import { Module, ModuleDict, ModuleList } from '../nn/module.js';
import { stageInfo, VisionModel, type ForwardOverrides, type StageInfo } from '../models/vision-model.js';
import type { Registry } from '../plugin/registry.js';
import type { Block, BlockDefinition, BlockPosition, OutputName } from '../plugin/types.js';
import { describeSpec, gridToTokens, tokensToGrid, type FeatureSpec, type Features, type Layout } from '../tensor/layout.js';
import { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { describeIssuePath, optionNames, parseBlockOptions, resolveImgSize } from './options.js';
import { parseModelSpec, type ModelSpec } from './spec.js';

type Role = 'stem' | 'stage' | 'head';

/** One block of a planned model, before any tensor exists. */
export interface PlannedBlock {
  /** Where it is written in the spec: `stem`, `stages[1]`, `head`. */
  readonly path: string;
  /** The spec's stage name (the key of per-call overrides). */
  readonly stage: string;
  /** Its state-dict prefix: `blocks.3`, `patch_embed`, or '' for the top level. */
  readonly prefix: string;
  /** Index within its stage's list, when the stage has a depth. */
  readonly index: number | undefined;
  readonly role: Role;
  /** The registered block name. */
  readonly block: string;
  readonly definition: BlockDefinition<any>;
  readonly options: unknown;
  readonly input: FeatureSpec;
  readonly output: FeatureSpec;
}

/** The spec a layout conversion turns `spec` into, or the reason it cannot. */
function convertSpec(spec: FeatureSpec, accepts: readonly Layout[]): FeatureSpec | string {
  if (accepts.includes(spec.layout)) return spec;
  if (spec.layout === 'image' && accepts.includes('tokens')) {
    return { layout: 'tokens', grid: { height: spec.height, width: spec.width }, channels: spec.channels, numPrefixTokens: 0 };
  }
  if (spec.layout === 'tokens' && accepts.includes('image')) {
    if (spec.numPrefixTokens > 0) {
      return `it takes images, and the tokens reaching it carry ${spec.numPrefixTokens} prefix (class) token(s) that an image grid cannot hold`;
    }
    return { layout: 'image', height: spec.grid.height, width: spec.grid.width, channels: spec.channels };
  }
  return `it accepts ${accepts.join(' or ')}, but receives ${describeSpec(spec)}`;
}

function convertFeatures(x: Features, target: Layout): Features {
  if (x.layout === target) return x;
  if (x.layout === 'image' && target === 'tokens') return gridToTokens(x.tensor);
  if (x.layout === 'tokens' && target === 'image') return { layout: 'image', tensor: tokensToGrid(x).grid };
  throw new CompositionError(`cannot convert ${x.layout} features to ${target}`);
}

const ROLE_POSITIONS: Record<Role, readonly BlockPosition[]> = { stem: ['stem'], stage: ['stage', 'transition'], head: ['head'] };

/**
 * Refuses stage names that cannot share one state dict: the same prefix twice,
 * a block where another stage needs a container (`blocks` and `blocks.0`), or a
 * list at the top level.
 */
function checkStageNames(spec: ModelSpec): void {
  const leaves = new Map<string, string>();
  const containers = new Map<string, string>();
  const entries: Array<[string, string, boolean]> = [
    ['stem', spec.stem.name, false],
    ...spec.stages.map((s, i): [string, string, boolean] => [`stages[${i}]`, s.name ?? `stages.${i}`, s.depth !== undefined]),
    ['head', spec.head.name, false],
  ];
  for (const [path, name, isList] of entries) {
    if (name === '') {
      if (isList) throw new CompositionError(`${path}.name: a stage with a depth is a list and needs a name (its blocks are <name>.0, <name>.1, …), not ''`);
      continue;
    }
    const clash = leaves.get(name) ?? containers.get(name);
    if (clash) throw new CompositionError(`${path}.name: '${name}' is already the state-dict prefix of ${clash}; give each stage its own name`);
    const parts = name.split('.');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('.');
      const leaf = leaves.get(parent);
      if (leaf) throw new CompositionError(`${path}.name: '${name}' would sit inside ${leaf}, whose block is named '${parent}'`);
      if (!containers.has(parent)) containers.set(parent, path);
    }
    leaves.set(name, path);
  }
}

/**
 * Plans a spec without making a tensor: resolves every block, checks where it
 * stands, validates its options strictly, spreads the drop-path schedule, threads
 * the feature specs through and inserts layout conversions. Any impossible
 * combination throws here, naming the spec path and the reason.
 */
export function planModel(spec: ModelSpec, registry: Registry): PlannedBlock[] {
  checkStageNames(spec);
  const [height, width] = resolveImgSize(spec.imgSize, 224);
  let current: FeatureSpec = { layout: 'image', height, width, channels: spec.inChannels };
  interface Entry {
    readonly path: string;
    readonly stage: string;
    readonly index: number | undefined;
    readonly ref: { block: string; options: Record<string, unknown> };
    readonly role: Role;
    readonly definition: BlockDefinition<any>;
  }
  const resolve = (path: string, block: string): BlockDefinition<any> => {
    try {
      return registry.getBlock(block).definition;
    } catch (error) {
      throw new CompositionError(`${path}.block: ${(error as Error).message}`);
    }
  };
  const entries: Entry[] = [{ path: 'stem', stage: spec.stem.name, index: undefined, ref: spec.stem, role: 'stem', definition: resolve('stem', spec.stem.block) }];
  spec.stages.forEach((stage, i) => {
    const path = `stages[${i}]`;
    const definition = resolve(path, stage.block);
    const name = stage.name ?? `stages.${i}`;
    if (stage.depth === undefined) entries.push({ path, stage: name, index: undefined, ref: stage, role: 'stage', definition });
    for (let j = 0; j < (stage.depth ?? 0); j++) entries.push({ path, stage: name, index: j, ref: stage, role: 'stage', definition });
  });
  entries.push({ path: 'head', stage: spec.head.name, index: undefined, ref: spec.head, role: 'head', definition: resolve('head', spec.head.block) });

  const dropPathBlocks = entries.filter((e) => e.definition.supports.dropPath).length;
  let dropPathIndex = 0;
  const planned: PlannedBlock[] = [];
  for (const entry of entries) {
    const { definition, ref, path, role } = entry;
    const allowed = ROLE_POSITIONS[role];
    if (!definition.supports.positions.some((p) => allowed.includes(p))) {
      const where = role === 'stage' ? 'in stages' : `as the ${role}`;
      throw new CompositionError(`${path}.block: '${ref.block}' stands only at ${definition.supports.positions.join(', ')}, so it cannot be used ${where}`);
    }
    const raw: Record<string, unknown> = { ...ref.options };
    if (role === 'head' && raw.numClasses === undefined && optionNames(definition.options)?.includes('numClasses')) raw.numClasses = spec.numClasses;
    if (definition.supports.dropPath) {
      if (raw.dropPath === undefined && spec.dropPathRate > 0) {
        raw.dropPath =
          spec.dropPathSchedule === 'constant' ? spec.dropPathRate : dropPathBlocks > 1 ? (spec.dropPathRate * dropPathIndex) / (dropPathBlocks - 1) : 0;
      }
      dropPathIndex++;
    }
    const options = parseBlockOptions(definition.options, raw, path, ref.block);
    const converted = convertSpec(current, definition.accepts);
    if (typeof converted === 'string') {
      throw new CompositionError(`${path}: block '${ref.block}' cannot follow the previous stage: ${converted}`);
    }
    let output: FeatureSpec;
    try {
      output = definition.outputSpec(converted, options);
    } catch (error) {
      throw new CompositionError(`${path}: block '${ref.block}' refuses its input (${describeSpec(converted)}): ${(error as Error).message}`);
    }
    const prefix = entry.index === undefined ? entry.stage : `${entry.stage}.${entry.index}`;
    planned.push({ path, stage: entry.stage, prefix, index: entry.index, role, block: ref.block, definition, options, input: converted, output });
    current = output;
  }
  if (current.layout !== 'vector') {
    throw new CompositionError(`head: block '${spec.head.block}' must produce a vector of logits, but produces ${describeSpec(current)}`);
  }
  return planned;
}

/**
 * The one model class: every model, named or hand-written, is a spec built into a
 * ComposedModel. Each block sits under its stage's state-dict prefix (a stage
 * with a depth is a ModuleList, a stage named '' sits at the top level), with
 * layout conversions between blocks.
 */
export class ComposedModel extends VisionModel {
  readonly stem: Block;
  readonly head: Block;
  readonly plan: readonly PlannedBlock[];
  private readonly blocks: readonly Block[];
  private readonly stageModules = new Map<string, Block | ModuleList<Block>>();
  private readonly attentionBlock: Block | undefined;

  constructor(
    readonly spec: ModelSpec,
    registry: Registry,
  ) {
    const plan = planModel(spec, registry);
    const [height, width] = resolveImgSize(spec.imgSize, 224);
    super(
      {
        name: spec.name,
        inputSize: [height, width, spec.inChannels],
        numClasses: spec.numClasses,
        mean: spec.mean,
        std: spec.std,
        interpolation: spec.interpolation,
        cropPct: spec.cropPct,
        classifier: spec.head.name,
      },
      spec.seed,
    );
    this.plan = plan;
    const rng = new Rng(spec.seed);
    const blocks: Block[] = [];
    try {
      for (const p of plan) {
        const block = p.definition.create(p.input, p.options, rng);
        blocks.push(block);
        this.mount(p, block);
      }
      this.checkUniqueKeys(blocks);
    } catch (error) {
      for (const block of blocks) block.dispose();
      throw error;
    }
    this.blocks = blocks;
    this.stem = blocks[0]!;
    this.head = blocks[blocks.length - 1]!;
    // The last block whose attention has the class token as a query (TransMix §3.2 reads the last one).
    let attentionIndex = -1;
    plan.forEach((p, i) => {
      const { attention } = p.definition.supports;
      if (attention === 'class' || (attention === 'self' && p.input.layout === 'tokens' && p.input.numPrefixTokens >= 1)) attentionIndex = i;
    });
    this.attentionBlock = attentionIndex >= 0 ? blocks[attentionIndex] : undefined;
  }

  /** Puts a block under its state-dict prefix, making the containers on the way. */
  private mount(p: PlannedBlock, block: Block): void {
    if (p.stage === '') {
      this.addInlineModule(block);
      this.stageModules.set(p.path, block);
      return;
    }
    const parts = p.stage.split('.');
    let parent: Module = this;
    let path = '';
    for (const part of parts.slice(0, -1)) {
      path = path ? `${path}.${part}` : part;
      parent = this.child(parent, part, () => new ModuleDict());
    }
    const last = parts[parts.length - 1]!;
    if (p.index === undefined) {
      this.attach(parent, last, block);
      this.stageModules.set(p.stage, block);
      this.stageModules.set(p.path, block);
      return;
    }
    const list = this.child(parent, last, () => new ModuleList<Block>()) as ModuleList<Block>;
    list.push(block);
    this.stageModules.set(p.stage, list);
    this.stageModules.set(p.path, list);
  }

  private readonly containers = new Map<Module, Map<string, Module>>();

  private child(parent: Module, name: string, make: () => Module): Module {
    let table = this.containers.get(parent);
    if (!table) this.containers.set(parent, (table = new Map()));
    let found = table.get(name);
    if (!found) {
      found = make();
      this.attach(parent, name, found);
      table.set(name, found);
    }
    return found;
  }

  private attach(parent: Module, name: string, module: Module): void {
    if (parent === this) this.addModule(name, module);
    else (parent as ModuleDict).set(name, module);
  }

  /** Two stages named '' (or a block whose names meet another's) must not write the same state-dict key. */
  private checkUniqueKeys(blocks: readonly Block[]): void {
    const owner = new Map<string, string>();
    blocks.forEach((block, i) => {
      const p = this.plan[i]!;
      const prefix = p.prefix ? `${p.prefix}.` : '';
      const keys = [...block.namedParameters(prefix).map(([k]) => k), ...block.namedBuffers(prefix).map(([k]) => k)];
      for (const key of keys) {
        const first = owner.get(key);
        if (first && first !== p.path) throw new CompositionError(`${p.path}.name: its block's '${key}' is also written by ${first}; give one of the stages another name`);
        owner.set(key, p.path);
      }
    });
  }

  /**
   * The block (or, for a stage with a depth, the list of blocks) of a stage, by
   * its name (`blocks`) or its spec path (`stem`, `stages[0]`, `head`; the only
   * way to reach a stage named '').
   */
  stage(name: string): Block | ModuleList<Block> {
    const found = this.stageModules.get(name);
    if (!found) throw new InvalidArgumentError('stage', name, `a stage of ${this.config.name}: ${this.stageNames().join(', ')}`);
    return found;
  }

  /** Every stage's name and spec path. */
  stageNames(): string[] {
    return [...this.stageModules.keys()];
  }

  get availableOutputs(): readonly OutputName[] {
    return this.attentionBlock ? ['clsAttention'] : [];
  }

  stages(): StageInfo[] {
    const [h, w, c] = this.config.inputSize;
    return [
      stageInfo('input', { layout: 'image', height: h, width: w, channels: c }, 0),
      ...this.plan.map((p, i) => stageInfo(`${p.prefix || p.path} ${p.block}`, p.output, this.blocks[i]!.numParameters())),
    ];
  }

  /** True when every block reads its grid from its input, so the model takes other input sizes. */
  get dynamicGrid(): boolean {
    return this.plan.every((p) => p.definition.supports.dynamicGrid);
  }

  /**
   * Validates a call before any compute: the input's channels (and its size,
   * unless every block declares `dynamicGrid`), then each override (a known
   * stage, an option its block lists in `supports.overridable`, a value its
   * schema accepts), then the feature specs of the whole model at this size with
   * these options, so that a block that cannot take them refuses here.
   */
  protected override prepareCall(images: tf.Tensor4D, overrides: ForwardOverrides | undefined): void {
    this.callOverrides = [];
    const [height, width, channels] = this.config.inputSize;
    if (!(images instanceof tf.Tensor) || images.rank !== 4 || images.shape[3] !== channels) return this.checkInput(images);
    const [, h, w] = images.shape;
    const resized = h !== height || w !== width;
    if (resized && !this.dynamicGrid) {
      const fixed = this.plan.filter((p) => !p.definition.supports.dynamicGrid).map((p) => `${p.prefix || p.path} (${p.block})`);
      throw new InvalidArgumentError(
        'images',
        `a tensor of shape [${images.shape.join(', ')}]`,
        `an NHWC batch [B, ${height}, ${width}, ${channels}] for ${this.config.name}; other sizes need every block to declare dynamicGrid, and ${[...new Set(fixed)].join(', ')} do not`,
      );
    }
    const perBlock = this.resolveOverrides(overrides);
    if (!resized && !perBlock.some((o) => o)) return;
    let current: FeatureSpec = { layout: 'image', height: h, width: w, channels };
    this.plan.forEach((p, i) => {
      const options = perBlock[i] ? { ...(p.options as Record<string, unknown>), ...perBlock[i] } : p.options;
      const converted = convertSpec(current, p.definition.accepts);
      const what = perBlock[i] ? `overrides ${JSON.stringify(perBlock[i])}` : 'input';
      const refuse = (reason: string) =>
        new InvalidArgumentError(
          perBlock[i] ? `overrides['${p.stage || p.path}']` : 'images',
          perBlock[i] ?? `a tensor of shape [${images.shape.join(', ')}]`,
          `a call ${p.prefix || p.path} (${p.block}) can take: with this ${what} ${reason}`,
        );
      if (typeof converted === 'string') throw refuse(converted);
      try {
        current = p.definition.outputSpec(converted, options);
      } catch (error) {
        throw refuse(`it refuses ${describeSpec(converted)}: ${(error as Error).message}`);
      }
    });
    this.callOverrides = perBlock;
  }

  /** Each block's validated overrides for this call (undefined where none). */
  private resolveOverrides(overrides: ForwardOverrides | undefined): Array<Record<string, unknown> | undefined> {
    const perBlock: Array<Record<string, unknown> | undefined> = this.plan.map(() => undefined);
    if (overrides === undefined) return perBlock;
    if (!overrides || typeof overrides !== 'object' || Array.isArray(overrides)) {
      throw new InvalidArgumentError('overrides', overrides, 'an object { [stage]: { option: value } }');
    }
    for (const [stage, changes] of Object.entries(overrides)) {
      const targets = this.plan.map((p, i) => [p, i] as const).filter(([p]) => (p.stage !== '' && p.stage === stage) || p.path === stage);
      if (!targets.length) {
        const names = [...new Set(this.plan.map((p) => `'${p.stage}'`))].join(', ');
        throw new InvalidArgumentError('overrides', stage, `a stage name of ${this.config.name}: ${names} (or a spec path such as 'stages[0]')`);
      }
      if (!changes || typeof changes !== 'object' || Array.isArray(changes)) {
        throw new InvalidArgumentError(`overrides['${stage}']`, changes, '{ option: value }');
      }
      const [first] = targets[0]!;
      const { overridable } = first.definition.supports;
      for (const [key, value] of Object.entries(changes)) {
        if (!overridable.includes(key)) {
          throw new InvalidArgumentError(
            `overrides['${stage}'].${key}`,
            value,
            overridable.length ? `one of the options ${first.block} lets a call change: ${overridable.join(', ')}` : `nothing: ${first.block} lets a call change no option`,
          );
        }
      }
      for (const [p, i] of targets) {
        const parsed = p.definition.options.safeParse({ ...(p.options as Record<string, unknown>), ...changes });
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          const key = String(issue.path[0] ?? '');
          throw new InvalidArgumentError(`overrides['${stage}'].${describeIssuePath(issue.path)}`, (changes as Record<string, unknown>)[key], issue.message);
        }
        const data = parsed.data as Record<string, unknown>;
        perBlock[i] = Object.fromEntries(Object.keys(changes).map((k) => [k, data[k]]));
      }
    }
    return perBlock;
  }

  private callOverrides: Array<Record<string, unknown> | undefined> = [];

  protected run(images: tf.Tensor4D, ctx: ForwardContext, wantAttention: boolean): tf.Tensor2D {
    let x: Features = { layout: 'image', tensor: images };
    for (let i = 0; i < this.blocks.length; i++) {
      const block = this.blocks[i]!;
      x = convertFeatures(x, block.inputSpec.layout);
      ctx.captureAttention = wantAttention && block === this.attentionBlock;
      ctx.overrides = this.callOverrides[i];
      x = block.forward(x, ctx);
    }
    ctx.captureAttention = false;
    ctx.overrides = undefined;
    if (x.layout !== 'vector') throw new CompositionError(`the head produced ${x.layout} features instead of logits`);
    return x.tensor;
  }
}

/** Builds a model from a JSON spec with blocks from the registry's plugins. */
export function composeModel(spec: unknown, registry: Registry): ComposedModel {
  return new ComposedModel(parseModelSpec(spec), registry);
}
