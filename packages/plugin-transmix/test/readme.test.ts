import { readFileSync } from 'node:fs';
import { expect, it, vi } from 'vitest';

it('the README training example is this test file and trains DeiT-Tiny with TransMix (finite losses)', async () => {
  const example = readFileSync(new URL('./readme-example.ts', import.meta.url), 'utf8').trim();
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(readme).toContain(example);
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
  try {
    await import('./readme-example.js');
  } finally {
    log.mockRestore();
  }
  // What the example prints: one line per step, `step <i>: loss <four decimals>`, with a finite cross-entropy.
  expect(lines).toHaveLength(3);
  lines.forEach((line, i) => expect(line).toMatch(new RegExp(`^step ${i}: loss \\d+\\.\\d{4}$`)));
  const losses = lines.map((l) => Number(/loss (\S+)/.exec(l)?.[1]));
  for (const loss of losses) expect(loss).toBeGreaterThan(0);
});
