import semver from 'semver';
import { CompositionError, InvalidArgumentError } from '../errors.js';
import { CORE_VERSION } from '../version.js';
import { augmentationExampleProblems } from './examples.js';
import { closestNames } from './names.js';
import { composeModel, type ComposedModel } from '../compose/composed-model.js';
import { parseModelSpec, type ModelSpec } from '../compose/spec.js';
import type { AugmentationDefinition, BlockDefinition, ModelDefinition, ModelOptions, TesseraPlugin } from './types.js';

export interface Registered<T> {
  readonly name: string;
  readonly plugin: string;
  readonly definition: T;
}

/** Case-sensitive glob with `*` and `?`, as timm's list_models filters. */
function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/** A model, block or augmentation name nobody registered; `suggestions` are the closest registered names. */
export class UnknownNameError extends CompositionError {
  constructor(
    readonly kind: 'model' | 'block' | 'augmentation',
    readonly unknownName: string,
    readonly suggestions: readonly string[],
  ) {
    const hint = suggestions.length ? ` Did you mean ${suggestions.map((s) => `'${s}'`).join(' or ')}?` : '';
    super(`unknown ${kind} '${unknownName}'.${hint} Registered plugins contribute the ${kind}s; list them with list${kind[0]!.toUpperCase()}${kind.slice(1)}s().`);
  }

  /** The same error in words for another audience, e.g. `see: tessera models`. */
  withListHint(hint: string): string {
    const did = this.suggestions.length ? ` Did you mean ${this.suggestions.map((s) => `'${s}'`).join(' or ')}?` : '';
    return `unknown ${this.kind} '${this.unknownName}'.${did} ${hint}`;
  }
}

function unknownName(kind: 'model' | 'block' | 'augmentation', name: string, known: Iterable<string>): UnknownNameError {
  return new UnknownNameError(kind, name, closestNames(name, known));
}

/**
 * Plugins and what they contribute. `use` checks the plugin's core range and that
 * none of its names is taken; lookups name the closest match when a name is unknown.
 */
export class Registry {
  private readonly plugins = new Map<string, TesseraPlugin>();
  private readonly blocks = new Map<string, Registered<BlockDefinition<any>>>();
  private readonly models = new Map<string, Registered<ModelDefinition>>();
  private readonly augmentations = new Map<string, Registered<AugmentationDefinition<any>>>();

  constructor(readonly coreVersion: string = CORE_VERSION) {}

  /**
   * Registers a plugin. Registering the same plugin value again is a no-op; a
   * different plugin with the same name, an incompatible core range or a name that
   * another plugin already contributes is refused, and nothing is registered.
   */
  use(plugin: TesseraPlugin): this {
    if (!plugin || typeof plugin !== 'object' || typeof plugin.name !== 'string' || !plugin.name) {
      throw new InvalidArgumentError('plugin', plugin, 'a plugin object with a non-empty name');
    }
    const existing = this.plugins.get(plugin.name);
    if (existing === plugin) return this;
    if (existing) {
      throw new CompositionError(`plugin '${plugin.name}' is already registered (version ${existing.version}); cannot register version ${plugin.version} beside it`);
    }
    if (!semver.valid(plugin.version)) {
      throw new InvalidArgumentError(`plugin '${plugin.name}' version`, plugin.version, 'a semver version such as 1.2.3');
    }
    if (!semver.validRange(plugin.coreRange)) {
      throw new InvalidArgumentError(`plugin '${plugin.name}' coreRange`, plugin.coreRange, 'a semver range such as ^1.0.0');
    }
    if (!semver.satisfies(this.coreVersion, plugin.coreRange, { includePrerelease: true })) {
      throw new CompositionError(
        `plugin '${plugin.name}@${plugin.version}' supports @tessera/core ${plugin.coreRange}, but this is @tessera/core ${this.coreVersion}; install a version of the plugin built for this core`,
      );
    }
    const malformed = [
      ...definitionProblems('block', plugin.blocks, ['create', 'outputSpec'], ['supports', 'options', 'accepts', 'examples']),
      ...definitionProblems('model', plugin.models, ['spec'], []),
      ...definitionProblems('augmentation', plugin.augmentations, ['create'], ['options']),
      ...augmentationExampleProblems(plugin.augmentations),
    ];
    if (malformed.length) throw new CompositionError(`plugin '${plugin.name}' cannot be registered: ${malformed.join('; ')}`);
    const collisions: string[] = [];
    const check = (kind: string, table: Map<string, Registered<unknown>>, names: string[]) => {
      for (const name of names) {
        const owner = table.get(name);
        if (owner) collisions.push(`${kind} '${name}' (already contributed by '${owner.plugin}')`);
      }
    };
    check('block', this.blocks, Object.keys(plugin.blocks ?? {}));
    check('model', this.models, Object.keys(plugin.models ?? {}));
    check('augmentation', this.augmentations, Object.keys(plugin.augmentations ?? {}));
    if (collisions.length) throw new CompositionError(`plugin '${plugin.name}' cannot be registered: name collision on ${collisions.join(', ')}`);
    this.plugins.set(plugin.name, plugin);
    for (const [name, definition] of Object.entries(plugin.blocks ?? {})) this.blocks.set(name, { name, plugin: plugin.name, definition });
    for (const [name, definition] of Object.entries(plugin.models ?? {})) this.models.set(name, { name, plugin: plugin.name, definition });
    for (const [name, definition] of Object.entries(plugin.augmentations ?? {})) this.augmentations.set(name, { name, plugin: plugin.name, definition });
    return this;
  }

  listPlugins(): TesseraPlugin[] {
    return [...this.plugins.values()];
  }

  /** Model names, sorted, optionally filtered by a glob such as `deit_*`. */
  listModels(filter?: string): string[] {
    const names = [...this.models.keys()].sort();
    return filter ? names.filter((n) => globToRegExp(filter).test(n)) : names;
  }

  listBlocks(): Registered<BlockDefinition<any>>[] {
    return [...this.blocks.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  listAugmentations(): Registered<AugmentationDefinition<any>>[] {
    return [...this.augmentations.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  getModel(name: string): Registered<ModelDefinition> {
    const found = this.models.get(name);
    if (!found) throw unknownName('model', name, this.models.keys());
    return found;
  }

  getBlock(name: string): Registered<BlockDefinition<any>> {
    const found = this.blocks.get(name);
    if (!found) throw unknownName('block', name, this.blocks.keys());
    return found;
  }

  getAugmentation(name: string): Registered<AugmentationDefinition<any>> {
    const found = this.augmentations.get(name);
    if (!found) throw unknownName('augmentation', name, this.augmentations.keys());
    return found;
  }

  /** Builds a named model, as timm's create_model: `createModel('deit_tiny_patch16_224', {numClasses: 10})`. */
  createModel(name: string, options: ModelOptions = {}): ComposedModel {
    return composeModel(this.getModel(name).definition.spec(options), this);
  }

  /** The validated spec of a named model for these options, every default filled in (what `tessera spec` prints). */
  modelSpec(name: string, options: ModelOptions = {}): ModelSpec {
    return parseModelSpec(this.getModel(name).definition.spec(options));
  }
}

/**
 * What is missing from a plugin's definitions, checked at `use()` so that a plugin
 * written against another core (a model with `create` instead of `spec`) is refused
 * by name instead of failing inside the first build.
 */
function definitionProblems(kind: string, table: Readonly<Record<string, unknown>> | undefined, methods: readonly string[], fields: readonly string[]): string[] {
  const problems: string[] = [];
  for (const [name, definition] of Object.entries(table ?? {})) {
    if (!definition || typeof definition !== 'object') {
      problems.push(`${kind} '${name}' is ${definition === null ? 'null' : typeof definition}, not a definition object`);
      continue;
    }
    const d = definition as Record<string, unknown>;
    const missing = [...methods.filter((m) => typeof d[m] !== 'function').map((m) => `${m}()`), ...fields.filter((f) => d[f] === undefined)];
    if (missing.length) problems.push(`${kind} '${name}' has no ${missing.join(', ')}`);
  }
  return problems;
}
