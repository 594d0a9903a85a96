import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORE_VERSION } from '@tessera/core';
import { afterAll, describe, expect, test } from 'vitest';
import { coreRangeFor, generatePlugin, pluginNames } from '../src/index.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const WORKSPACE = join(PACKAGE_DIR, '..', '..');
const CLI = join(PACKAGE_DIR, 'dist', 'cli.js');
const root = mkdtempSync(join(tmpdir(), 'create-tessera-plugin-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Installs a generated project against this workspace, as `file:` links install: each
 * dependency is a symlink to the workspace package (or the workspace's installed copy
 * of vitest, typescript and @types/node), so no registry is needed and the plugin
 * runs against the core and conformance kit of this commit.
 */
function linkDependencies(project: string): void {
  const links: Record<string, string> = {
    '@tessera/core': join(WORKSPACE, 'packages', 'core'),
    '@tessera/conformance': join(WORKSPACE, 'packages', 'conformance'),
    vitest: realpathSync(join(WORKSPACE, 'node_modules', 'vitest')),
    typescript: realpathSync(join(WORKSPACE, 'node_modules', 'typescript')),
    '@types/node': realpathSync(join(WORKSPACE, 'node_modules', '@types', 'node')),
  };
  for (const [name, target] of Object.entries(links)) {
    const link = join(project, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(target, link, 'dir');
  }
}

describe('create-tessera-plugin', () => {
  test('names: a bare name becomes tessera-plugin-<name>; registry names carry its prefix', () => {
    expect(pluginNames('swirl')).toEqual({ packageName: 'tessera-plugin-swirl', prefix: 'swirl', identifier: 'swirlPlugin' });
    expect(pluginNames('@acme/tessera-plugin-big-mlp')).toEqual({ packageName: '@acme/tessera-plugin-big-mlp', prefix: 'big_mlp', identifier: 'bigMlpPlugin' });
    expect(() => pluginNames('Bad Name')).toThrow(/valid npm package name/);
    expect(coreRangeFor('0.1.0')).toBe('^0.1.0');
    expect(coreRangeFor('1.4.2')).toBe('^1.0.0');
  });

  test('the CLI generates a plugin that installs against the workspace and passes its tests, the conformance suite included', () => {
    const made = spawnSync(process.execPath, [CLI, 'swirl', '--dir', join(root, 'swirl')], { cwd: root, encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/created tessera-plugin-swirl in swirl: block swirl_token_mlp, model swirl_tiny, augmentation swirl_flip/);
    const project = join(root, 'swirl');
    for (const file of ['package.json', 'README.md', 'src/plugin.ts', 'test/conformance.test.ts', '.changeset/config.json']) expect(existsSync(join(project, file))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { keywords: string[]; peerDependencies: Record<string, string> };
    expect(manifest.keywords).toContain('tessera-plugin');
    // The generated range admits the core it was generated with.
    expect(manifest.peerDependencies['@tessera/core']).toBe(coreRangeFor(CORE_VERSION));

    linkDependencies(project);
    const typecheck = spawnSync(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
    expect(typecheck.status, typecheck.stdout + typecheck.stderr).toBe(0);
    const run = spawnSync(process.execPath, [join(project, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], { cwd: project, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 600_000 });
    // eslint-disable-next-line no-control-regex
    const output = (run.stdout + run.stderr).replace(/\u001b\[[0-9;]*m/g, '');
    expect(run.status, output).toBe(0);
    expect(output).toMatch(/Test Files\s+2 passed/);
    // The conformance suite ran its plugin checks and the block's combinations.
    const passed = Number(/Tests\s+(\d+) passed/.exec(output)?.[1]);
    expect(passed).toBeGreaterThan(10);
  }, 600_000);

  test('refuses a folder that is not empty', () => {
    generatePlugin('once', { dir: join(root, 'once') });
    expect(() => generatePlugin('once', { dir: join(root, 'once') })).toThrow(/exists and is not empty/);
  });
});
