import { z } from 'zod';
import { CompositionError } from '../errors.js';
import { describeIssuePath } from './options.js';

/**
 * A stage's state-dict prefix: dotted names (`blocks`, `patch_embed1`,
 * `stages.0`), or '' to put the block's parameters at the top level (`cls_token`,
 * `pos_embed`, `norm`, `head`).
 */
const stageName = z.string().regex(/^([A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*)?$/, 'a state-dict prefix: names of letters, digits and underscores joined by dots, or "" for the top level');

const blockRef = {
  /** Name of a registered block (from any plugin). */
  block: z.string().min(1),
  name: stageName.optional(),
  options: z.record(z.string(), z.unknown()).default({}),
};

const stage = z
  .object({
    ...blockRef,
    /** Present: a list of `depth` copies named `<name>.0`, `<name>.1`, … (PyTorch ModuleList). Absent: one block under `<name>`. */
    depth: z.number().int().min(1).optional(),
  })
  .strict();

const imgSize = z.union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])]);

/**
 * A model as JSON: a stem, stages of blocks and a head, each naming a registered
 * block and its state-dict prefix. Layouts are converted between stages where
 * that is lossless (image ↔ tokens without prefix tokens).
 */
export const modelSpecSchema = z
  .object({
    name: z.string().min(1).default('composed'),
    imgSize: imgSize.default(224),
    inChannels: z.number().int().min(1).default(3),
    numClasses: z.number().int().min(1).default(1000),
    mean: z.tuple([z.number(), z.number(), z.number()]).default([0.485, 0.456, 0.406]),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([0.229, 0.224, 0.225]),
    /** Resize filter of the evaluation transform (timm's pretrained cfg). */
    interpolation: z.enum(['bilinear', 'bicubic']).default('bicubic'),
    /** Centre-crop fraction of the evaluation transform (timm's crop_pct). */
    cropPct: z.number().gt(0).max(1).default(0.875),
    /** Stochastic depth over every block that declares `supports.dropPath`. */
    dropPathRate: z.number().min(0).lt(1).default(0),
    /** 'linear': block i of n gets rate·i/(n−1) (timm, DeiT, T2T, UniFormer); 'constant': every block gets rate (FAN). */
    dropPathSchedule: z.enum(['linear', 'constant']).default('linear'),
    seed: z.number().int().default(0),
    stem: z.object({ ...blockRef, name: stageName.default('stem') }).strict(),
    stages: z.array(stage).default([]),
    head: z.object({ ...blockRef, name: stageName.default('head') }).strict(),
  })
  .strict();

/** A model spec as written by a user (defaults optional). */
export type ModelSpecInput = z.input<typeof modelSpecSchema>;
/** A validated model spec with every default filled in (stage names default to `stages.<i>` when the model is built). */
export type ModelSpec = z.output<typeof modelSpecSchema>;

/** Validates a spec; the error names the path of each problem, e.g. `stages[1].depth`. */
export function parseModelSpec(input: unknown): ModelSpec {
  const result = modelSpecSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `${describeIssuePath(issue.path)}: ${issue.message}`);
    throw new CompositionError(`invalid model spec:\n  ${lines.join('\n  ')}`);
  }
  const spec = result.data;
  // Stage names are filled in here too, so that a printed spec says where every parameter goes.
  return { ...spec, stages: spec.stages.map((s, i) => ({ ...s, name: s.name ?? `stages.${i}` })) };
}

export { describeIssuePath };
