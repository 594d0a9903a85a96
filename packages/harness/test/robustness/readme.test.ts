import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { PACKAGE_DIR, tempDir, tessera } from '../helpers.js';

const readme = readFileSync(join(PACKAGE_DIR, 'README.md'), 'utf8');
const spec = /```json\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('## Basic example')))![1]!;
const section = readme.slice(readme.indexOf('## Robustness'), readme.indexOf('## Backends and GPUs'));
const commands = /```sh\n([\s\S]*?)```/
  .exec(section)![1]!
  .trim()
  .split('\n')
  .map((line) => line.trim().split(/\s+/));

describe('README robustness example', () => {
  test('runs as written', () => {
    const cwd = tempDir('readme-robustness');
    writeFileSync(join(cwd, 'tiny-vit.json'), spec);
    expect(commands.map((c) => c.slice(0, 2).join(' '))).toEqual(['tessera train', 'tessera robustness', 'tessera robustness']);
    const runs = commands.map(([, ...args]) => {
      const r = tessera(args, { cwd });
      expect(r.status, `${args.join(' ')}\n${r.stderr}`).toBe(0);
      return r;
    });
    const first = runs[1]!.json<{ mCE: number; retention: number; outDir: string }>();
    expect(first.outDir).toBe(join(cwd, 'runs/tiny/robustness'));
    expect(existsSync(join(first.outDir, 'robustness.html'))).toBe(true);
    expect(runs[2]!.json<{ mCE: number; relativeMCE: number }>().mCE).toBeCloseTo(1, 12);
  });
});
