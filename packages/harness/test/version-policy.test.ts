import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CORE_VERSION, Registry, type TesseraPlugin } from '@tessera/core';
import { pluginsOf } from '../src/plugins.js';

/*
 * The version policy (core README, "Versions"): @tessera/core follows semver from 1.0.0, and every
 * plugin declares the core major it is built for (`coreRange: '^1.0.0'`), the same range npm sees
 * as its peer dependency. So an additive core release (a minor) keeps every plugin loading, and a
 * breaking one (a major) refuses them all with a message until they are rebuilt for it.
 *
 * Every plugin package in this workspace is checked, found by folder, so a new plugin cannot skip it.
 */
const packagesDir = new URL('../../', import.meta.url);
const workspacePlugins = readdirSync(packagesDir)
  .filter((dir) => dir.startsWith('plugin-'))
  .map((dir) => JSON.parse(readFileSync(new URL(`${dir}/package.json`, packagesDir), 'utf8')) as { name: string; version: string; peerDependencies?: Record<string, string> });

const [major, minor] = CORE_VERSION.split('.').map(Number) as [number, number];

describe('version policy: plugins load across additive core releases and are refused across breaking ones', () => {
  test('the workspace has the five paper plugins, and core is past 0.x (where ^0.1.0 would exclude 0.2.0)', () => {
    expect(workspacePlugins.map((p) => p.name).sort()).toEqual(expect.arrayContaining(['@tessera/plugin-fan', '@tessera/plugin-flexivit', '@tessera/plugin-t2t', '@tessera/plugin-transmix', '@tessera/plugin-uniformer']));
    expect(major).toBeGreaterThanOrEqual(1);
  });

  test.each(workspacePlugins.map((p) => [p.name, p] as const))('%s', async (name, pkg) => {
    const [plugin] = pluginsOf((await import(name)) as Record<string, unknown>) as [TesseraPlugin];
    expect(plugin.name).toBe(name);
    expect(plugin.version).toBe(pkg.version);
    // What npm resolves (the published peer range) is what the registry checks.
    expect(pkg.peerDependencies?.['@tessera/core']).toBe(`workspace:${plugin.coreRange}`);
    expect(plugin.coreRange).toBe(`^${major}.0.0`);
    for (const version of [CORE_VERSION, `${major}.${minor + 1}.0`, `${major}.${minor + 7}.3`]) {
      expect(() => new Registry(version).use(plugin), `core ${version}`).not.toThrow();
    }
    expect(() => new Registry(`${major + 1}.0.0`).use(plugin)).toThrow(`supports @tessera/core ^${major}.0.0, but this is @tessera/core ${major + 1}.0.0`);
  });
});

