import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CompositionError, registry, use, type TesseraPlugin } from '@tessera/core';
import { harnessPlugin } from './robustness/plugin.js';

/** Where a plugin came from, for `tessera models` and the report. */
export interface LoadedPlugin {
  readonly name: string;
  readonly version: string;
  /** The package or file it was imported from, and which package.json declared it (or `--plugin`). */
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

/** Package names that are Tessera plugins by convention: `@tessera/plugin-*`, `tessera-plugin-*`, `@scope/tessera-plugin-*`. */
export function isPluginPackageName(name: string): boolean {
  return /^@tessera\/plugin-[a-z0-9._-]+$/.test(name) || /^(@[a-z0-9._-]+\/)?tessera-plugin-[a-z0-9._-]+$/.test(name);
}

/** The nearest package.json at or above `cwd`: the project the user is working in (as npm finds it). */
export function projectManifest(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The package.json of an installed dependency, found as Node finds packages: node_modules folders from `from` upwards. */
function installedManifest(name: string, from: string): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** True when an installed package says it is a Tessera plugin: the `tessera-plugin` keyword in its package.json. */
export function hasPluginKeyword(name: string, from: string): boolean {
  const manifest = installedManifest(name, from);
  if (!manifest) return false;
  try {
    const keywords = (JSON.parse(readFileSync(manifest, 'utf8')) as { keywords?: unknown }).keywords;
    return Array.isArray(keywords) && keywords.includes('tessera-plugin');
  } catch {
    return false;
  }
}

/**
 * Plugin packages a package.json declares in `fields` (by default dependencies,
 * devDependencies, optionalDependencies): those named as plugins by convention
 * (`@tessera/plugin-*`, `tessera-plugin-*`) and installed ones whose package.json
 * carries the `tessera-plugin` keyword.
 */
export function declaredPlugins(manifest: string, fields: readonly string[] = ['dependencies', 'devDependencies', 'optionalDependencies']): string[] {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new CompositionError(`cannot read the project's ${manifest} to find its plugins: ${(error as Error).message}`);
  }
  const names = new Set<string>();
  for (const field of fields) {
    const deps = json[field];
    if (!deps || typeof deps !== 'object') continue;
    for (const name of Object.keys(deps)) if (isPluginPackageName(name) || hasPluginKeyword(name, dirname(manifest))) names.add(name);
  }
  return [...names].sort();
}

/** The harness's own package.json (one level above src/ and dist/ alike). */
const HARNESS_MANIFEST = fileURLToPath(new URL('../package.json', import.meta.url));

/**
 * The plugin packages to load: those the current project declares in its
 * package.json (see declaredPlugins), and any the harness itself lists as a
 * runtime dependency (it lists none: install only the plugins you need), each
 * resolved from the package.json that declares it. Nothing else found on disk is
 * imported: a package merely present in some node_modules folder never runs.
 */
export function discoverPluginPackages(cwd = process.cwd()): Array<{ name: string; from: string }> {
  const seen = new Map<string, string>();
  const project = projectManifest(cwd);
  const sources: Array<[string, readonly string[] | undefined]> = [
    ...(project ? [[project, undefined] as [string, undefined]] : []),
    // The harness's development dependencies are not installed for its users: only what it needs at run time counts.
    [HARNESS_MANIFEST, ['dependencies', 'optionalDependencies']],
  ];
  for (const [manifest, fields] of sources) {
    for (const name of declaredPlugins(manifest, fields)) if (!seen.has(name)) seen.set(name, manifest);
  }
  return [...seen].map(([name, from]) => ({ name, from }));
}

async function importFrom(specifier: string, base: string): Promise<{ module: Record<string, unknown>; path: string }> {
  if (specifier.startsWith('.') || isAbsolute(specifier)) {
    const path = resolve(base, specifier);
    return { module: (await import(pathToFileURL(path).href)) as Record<string, unknown>, path };
  }
  const path = createRequire(join(base, 'noop.js')).resolve(specifier);
  return { module: (await import(pathToFileURL(path).href)) as Record<string, unknown>, path };
}

function register(plugins: TesseraPlugin[], source: string, loaded: LoadedPlugin[]): void {
  for (const plugin of plugins) {
    use(plugin);
    // A package both declared by the project and named with --plugin is one plugin: listed once, where it was first found.
    if (!loaded.some((p) => p.name === plugin.name && p.version === plugin.version)) loaded.push({ name: plugin.name, version: plugin.version, source });
  }
}

/**
 * Registers the declared plugin packages (see discoverPluginPackages) and each package
 * or file named in `extra` (`--plugin`) with core's registry, and returns what it
 * loaded. A declared package that is not installed or fails to load is reported, not
 * fatal; one named with `--plugin` must load.
 */
export async function loadPlugins(extra: readonly string[] = [], options: { cwd?: string; warn?: (message: string) => void } = {}): Promise<LoadedPlugin[]> {
  const cwd = options.cwd ?? process.cwd();
  const loaded: LoadedPlugin[] = [];
  register([harnessPlugin()], 'built in', loaded);
  for (const { name, from } of discoverPluginPackages(cwd)) {
    try {
      const { module, path } = await importFrom(name, dirname(from));
      register(pluginsOf(module), `${name} (${path}, declared in ${from})`, loaded);
    } catch (error) {
      options.warn?.(`skipping plugin package ${name} declared in ${from}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  for (const specifier of extra) {
    let imported: { module: Record<string, unknown>; path: string };
    try {
      imported = await importFrom(specifier, cwd);
    } catch (error) {
      throw new CompositionError(`--plugin ${specifier}: cannot import it (${(error as Error).message.split('\n')[0]}); install the package or give a path to its entry file`);
    }
    const plugins = pluginsOf(imported.module);
    if (!plugins.length) {
      throw new CompositionError(`--plugin ${specifier}: the module exports no Tessera plugin (an object with name, version, coreRange and blocks, models or augmentations)`);
    }
    register(plugins, `--plugin ${specifier} (${imported.path})`, loaded);
  }
  return loaded;
}

/** Every registered plugin with its version (core included). */
export function registeredPlugins(): Array<{ name: string; version: string }> {
  return registry.listPlugins().map((p) => ({ name: p.name, version: p.version }));
}

/** One line per loaded plugin, for `tessera models` and the report. */
export function describePlugins(loaded: readonly LoadedPlugin[]): string[] {
  const core = registry.listPlugins().find((p) => p.name === '@tessera/core');
  return [...(core ? [`${core.name} ${core.version} (built in)`] : []), ...loaded.map((p) => (p.source === 'built in' ? `${p.name} ${p.version} (built in)` : `${p.name} ${p.version} from ${p.source}`))];
}
