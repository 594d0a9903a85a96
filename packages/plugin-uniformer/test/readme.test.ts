import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { setBackend } from '@tessera/core';

// Every ```ts block of the README runs as written, in order, with the plugin import pointed at the sources.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const written: string[] = [];
const expected = [/^21037386\n2,10$/, /^2,10 2,2,16$/, /^0 331$/];

beforeAll(async () => {
  await setBackend('wasm');
});
afterAll(() => written.forEach((f) => rmSync(f, { force: true })));

describe('README examples', () => {
  it('has the three examples', () => expect(blocks).toHaveLength(expected.length));

  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs and prints what the README says`, async () => {
      const file = fileURLToPath(new URL(`./.readme-example-${i}.ts`, import.meta.url));
      writeFileSync(file, code.replaceAll("from '@tessera/plugin-uniformer'", "from '../src/index.js'"));
      written.push(file);
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      await import(file);
      const printed = log.mock.calls.map((c) => c.map(String).join(' ')).join('\n');
      log.mockRestore();
      expect(printed).toMatch(expected[i]!);
    });
  });
});
