import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { PACKAGE_DIR, tempDir, tessera } from './helpers.js';

const readme = readFileSync(join(PACKAGE_DIR, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## Basic example'), readme.indexOf('## Commands'));
const spec = /```json\n([\s\S]*?)```/.exec(section)![1]!;
const commands = /```sh\n([\s\S]*?)```/
  .exec(section)![1]!
  .trim()
  .split('\n')
  .map((line) => line.trim().split(/\s+/));

describe('README basic example', () => {
  test('runs as written: info, train with an early stop, resume, eval', () => {
    const cwd = tempDir('readme');
    writeFileSync(join(cwd, 'tiny-vit.json'), spec);
    expect(commands.map((c) => c.slice(0, 2).join(' '))).toEqual(['tessera info', 'tessera train', 'tessera train', 'tessera eval']);
    const runs = commands.map(([, ...args]) => {
      const r = tessera(args, { cwd });
      expect(r.status, `${args.join(' ')}\n${r.stderr}`).toBe(0);
      return r;
    });
    expect(runs[0]!.stdout).toContain('tiny_vit');
    expect(existsSync(join(cwd, 'runs/tiny/report.html'))).toBe(true);
    const resumed = runs[2]!.json<{ steps: number; top1: number; runDir: string }>();
    expect(resumed.steps).toBe(8);
    const evaluated = runs[3]!.json<{ top1: number; top5: number; loss: number; imagesPerSecond: number; runDir: string; workers: number }>();
    expect(evaluated.runDir).toBe(resumed.runDir);
    expect(evaluated.workers).toBe(2);
    // The evaluation of the saved weights reproduces the run's own final evaluation.
    expect(evaluated.top1).toBe(resumed.top1);
    expect(evaluated.loss).toBeCloseTo((resumed as unknown as { loss: number }).loss, 6);
  });
});
