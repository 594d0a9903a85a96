import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

// Every ```ts block of the README runs as written (```ts skip blocks need files we do not ship), imports pointed at the sources.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const written: string[] = [];
afterAll(() => written.forEach((f) => rmSync(f, { force: true })));

describe('README examples', () => {
  it('has an example', () => expect(blocks.length).toBeGreaterThanOrEqual(1));

  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs`, async () => {
      const file = fileURLToPath(new URL(`./.readme-example-${i}.ts`, import.meta.url));
      writeFileSync(file, code.replaceAll("from '@tessera/plugin-flexivit'", "from '../src/index.js'"));
      written.push(file);
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      await import(file);
      const printed = log.mock.calls.map((c) => c.map(String).join(' ')).join('\n');
      log.mockRestore();
      if (i === 0) expect(printed).toBe('8 2x10\n12 2x10\n16 2x10\n24 2x10\n1x10');
    });
  });
});
