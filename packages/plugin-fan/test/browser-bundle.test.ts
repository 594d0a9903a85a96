import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Message } from 'esbuild';
import { describe, expect, it } from 'vitest';

// Plugins obey core's rule: the main entry imports nothing from Node, so it bundles for the browser.
// (tfjs's Node-only imports are switched off by its package.json `browser` field, which esbuild honours.)
describe('browser-safe main entry', () => {
  it('bundles with @tessera/core for the browser with no Node built-in', async () => {
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    let unresolved: Message[] = [];
    try {
      await build({ entryPoints: [fileURLToPath(new URL('../src/index.ts', import.meta.url))], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
    } catch (error) {
      unresolved = (error as { errors?: Message[] }).errors ?? [];
      if (!unresolved.length) throw error;
    }
    const named = unresolved.map((e) => `${e.text} (${e.location?.file})`);
    expect(named.filter((text) => [...builtins].some((m) => text.includes(`"${m}"`)))).toEqual([]);
    expect(named).toEqual([]);
  });
});
