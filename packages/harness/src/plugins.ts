import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CompositionError, registry, use, type TesseraPlugin } from '@tessera/core';
import { harnessPlugin } from './robustness/plugin.js';

/** Where a plugin came from, for `tessera models` and the report. */
export interface LoadedPlugin {
  readonly name: string;
  readonly version: string;
  readonly source: string;
}

function looksLikePlugin(value: unknown): value is TesseraPlugin {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === 'string' &&
    typeof v.version === 'string' &&
    typeof v.coreRange === 'string' &&
    (typeof v.blocks === 'object' || typeof v.models === 'object' || typeof v.augmentations === 'object')
  );
}

/** The plugin values a module exports: its default export and any named export that looks like a TesseraPlugin. */
export function pluginsOf(module: Record<string, unknown>): TesseraPlugin[] {
  const found = new Set<TesseraPlugin>();
  if (looksLikePlugin(module.default)) found.add(module.default);
  for (const value of Object.values(module)) if (looksLikePlugin(value)) found.add(value);
  return [...found];
}

/** node_modules folders that may hold `@tessera/plugin-*`: the working directory's and the harness's own resolution paths. */
function nodeModulesDirs(cwd: string): string[] {
  const dirs: string[] = [];
  let dir = resolve(cwd);
  for (;;) {
    dirs.push(join(dir, 'node_modules'));
    const parent = resolve(dir, '..');
    if (parent === dir) break;
    dir = parent;
  }
  const own = createRequire(import.meta.url).resolve.paths('@tessera/core') ?? [];
  return [...new Set([...dirs, ...own])].filter((d) => existsSync(join(d, '@tessera')));
}

/** Names of installed `@tessera/plugin-*` packages, each with the folder it resolves from. */
export function discoverPluginPackages(cwd = process.cwd()): Array<{ name: string; from: string }> {
  const seen = new Map<string, string>();
  for (const dir of nodeModulesDirs(cwd)) {
    for (const entry of readdirSync(join(dir, '@tessera'))) {
      const name = `@tessera/${entry}`;
      if (entry.startsWith('plugin-') && !seen.has(name)) seen.set(name, dir);
    }
  }
  return [...seen].map(([name, from]) => ({ name, from }));
}

async function importFrom(specifier: string, base: string): Promise<Record<string, unknown>> {
  if (specifier.startsWith('.') || isAbsolute(specifier)) {
    return (await import(pathToFileURL(resolve(base, specifier)).href)) as Record<string, unknown>;
  }
  const require = createRequire(join(base, 'noop.js'));
  let entry: string;
  try {
    entry = require.resolve(specifier);
  } catch {
    // Fall back to the harness's own resolution (a plugin installed beside the harness).
    return (await import(specifier)) as Record<string, unknown>;
  }
  return (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
}

function register(plugins: TesseraPlugin[], source: string, loaded: LoadedPlugin[]): void {
  for (const plugin of plugins) {
    use(plugin);
    loaded.push({ name: plugin.name, version: plugin.version, source });
  }
}

/**
 * Registers every installed `@tessera/plugin-*` package and each package or file
 * named in `extra` (community plugins) with core's registry. A discovered package
 * that fails to load is reported, not fatal; a package named explicitly must load.
 */
export async function loadPlugins(extra: readonly string[] = [], options: { cwd?: string; warn?: (message: string) => void } = {}): Promise<LoadedPlugin[]> {
  const cwd = options.cwd ?? process.cwd();
  const loaded: LoadedPlugin[] = [];
  register([harnessPlugin()], '@tessera/harness', loaded);
  for (const { name, from } of discoverPluginPackages(cwd)) {
    try {
      const module = await importFrom(name, join(from, '..'));
      register(pluginsOf(module), name, loaded);
    } catch (error) {
      options.warn?.(`skipping plugin package ${name}: ${(error as Error).message}`);
    }
  }
  for (const specifier of extra) {
    let module: Record<string, unknown>;
    try {
      module = await importFrom(specifier, cwd);
    } catch (error) {
      throw new CompositionError(`--plugin ${specifier}: cannot import it (${(error as Error).message}); install the package or give a path to its entry file`);
    }
    const plugins = pluginsOf(module);
    if (!plugins.length) {
      throw new CompositionError(`--plugin ${specifier}: the module exports no Tessera plugin (an object with name, version, coreRange and blocks, models or augmentations)`);
    }
    register(plugins, specifier, loaded);
  }
  return loaded;
}

/** Every registered plugin with its version (core included). */
export function registeredPlugins(): Array<{ name: string; version: string }> {
  return registry.listPlugins().map((p) => ({ name: p.name, version: p.version }));
}
