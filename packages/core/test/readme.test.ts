import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { setBackend } from '../src/index.js';

// Every ```ts block of the README runs as written, with the package import pointed at the sources.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const written: string[] = [];

beforeAll(async () => {
  await setBackend('wasm');
});
afterAll(() => written.forEach((f) => rmSync(f, { force: true })));

describe('README examples', () => {
  it('has examples', () => expect(blocks.length).toBeGreaterThanOrEqual(4));

  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs`, async () => {
      const file = fileURLToPath(new URL(`./.readme-example-${i}.ts`, import.meta.url));
      writeFileSync(file, code.replaceAll("from '@tessera/core/node'", "from '../src/node.js'").replaceAll("from '@tessera/core'", "from '../src/index.js'"));
      written.push(file);
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      await import(file);
      const printed = log.mock.calls.map((c) => c.map(String).join(' ')).join('\n');
      log.mockRestore();
      if (i === 0) expect(printed).toMatch(/^wasm 5362762\nloss \d/);
      if (i === 1) expect(printed).toMatch(/2,10 2,4,64 {"height":8,"width":8}/);
      if (i === 3) expect(printed).toBe('1,3\npatch_embed.proj.weight,patch_embed.proj.bias,norm.weight,norm.bias,head.weight,head.bias');
      if (i === 4) expect(printed).toMatch(/^proj\.0\.weight 2,4,4,128$/);
      if (code.includes('adamwUpdate(')) expect(printed).toBe('0.895,-1.990,3.085');
      if (code.includes('resamplePatchEmbed(')) expect(printed).toBe('12,12,3,4 true');
      if (code.includes('nativeMatMulStatus')) expect(printed).toMatch(/^true onnxruntime-node 1\.30\.\d+\nfalse$/);
      if (code.includes("modelSpec('deit_tiny_patch16_224'")) expect(printed).toMatch(/^\(top level\): class_token, blocks: transformer x12\n\d+ 1,4$/);
      if (code.includes('new Sequential')) expect(printed).toBe('0.0.weight 0.1.weight 2.0.weight 2.1.weight\n1,1,16 1,2,1,5');
    });
  });
});
