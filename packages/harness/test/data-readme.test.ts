import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it, vi } from 'vitest';
import { tf } from '@tessera/core';

// The README's data-pipeline example runs as written: read from README.md (so the two cannot drift), the package
// import pointed at the sources, what it prints checked line by line.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('### Data pipeline from code'));
const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
const exampleFile = fileURLToPath(new URL('./.readme-data-example.ts', import.meta.url));
afterAll(() => rmSync(exampleFile, { force: true }));

it('README data example: open the synthetic dataset and iterate augmented, normalised batches', async () => {
  writeFileSync(exampleFile, `${code.replaceAll("from '@tessera/harness'", "from '../src/index.js'")}\nexport { saved };\n`);
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
  let saved: unknown;
  try {
    ({ saved } = (await import(exampleFile)) as { saved: unknown });
  } finally {
    log.mockRestore();
  }
  // 512 examples in batches of 128, two epochs: 8 lines, each a 128x32x32x3 batch and one of the ten class names.
  expect(lines).toHaveLength(8);
  lines.forEach((line, i) =>
    expect(line).toMatch(new RegExp(`^epoch ${i < 4 ? 0 : 1}: images 128x32x32x3, first label (circle|square|triangle|cross|ring|diamond|stripes-h|stripes-v|checker|dots)$`)),
  );
  expect(saved).toMatchObject({ epoch: 2, position: 0 });
  expect(tf.memory().numTensors).toBe(0);
});
