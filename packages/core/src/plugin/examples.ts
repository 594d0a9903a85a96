import type { AugmentationDefinition } from './types.js';

/** The option sets to try an augmentation with: its declared `examples`, or its defaults alone (`[{}]`) when it declares none. */
export function augmentationExamples(definition: Pick<AugmentationDefinition<any>, 'examples'>): readonly Record<string, unknown>[] {
  return definition.examples ?? [{}];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What is wrong with the augmentations' declared examples: not an array of objects,
 * or an example its own options schema refuses (with the schema's message), so that
 * `use()` refuses the plugin before anything is registered instead of `tessera
 * check` failing on it later.
 */
export function augmentationExampleProblems(table: Readonly<Record<string, unknown>> | undefined): string[] {
  const problems: string[] = [];
  for (const [name, definition] of Object.entries(table ?? {})) {
    if (!isPlainObject(definition) || definition.examples === undefined) continue;
    const { examples, options } = definition as { examples: unknown; options?: { safeParse?: (v: unknown) => { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } } } };
    if (!Array.isArray(examples)) {
      problems.push(`augmentation '${name}' examples is ${examples === null ? 'null' : typeof examples}, not an array of option objects (leave it out to mean [{}])`);
      continue;
    }
    examples.forEach((example, i) => {
      if (!isPlainObject(example)) {
        problems.push(`augmentation '${name}' examples[${i}] is ${example === null ? 'null' : Array.isArray(example) ? 'an array' : typeof example}, not an options object`);
        return;
      }
      // A definition without options is reported as such by use(); there is nothing to check the example against.
      if (typeof options?.safeParse !== 'function') return;
      const parsed = options.safeParse(example);
      if (!parsed.success) {
        const why = (parsed.error?.issues ?? []).map((x) => `${x.path.map(String).join('.') || '(options)'}: ${x.message}`).join('; ');
        problems.push(`augmentation '${name}' examples[${i}] ${JSON.stringify(example)} is refused by its own options: ${why}`);
      }
    });
  }
  return problems;
}
