import { augmentationExamples, parseModelSpec, planModel, tf, type BlockDefinition, type BlockPosition, type ModelSpecInput, type Registry } from '@tessera/core';
import { pairwiseRows, productRows, productSize } from './pairwise.js';
import type { AugmentationRef, Combination } from './results.js';

/** One entry of a spec (stem, a stage list, or head) with a short label. */
interface Variant<T> {
  readonly label: string;
  readonly value: T;
  /** Plugins whose blocks it uses. */
  readonly plugins: readonly string[];
}

type BlockRef = { block: string; options: Record<string, unknown>; depth?: number };

export interface EnumerateOptions {
  /** Square input size of every combination (default 16: the blocks' examples are small option sets for small inputs). */
  readonly imgSize?: number;
  readonly numClasses?: number;
  /** Model drop-path rate, spread over the blocks that declare `supports.dropPath` (default 0.1, so the schedule is exercised). */
  readonly dropPathRate?: number;
  /** Seed of the inputs and weights of every combination. */
  readonly seed?: number;
  /**
   * Only combinations that use a block of this plugin (a plugin's own suite). A
   * plugin without blocks (augmentations only) gets the combinations of the others.
   */
  readonly focus?: string;
  /** Above this many rows, a product is reduced to pairwise coverage (default 200). */
  readonly maxProduct?: number;
  /**
   * Attach every registered augmentation to every combination, with its declared
   * examples (default true): each example on every combination while the
   * combinations × examples product stays within `maxProduct`, one example per
   * combination spread over them in pairwise coverage above it.
   */
  readonly augmentations?: boolean;
}

/** How one augmentation's examples were placed on the combinations. */
export interface AugmentationCoverage {
  readonly name: string;
  /** How many examples it declares (1 when it declares none: its defaults). */
  readonly examples: number;
  /** 'every': each example on every combination; 'pairwise': one per combination, each example meeting every stem, stage list and head. */
  readonly coverage: 'every' | 'pairwise';
}

export interface Enumeration {
  readonly combinations: Combination[];
  /** Rows of the full product(s), before any pairwise reduction. */
  readonly product: number;
  /** True when a product was reduced to pairwise coverage. */
  readonly pairwise: boolean;
  /** Per registered augmentation, how its examples cover the combinations. */
  readonly augmentations: readonly AugmentationCoverage[];
}

/**
 * Whether a spec plans (so the model will be built and its augmentations run). Planning makes no tensor by contract;
 * the tidy frees any a broken block makes anyway (runCombination reports that under `build`).
 */
function plans(spec: ModelSpecInput, registry: Registry): boolean {
  try {
    tf.tidy(() => {
      planModel(parseModelSpec(spec), registry);
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * One example per combination, chosen greedily (as pairwiseRows does) so that
 * each example meets every stem, stage list and head the combinations contain:
 * each row takes the example that covers the most (position value, example)
 * pairs not yet covered, ties going to the least-used example, then the first.
 */
function spreadExamples(keys: readonly (readonly string[])[], count: number): number[] {
  const uncovered = new Set<string>();
  for (const row of keys) row.forEach((value, d) => {
    for (let e = 0; e < count; e++) uncovered.add(`${d}:${value}|${e}`);
  });
  const uses = new Array<number>(count).fill(0);
  return keys.map((row) => {
    let best = 0;
    let bestGain = -1;
    for (let e = 0; e < count; e++) {
      const gain = row.reduce((g, value, d) => g + (uncovered.has(`${d}:${value}|${e}`) ? 1 : 0), 0);
      if (gain > bestGain || (gain === bestGain && uses[e]! < uses[best]!)) [best, bestGain] = [e, gain];
    }
    row.forEach((value, d) => uncovered.delete(`${d}:${value}|${best}`));
    uses[best]!++;
    return best;
  });
}

function variantsAt(registry: Registry, positions: readonly BlockPosition[]): Array<Variant<BlockRef> & { definition: BlockDefinition<any> }> {
  const out: Array<Variant<BlockRef> & { definition: BlockDefinition<any> }> = [];
  for (const { name, plugin, definition } of registry.listBlocks()) {
    if (!definition.supports.positions.some((p) => positions.includes(p))) continue;
    definition.examples.forEach((options, i) => out.push({ label: `${name}#${i}`, value: { block: name, options: { ...options } }, plugins: [plugin], definition }));
  }
  return out;
}

/**
 * The stage lists to try: no stage, each stage or transition block with each of
 * its examples, and, for blocks that take tokens, the same after a class token
 * (core's `class_token`), so that prefix-token handling and token-pooling heads
 * are exercised. A block that declares `dropPath` gets depth 2, so the schedule
 * gives its two copies different rates.
 */
function stageVariants(registry: Registry): Array<Variant<BlockRef[]>> {
  const out: Array<Variant<BlockRef[]>> = [{ label: '-', value: [], plugins: [] }];
  const classToken = registry.listBlocks().find((b) => b.name === 'class_token');
  for (const v of variantsAt(registry, ['stage', 'transition'])) {
    const ref: BlockRef = v.definition.supports.dropPath ? { ...v.value, depth: 2 } : v.value;
    out.push({ label: v.label, value: [ref], plugins: v.plugins });
    if (classToken && v.value.block !== 'class_token' && v.definition.accepts.includes('tokens')) {
      out.push({ label: `class_token#0 ${v.label}`, value: [{ block: 'class_token', options: {} }, ref], plugins: [...new Set([classToken.plugin, ...v.plugins])] });
    }
  }
  return out;
}

function specOf(stem: BlockRef, stages: readonly BlockRef[], head: BlockRef, o: Required<Pick<EnumerateOptions, 'imgSize' | 'numClasses' | 'dropPathRate' | 'seed'>>): ModelSpecInput {
  return {
    name: 'check',
    imgSize: o.imgSize,
    numClasses: o.numClasses,
    dropPathRate: o.dropPathRate,
    seed: o.seed,
    stem: { block: stem.block, options: stem.options },
    stages: stages.map((s) => ({ block: s.block, options: s.options, ...(s.depth ? { depth: s.depth } : {}) })),
    head: { block: head.block, options: head.options },
  };
}

/**
 * Combinations of the registered blocks, read from their declarations: every stem
 * × stage list × head with each block's example options, reduced to pairwise
 * coverage when the product has more than `maxProduct` rows. With `focus`, only
 * combinations using one of that plugin's blocks (each position it fills, crossed
 * with every partner from the registry).
 */
export function enumerateCombinations(registry: Registry, options: EnumerateOptions = {}): Enumeration {
  const o = { imgSize: options.imgSize ?? 16, numClasses: options.numClasses ?? 3, dropPathRate: options.dropPathRate ?? 0.1, seed: options.seed ?? 0 };
  const max = options.maxProduct ?? 200;
  const stems = variantsAt(registry, ['stem']);
  const stages = stageVariants(registry);
  const heads = variantsAt(registry, ['head']);
  const dims: [Variant<BlockRef>[], Variant<BlockRef[]>[], Variant<BlockRef>[]] = [stems, stages, heads];
  const focus = options.focus;
  const focused = focus !== undefined && [...stems, ...stages, ...heads].some((v) => v.plugins.includes(focus));
  // Each product: the dimensions restricted to the focus plugin's variants in one position.
  const products: Array<[Variant<BlockRef>[], Variant<BlockRef[]>[], Variant<BlockRef>[]]> = focused
    ? ([0, 1, 2] as const)
        .map((d) => dims.map((variants, i) => (i === d ? (variants as Array<Variant<unknown>>).filter((v) => v.plugins.includes(focus)) : variants)) as typeof dims)
        .filter((p) => p.every((variants) => variants.length > 0))
    : [dims];
  let product = 0;
  let pairwise = false;
  const seen = new Set<string>();
  const rows: Array<{ label: string; spec: ModelSpecInput; keys: [string, string, string] }> = [];
  for (const [s, st, h] of products) {
    const sizes = [s.length, st.length, h.length];
    product += productSize(sizes);
    const big = productSize(sizes) > max;
    pairwise ||= big;
    for (const [a, b, c] of big ? pairwiseRows(sizes) : productRows(sizes)) {
      const stem = s[a!]!;
      const stageList = st[b!]!;
      const head = h[c!]!;
      const label = `${stem.label} > ${stageList.label} > ${head.label}`;
      if (seen.has(label)) continue;
      seen.add(label);
      rows.push({ label, spec: specOf(stem.value, stageList.value, head.value, o), keys: [stem.label, stageList.label, head.label] });
    }
  }
  const registered = options.augmentations === false ? [] : registry.listAugmentations();
  const coverage: AugmentationCoverage[] = [];
  // A refused combination runs no augmentation, so examples are spread over the combinations that plan; the refused
  // ones take the examples in turn (they appear in a replay file, nowhere else).
  const built = registered.length ? rows.map((r) => plans(r.spec, registry)) : [];
  const builtRows = rows.filter((_, i) => built[i]);
  // Per augmentation, the examples each row runs with (indices into its examples).
  const placed = registered.map(({ name, definition }) => {
    const examples = augmentationExamples(definition);
    const every = examples.length === 1 || builtRows.length * examples.length <= max;
    coverage.push({ name, examples: examples.length, coverage: every ? 'every' : 'pairwise' });
    const spread = every ? [] : spreadExamples(builtRows.map((r) => r.keys), examples.length);
    let next = 0;
    const chosen = rows.map((_, i) => (every ? examples.map((_: unknown, e: number) => e) : [built[i] ? spread[next++]! : i % examples.length]));
    return chosen.map((indices) => indices.map((e): AugmentationRef => ({ name, options: { ...examples[e]! }, example: e })));
  });
  const combinations = rows.map(({ label, spec }, i): Combination => ({ label, spec, augmentations: placed.flatMap((perRow) => perRow[i]!), seed: o.seed }));
  return { combinations, product, pairwise, augmentations: coverage };
}

/** `count` combinations drawn without replacement, in a seeded order (all of them when count ≥ the list). */
export function sampleCombinations(combinations: readonly Combination[], count: number, seed: number): Combination[] {
  if (count >= combinations.length) return [...combinations];
  // A small LCG is enough to pick rows reproducibly; the weights have their own seeded stream.
  let state = (seed >>> 0) || 1;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const order = combinations.map((c, i) => [next(), i] as const).sort((x, y) => x[0] - y[0]);
  return order.slice(0, count).map(([, i]) => combinations[i]!).sort((x, y) => combinations.indexOf(x) - combinations.indexOf(y));
}
