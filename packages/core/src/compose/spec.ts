import { z } from 'zod';
import { CompositionError } from '../errors.js';

const blockRef = z
  .object({
    /** Name of a registered block (from any plugin). */
    block: z.string().min(1),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

const stage = blockRef
  .extend({
    /** How many copies of the block to stack (default 1). */
    depth: z.number().int().min(1).default(1),
  })
  .strict();

/**
 * A model as JSON: a stem, stages of blocks and a head, each naming a registered
 * block. Layouts are converted between stages where that is lossless (image ↔
 * tokens without prefix tokens).
 */
export const modelSpecSchema = z
  .object({
    name: z.string().min(1).default('composed'),
    imgSize: z.union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])]).default(224),
    inChannels: z.number().int().min(1).default(3),
    numClasses: z.number().int().min(1).default(1000),
    /** Linear stochastic-depth schedule over all blocks that take a `dropPath` option. */
    dropPathRate: z.number().min(0).lt(1).default(0),
    seed: z.number().int().default(0),
    mean: z.tuple([z.number(), z.number(), z.number()]).default([0.485, 0.456, 0.406]),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([0.229, 0.224, 0.225]),
    stem: blockRef,
    stages: z.array(stage).default([]),
    head: blockRef,
  })
  .strict();

/** A model spec as written by a user (defaults optional). */
export type ModelSpecInput = z.input<typeof modelSpecSchema>;
/** A validated model spec with every default filled in. */
export type ModelSpec = z.output<typeof modelSpecSchema>;

function describeIssuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '') || '(spec)';
}

/** Validates a spec; the error names the path of each problem, e.g. `stages[1].depth`. */
export function parseModelSpec(input: unknown): ModelSpec {
  const result = modelSpecSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `${describeIssuePath(issue.path)}: ${issue.message}`);
    throw new CompositionError(`invalid model spec:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}

export { describeIssuePath };
