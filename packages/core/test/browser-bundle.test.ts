import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Message } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * Bundles an entry for the browser and returns every Node built-in it would need.
 * tfjs's own Node-only imports are switched off by its package.json `browser` field,
 * which esbuild honours with platform 'browser'; anything else fails to resolve.
 */
export async function nodeBuiltinsInBrowserBundle(entry: string): Promise<string[]> {
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  try {
    await build({ entryPoints: [entry], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
    return [];
  } catch (error) {
    const errors = (error as { errors?: Message[] }).errors ?? [];
    const found = errors.map((e) => /Could not resolve "([^"]+)"/.exec(e.text)?.[1]).filter((m): m is string => m !== undefined);
    if (found.length !== errors.length) throw error;
    return found.filter((m) => builtins.has(m) || m.startsWith('node:')).map((m) => `${m} (from ${errors.find((e) => e.text.includes(`"${m}"`))?.location?.file})`);
  }
}

describe('browser-safe main entry', () => {
  it('bundles for the browser with no Node built-in', async () => {
    expect(await nodeBuiltinsInBrowserBundle(fileURLToPath(new URL('../src/index.ts', import.meta.url)))).toEqual([]);
  });

  it('the check catches a Node built-in (the file helpers of @tessera/core/node)', async () => {
    const found = await nodeBuiltinsInBrowserBundle(fileURLToPath(new URL('../src/node.ts', import.meta.url)));
    expect(found.some((m) => m.startsWith('node:fs'))).toBe(true);
  });
});
