import { z } from 'zod';
import { CompositionError, InvalidArgumentError } from '../errors.js';
import { closestNames } from '../plugin/names.js';

type JsonSchema = { properties?: Record<string, unknown>; anyOf?: JsonSchema[]; oneOf?: JsonSchema[]; allOf?: JsonSchema[] };

const namesCache = new WeakMap<z.ZodType, readonly string[] | null>();

/**
 * The option names an object schema accepts, read through zod's public JSON Schema
 * export (input side, so defaulted keys count); the union of the members' keys for
 * a union. `undefined` when the schema is not an object (nothing to check by name).
 */
export function optionNames(schema: z.ZodType): readonly string[] | undefined {
  let names = namesCache.get(schema);
  if (names === undefined) {
    let json: JsonSchema;
    try {
      json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    } catch {
      json = {};
    }
    const found = new Set<string>();
    let isObject = false;
    const visit = (s: JsonSchema | undefined): void => {
      if (!s || typeof s !== 'object') return;
      if (s.properties) {
        isObject = true;
        for (const key of Object.keys(s.properties)) found.add(key);
      }
      for (const member of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])]) visit(member);
    };
    visit(json);
    names = isObject ? [...found] : null;
    namesCache.set(schema, names);
  }
  return names ?? undefined;
}

/** Renders a zod issue path as `a.b[2].c`; `(spec)` for the root. */
export function describeIssuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '') || '(spec)';
}

/**
 * Validates a block's options strictly: a key the block does not declare is
 * refused with the closest declared key, then the block's schema decides. `path`
 * is the spec path of the block (`stages[1]`), `block` its registered name.
 */
export function parseBlockOptions<T>(schema: z.ZodType<T>, raw: Record<string, unknown>, path: string, block: string): T {
  const names = optionNames(schema);
  if (names) {
    for (const key of Object.keys(raw)) {
      if (names.includes(key)) continue;
      const close = closestNames(key, names);
      const hint = close.length ? ` Did you mean '${close[0]}'?` : '';
      const accepted = names.length ? ` Block '${block}' takes: ${names.join(', ')}.` : ` Block '${block}' takes no options.`;
      throw new CompositionError(`${path}.options.${key}: unknown option.${hint}${accepted}`);
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CompositionError(`${path}.options.${describeIssuePath(issue.path)}: ${issue.message} (block '${block}')`);
  }
  return parsed.data;
}

/**
 * The options every named model accepts, timm's `create_model` keyword arguments. A model
 * family adds its own with `.extend({...})` and drops one it does not use with
 * `.omit({...})`, so that an unknown or unsupported option is refused by name, never ignored.
 */
export const modelOptions = z.strictObject({
  numClasses: z.number().int().min(1).optional(),
  imgSize: z.union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])]).optional(),
  inChannels: z.number().int().min(1).optional(),
  dropRate: z.number().min(0).lt(1).optional(),
  attnDropRate: z.number().min(0).lt(1).optional(),
  dropPathRate: z.number().min(0).lt(1).optional(),
  seed: z.number().int().optional(),
});

/** Parses named-model (or augmentation) options, naming the bad option in the error. */
export function parseModelOptions<T extends z.ZodType>(schema: T, model: string, options: unknown): z.infer<T> {
  const result = schema.safeParse(options ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = issue.path.join('.') || '(options)';
    const value = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey], options);
    throw new InvalidArgumentError(`${model} option ${path}`, value, issue.message);
  }
  return result.data;
}

/** `imgSize` as [height, width]: a number is a square. */
export function resolveImgSize(imgSize: number | readonly [number, number] | undefined, fallback: number): [number, number] {
  if (imgSize === undefined) return [fallback, fallback];
  return typeof imgSize === 'number' ? [imgSize, imgSize] : [imgSize[0], imgSize[1]];
}
