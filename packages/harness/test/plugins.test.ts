import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORE_VERSION, listModels, registry, setBackend } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { discoverPluginPackages, loadPlugins, pluginsOf } from '../src/plugins.js';
import { PACKAGE_DIR, tessera } from './helpers.js';

const COMMUNITY = fileURLToPath(new URL('./fixtures/community-plugin.mjs', import.meta.url));
const INCOMPATIBLE = fileURLToPath(new URL('./fixtures/incompatible-plugin.mjs', import.meta.url));

describe('plugin discovery', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });

  test('pluginsOf finds default and named exports that look like plugins, once each', () => {
    const plugin = { name: 'p', version: '1.0.0', coreRange: '^1.0.0', models: {} };
    expect(pluginsOf({ default: plugin, plugin, helper: () => 1, other: { name: 'x' } })).toEqual([plugin]);
  });

  test('installed @tessera/plugin-* packages are discovered from the working directory', () => {
    const found = discoverPluginPackages(PACKAGE_DIR).map((p) => p.name);
    // Every plugin the harness depends on is installed, so each must be found (an empty list passed `every`); others
    // installed further up (the workspace root) may be found too, each once and each a plugin package.
    // The harness depends on no plugin; its own package.json, the project here, declares them for its tests.
    const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies).filter((n) => n.startsWith('@tessera/plugin-'))).toEqual([]);
    const installed = Object.keys(manifest.devDependencies).filter((n) => n.startsWith('@tessera/plugin-'));
    expect(installed).toContain('@tessera/plugin-t2t');
    expect(found).toEqual(expect.arrayContaining(installed));
    expect(new Set(found).size).toBe(found.length);
    expect(found.every((n) => n.startsWith('@tessera/plugin-'))).toBe(true);
  });

  test('--plugin registers a community plugin (with core version checks) and its models become usable', async () => {
    const loaded = await loadPlugins([COMMUNITY]);
    expect(loaded.map((p) => p.name)).toContain('tessera-plugin-community-tiny');
    expect(listModels()).toContain('community_tiny');
    expect(registry.createModel('community_tiny', { numClasses: 3 }).config.numClasses).toBe(3);
    await expect(loadPlugins([INCOMPATIBLE])).rejects.toThrow(`supports @tessera/core ^9.0.0, but this is @tessera/core ${CORE_VERSION}`);
    await expect(loadPlugins(['./no-such-plugin.mjs'])).rejects.toThrow(/--plugin \.\/no-such-plugin\.mjs: cannot import it/);
  });

  test('a declared plugin also named with --plugin is listed once', async () => {
    const loaded = await loadPlugins(['@tessera/plugin-transmix'], { cwd: PACKAGE_DIR });
    const names = loaded.map((p) => p.name);
    expect(names.filter((n) => n === '@tessera/plugin-transmix')).toHaveLength(1);
    expect(new Set(names).size).toBe(names.length);
  });

  test('tessera models lists every model of every plugin, community ones included', () => {
    const r = tessera(['models', '--plugin', COMMUNITY, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const models = r.json<Array<{ name: string; plugin: string }>>();
    expect(models).toContainEqual(expect.objectContaining({ name: 'deit_tiny_patch16_224', plugin: '@tessera/core' }));
    expect(models).toContainEqual(expect.objectContaining({ name: 'community_tiny', plugin: 'tessera-plugin-community-tiny' }));
  });

  test('from the repository root, as the README runs it, every official plugin is loaded (the root declares them)', () => {
    const r = tessera(['models', '--json'], { cwd: join(PACKAGE_DIR, '..', '..') });
    expect(r.status, r.stderr).toBe(0);
    const plugins = new Set(r.json<Array<{ plugin: string }>>().map((m) => m.plugin));
    for (const name of ['@tessera/core', '@tessera/plugin-fan', '@tessera/plugin-flexivit', '@tessera/plugin-t2t', '@tessera/plugin-uniformer']) expect(plugins).toContain(name);
  });
});
