import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORE_VERSION, listModels, setBackend } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { discoverPluginPackages, hasPluginKeyword, loadPlugins } from '../src/plugins.js';
import { tempDir } from './helpers.js';

/** A package in a project's node_modules: its package.json and an index.js. */
function installPackage(project: string, name: string, keywords: string[]): void {
  const dir = join(project, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'index.js', keywords }));
  writeFileSync(join(dir, 'index.js'), 'export const nothing = 1;\n');
}

describe('plugin discovery by the tessera-plugin keyword', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });

  test('a declared dependency with the keyword is loaded whatever its name; one without it, or undeclared, is not', async () => {
    const project = tempDir('keyword');
    const major = CORE_VERSION.split('.')[0];
    installPackage(project, 'swirl-nn', ['vision', 'tessera-plugin']);
    // A model's spec is a function, so the module is written out by hand.
    writeFileSync(
      join(project, 'node_modules', 'swirl-nn', 'index.js'),
      `export const swirlPlugin = {
  name: 'swirl-nn', version: '1.0.0', coreRange: '^${major}.0.0',
  models: { swirl_keyword_tiny: { description: 'a tiny ViT from a keyword-discovered plugin', spec: (o) => ({ name: 'swirl_keyword_tiny', imgSize: 16, numClasses: o.numClasses ?? 10,
    stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 8 } }, stages: [{ block: 'class_token' }, { block: 'transformer', options: { numHeads: 2 } }], head: { block: 'classifier', options: { pool: 'token' } } }) } },
};
`,
    );
    installPackage(project, 'left-pad-ish', ['string']);
    installPackage(project, 'undeclared-swirl', ['tessera-plugin']);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, dependencies: { 'swirl-nn': '1.0.0', 'left-pad-ish': '1.0.0' } }));

    expect(hasPluginKeyword('swirl-nn', project)).toBe(true);
    expect(hasPluginKeyword('left-pad-ish', project)).toBe(false);
    expect(hasPluginKeyword('not-installed', project)).toBe(false);
    const found = discoverPluginPackages(project).map((p) => p.name);
    expect(found).toContain('swirl-nn');
    expect(found).not.toContain('left-pad-ish');
    expect(found).not.toContain('undeclared-swirl');
    // The harness itself declares no plugin: only the project's are found.
    expect(found.filter((n) => n.startsWith('@tessera/plugin-'))).toEqual([]);

    const loaded = await loadPlugins([], { cwd: project });
    expect(loaded.map((p) => p.name)).toContain('swirl-nn');
    expect(listModels()).toContain('swirl_keyword_tiny');
  });
});

describe('the demo without its plugins', () => {
  test('says which plugin is missing, what it uses instead and how to install it', async () => {
    const { loadDemoPlugins } = await import('../src/demo.js');
    const lines: string[] = [];
    const missing = await loadDemoPlugins((l) => lines.push(l), [{ name: '@tessera/plugin-not-installed', role: 'the T2T stem', fallback: "ViT's patch embedding" }]);
    expect(missing).toEqual(['@tessera/plugin-not-installed']);
    expect(lines).toEqual(["demo: @tessera/plugin-not-installed is not installed, so the demo uses ViT's patch embedding instead of the T2T stem; for the full demo: npm install @tessera/plugin-not-installed"]);
  });
});
