import { CompositionError } from '../errors.js';
import type { ForwardContext } from '../nn/context.js';
import { ModuleList } from '../nn/module.js';
import { resolveImgSize } from '../models/vit.js';
import { stageInfo, VisionModel, type StageInfo } from '../models/vision-model.js';
import type { Registry } from '../plugin/registry.js';
import type { Block, BlockDefinition, OutputName } from '../plugin/types.js';
import { describeSpec, gridToTokens, tokensToGrid, type FeatureSpec, type Features, type Layout } from '../tensor/layout.js';
import { Rng } from '../tensor/random.js';
import type { tf } from '../tensor/tf.js';
import { describeIssuePath, parseModelSpec, type ModelSpec } from './spec.js';

interface PlannedBlock {
  readonly path: string;
  readonly name: string;
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

/**
 * Plans a spec without making a tensor: resolves every block, validates its
 * options, threads the feature specs through and inserts layout conversions.
 * Any impossible combination throws here, naming the spec path and the reason.
 */
export function planModel(spec: ModelSpec, registry: Registry): PlannedBlock[] {
  const [height, width] = resolveImgSize(spec.imgSize, 224);
  let current: FeatureSpec = { layout: 'image', height, width, channels: spec.inChannels };
  const entries: Array<{ path: string; ref: { block: string; options: Record<string, unknown> }; role: 'stem' | 'block' | 'head' }> = [
    { path: 'stem', ref: spec.stem, role: 'stem' },
  ];
  spec.stages.forEach((stage, i) => {
    for (let j = 0; j < stage.depth; j++) entries.push({ path: `stages[${i}]`, ref: stage, role: 'block' });
  });
  entries.push({ path: 'head', ref: spec.head, role: 'head' });

  const planned: PlannedBlock[] = [];
  const depthBlocks = entries.filter((e) => e.role === 'block').length;
  let blockIndex = 0;
  for (const entry of entries) {
    let definition: BlockDefinition<any>;
    try {
      definition = registry.getBlock(entry.ref.block).definition;
    } catch (error) {
      throw new CompositionError(`${entry.path}.block: ${(error as Error).message}`);
    }
    if (definition.kind !== entry.role) {
      throw new CompositionError(`${entry.path}.block: '${entry.ref.block}' is a ${definition.kind} block and cannot be used as the ${entry.role === 'block' ? 'stage block' : entry.role}`);
    }
    const raw: Record<string, unknown> = { ...entry.ref.options };
    if (entry.role === 'head' && raw.numClasses === undefined) raw.numClasses = spec.numClasses;
    if (entry.role === 'block') {
      const shape = (definition.options as { shape?: Record<string, unknown> }).shape;
      if (shape && 'dropPath' in shape && raw.dropPath === undefined && spec.dropPathRate > 0) {
        raw.dropPath = depthBlocks > 1 ? (spec.dropPathRate * blockIndex) / (depthBlocks - 1) : 0;
      }
      blockIndex++;
    }
    const parsed = definition.options.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new CompositionError(`${entry.path}.options.${describeIssuePath(issue.path)}: ${issue.message} (block '${entry.ref.block}')`);
    }
    const converted = convertSpec(current, definition.accepts);
    if (typeof converted === 'string') {
      throw new CompositionError(`${entry.path}: block '${entry.ref.block}' cannot follow the previous stage: ${converted}`);
    }
    let output: FeatureSpec;
    try {
      output = definition.outputSpec(converted, parsed.data);
    } catch (error) {
      throw new CompositionError(`${entry.path}: block '${entry.ref.block}' refuses its input (${describeSpec(converted)}): ${(error as Error).message}`);
    }
    planned.push({ path: entry.path, name: entry.ref.block, definition, options: parsed.data, input: converted, output });
    current = output;
  }
  if (current.layout !== 'vector') {
    throw new CompositionError(`head: block '${spec.head.block}' must produce a vector of logits, but produces ${describeSpec(current)}`);
  }
  return planned;
}

/**
 * A model built from a spec: `stem`, `stages.<i>.<j>` and `head` modules from any
 * registered plugins, with layout conversions between them.
 */
export class ComposedModel extends VisionModel {
  readonly stem: Block;
  readonly stageBlocks: ModuleList<ModuleList<Block>>;
  readonly head: Block;
  private readonly plan: PlannedBlock[];
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
        interpolation: 'bicubic',
        cropPct: 1,
        classifier: 'head',
      },
      spec.seed,
    );
    this.plan = plan;
    const rng = new Rng(spec.seed);
    const make = (p: PlannedBlock) => p.definition.create(p.input, p.options, rng);
    this.stem = this.addModule('stem', make(plan[0]!));
    this.stageBlocks = this.addModule('stages', new ModuleList<ModuleList<Block>>());
    let k = 1;
    for (const stage of spec.stages) {
      const list = new ModuleList<Block>();
      for (let j = 0; j < stage.depth; j++) list.push(make(plan[k++]!));
      this.stageBlocks.push(list);
    }
    this.head = this.addModule('head', make(plan[k]!));
    const all = this.allBlocks();
    this.attentionBlock = [...all]
      .reverse()
      .find((b) => b.recordsAttention && b.inputSpec.layout === 'tokens' && b.inputSpec.numPrefixTokens >= 1);
  }

  private allBlocks(): Block[] {
    return [this.stem, ...[...this.stageBlocks].flatMap((s) => [...s]), this.head];
  }

  get availableOutputs(): readonly OutputName[] {
    return this.attentionBlock ? ['clsAttention'] : [];
  }

  stages(): StageInfo[] {
    const [h, w, c] = this.config.inputSize;
    const blocks = this.allBlocks();
    return [
      stageInfo('input', { layout: 'image', height: h, width: w, channels: c }, 0),
      ...this.plan.map((p, i) => stageInfo(`${p.path} ${p.name}`, p.output, blocks[i]!.numParameters())),
    ];
  }

  protected run(images: tf.Tensor4D, ctx: ForwardContext, wantAttention: boolean): tf.Tensor2D {
    let x: Features = { layout: 'image', tensor: images };
    for (const block of this.allBlocks()) {
      x = convertFeatures(x, block.inputSpec.layout);
      ctx.captureAttention = wantAttention && block === this.attentionBlock;
      x = block.forward(x, ctx);
    }
    ctx.captureAttention = false;
    if (x.layout !== 'vector') throw new CompositionError(`the head produced ${x.layout} features instead of logits`);
    return x.tensor;
  }
}

/** Builds a model from a JSON spec with blocks from the registry's plugins. */
export function composeModel(spec: unknown, registry: Registry): ComposedModel {
  return new ComposedModel(parseModelSpec(spec), registry);
}
