/** npm's rules for a new package name: lower case, URL-safe, optionally scoped, at most 214 characters. */
const NPM_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

export interface PluginNames {
  /** The npm package name: `tessera-plugin-<name>` unless the name given is scoped or already says tessera-plugin. */
  readonly packageName: string;
  /** The prefix of every block, model and augmentation name, so that they cannot collide with another plugin's. */
  readonly prefix: string;
  /** A camel-case identifier for the exported plugin value. */
  readonly identifier: string;
}

export function pluginNames(name: string): PluginNames {
  const trimmed = name.trim();
  const packageName = trimmed.startsWith('@') || trimmed.includes('tessera-plugin') ? trimmed : `tessera-plugin-${trimmed}`;
  if (!NPM_NAME.test(packageName) || packageName.length > 214) {
    throw new Error(`'${name}' does not make a valid npm package name (lower case letters, digits, '-', '.', '_', optionally @scope/name)`);
  }
  const base = packageName.replace(/^@[^/]+\//, '').replace(/^(tessera-)?plugin-/, '').replace(/^tessera-plugin-/, '');
  const prefix = base.replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'plugin';
  const identifier = `${prefix.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()).replace(/^[0-9]/, (d) => `p${d}`)}Plugin`;
  return { packageName, prefix: /^[0-9]/.test(prefix) ? `p${prefix}` : prefix, identifier };
}
