import { fileURLToPath } from 'node:url';
import { browserBundleProblems } from '@tessera/test-utils';
import { describe, expect, it } from 'vitest';

// Plugins obey core's rule: the main entry imports nothing from Node, so it bundles for the browser.
describe('browser-safe main entry', () => {
  it('bundles with @tessera/core for the browser with no Node built-in', async () => {
    const { nodeBuiltins, unresolved } = await browserBundleProblems(fileURLToPath(new URL('../src/index.ts', import.meta.url)));
    expect(nodeBuiltins).toEqual([]);
    expect(unresolved).toEqual([]);
  });
});
