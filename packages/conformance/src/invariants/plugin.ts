import { CORE_VERSION, corePlugin, optionNames, planModel, Registry, type TesseraPlugin } from '@tessera/core';
import { OFFICIAL_PLUGINS } from '../official.js';
import { fail, pass, type CheckResult } from '../results.js';
import { errorMessage } from './tensors.js';

/** npm's rules for a package name (validate-npm-package-name, new packages): lower case, URL-safe, at most 214 characters, optionally scoped. */
const NPM_NAME = /^(?:@[a-z0-9-*~][a-z0-9-*._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;
/** Semantic Versioning 2.0.0's own regular expression (semver.org, FAQ). */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export interface PluginCheckOptions {
  /** The core version to check the range against (default: the installed @tessera/core). */
  readonly coreVersion?: string;
  /** Plugins the plugin builds on (blocks its models use), registered before it. */
  readonly dependencies?: readonly TesseraPlugin[];
}

/**
 * The plugin-level contract: a name npm accepts, a semver version, a core range
 * that admits the installed core (what `use()` checks), no name another official
 * plugin or core contributes, and declarations that hold: every block stands
 * somewhere, has examples its options accept, and every named model's spec plans
 * at its default options without making a tensor.
 */
export function checkPlugin(plugin: TesseraPlugin, options: PluginCheckOptions = {}): CheckResult[] {
  const coreVersion = options.coreVersion ?? CORE_VERSION;
  const results: CheckResult[] = [];
  const name = (plugin as { name?: unknown }).name;
  results.push(
    typeof name === 'string' && name.length <= 214 && NPM_NAME.test(name)
      ? pass('plugin-name')
      : fail('plugin-name', `name ${JSON.stringify(name)} is not a valid npm package name (lower case, URL-safe, optionally @scope/name): use the name in the plugin's package.json`),
  );
  results.push(
    typeof plugin.version === 'string' && SEMVER.test(plugin.version)
      ? pass('plugin-version')
      : fail('plugin-version', `version ${JSON.stringify(plugin.version)} is not semver (e.g. 1.2.3): read it from the plugin's package.json`),
  );
  const registry = new Registry(coreVersion);
  registry.use(corePlugin);
  for (const dependency of options.dependencies ?? []) registry.use(dependency);
  let registered = false;
  try {
    registry.use(plugin);
    registered = true;
    results.push(pass('plugin-core-range', `${plugin.coreRange} admits @tessera/core ${coreVersion}`));
  } catch (error) {
    const message = errorMessage(error);
    if (/coreRange|supports @tessera\/core/.test(message)) {
      results.push(fail('plugin-core-range', `${message} (declare a coreRange such as ^${coreVersion.split('.')[0]}.0.0 and the same range for the @tessera/core peer dependency)`));
    } else {
      results.push(pass('plugin-core-range', `${plugin.coreRange} admits @tessera/core ${coreVersion}`));
      results.push(fail(/collision/.test(message) ? 'plugin-collisions' : 'plugin-declarations', `use() refuses it: ${message}`));
    }
  }
  const collisions: string[] = [];
  for (const [official, names] of Object.entries(OFFICIAL_PLUGINS)) {
    if (official === plugin.name) continue;
    for (const kind of ['blocks', 'models', 'augmentations'] as const) {
      for (const n of Object.keys(plugin[kind] ?? {})) if (names[kind].includes(n)) collisions.push(`${kind.slice(0, -1)} '${n}' (from ${official})`);
    }
  }
  if (collisions.length) results.push(fail('plugin-collisions', `contributes ${collisions.join(', ')}; users who install both cannot register it. Prefix your names (e.g. '${shortName(plugin.name)}_…')`));
  else if (!results.some((r) => r.contract === 'plugin-collisions')) results.push(pass('plugin-collisions'));
  if (registered) results.push(checkDeclarations(plugin, registry));
  return results;
}

function shortName(name: string): string {
  return name.replace(/^@[^/]+\//, '').replace(/^(tessera-)?plugin-/, '').replace(/[^a-z0-9]+/g, '_');
}

function checkDeclarations(plugin: TesseraPlugin, registry: Registry): CheckResult {
  const problems: string[] = [];
  for (const [name, block] of Object.entries(plugin.blocks ?? {})) {
    if (!block.supports?.positions?.length) problems.push(`block '${name}' declares no position`);
    if (!block.examples.length) problems.push(`block '${name}' has no examples (tessera check and pluginSuite build from them)`);
    // A head's numClasses comes from the spec, as the planner fills it in.
    const fillsNumClasses = block.supports?.positions?.includes('head') && optionNames(block.options)?.includes('numClasses');
    block.examples.forEach((example, i) => {
      const parsed = block.options.safeParse(fillsNumClasses && example.numClasses === undefined ? { ...example, numClasses: 2 } : example);
      if (!parsed.success) problems.push(`block '${name}' examples[${i}] is refused by its own options: ${parsed.error.issues.map((x) => `${x.path.join('.') || '(options)'}: ${x.message}`).join('; ')}`);
    });
    for (const option of block.supports?.overridable ?? []) {
      const names = optionNames(block.options);
      if (names && !names.includes(option)) problems.push(`block '${name}' lists '${option}' as overridable, but its options do not take it`);
    }
  }
  for (const name of Object.keys(plugin.models ?? {})) {
    try {
      planModel(registry.modelSpec(name), registry);
    } catch (error) {
      problems.push(`model '${name}' does not plan at its default options: ${errorMessage(error)}`);
    }
  }
  return problems.length ? fail('plugin-declarations', problems.join('; ')) : pass('plugin-declarations');
}
