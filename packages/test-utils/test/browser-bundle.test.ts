import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { browserBundleProblems } from '../src/index.js';

describe('browserBundleProblems', () => {
  it('names a Node built-in import and passes a plain module', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-bundle-'));
    try {
      writeFileSync(join(dir, 'node.ts'), "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n");
      writeFileSync(join(dir, 'plain.ts'), 'export const two = 1 + 1;\n');
      const bad = await browserBundleProblems(join(dir, 'node.ts'));
      expect(bad.nodeBuiltins).toHaveLength(1);
      expect(bad.nodeBuiltins[0]).toContain('"node:fs"');
      expect(await browserBundleProblems(join(dir, 'plain.ts'))).toEqual({ nodeBuiltins: [], unresolved: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
