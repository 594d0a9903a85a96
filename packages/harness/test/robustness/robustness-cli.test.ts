import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { computeMetrics } from '../../src/robustness/metrics.js';
import type { RobustnessResult } from '../../src/robustness/run.js';
import { tempDir, tessera, TINY_TRAIN } from '../helpers.js';

describe('tessera robustness (end to end)', () => {
  const dir = tempDir('robustness');
  const run = join(dir, 'run');
  beforeAll(() => {
    const r = tessera(['train', ...TINY_TRAIN, '--epochs', '1', '--out', run, '--quiet', '--json']);
    expect(r.status, r.stderr).toBe(0);
  });

  test('writes robustness.json and robustness.html; --json prints mCE and retention last', () => {
    const out = join(dir, 'robust');
    const r = tessera(['robustness', '--checkpoint', run, '--corruptions', 'fog,contrast,speckle_noise', '--severities', '1,5', '--limit', '12', '--out', out, '--backend', 'wasm', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[6\/6\] speckle_noise severity 5: top-1 .* ETA/);
    const summary = r.json<{ mCE: number; retention: number; cleanTop1: number; normalisation: string; outDir: string }>();
    expect(summary.outDir).toBe(out);
    expect(summary.normalisation).toBe('none');
    const result = JSON.parse(readFileSync(join(out, 'robustness.json'), 'utf8')) as RobustnessResult;
    expect(result.images).toBe(12);
    expect(result.table).toBe('cifar');
    expect(result.source).toMatch(/ImageNet-C-style/);
    expect(Object.keys(result.errors)).toEqual(['fog', 'contrast', 'speckle_noise']);
    // The JSON carries what the metrics are computed from.
    const again = computeMetrics({ cleanError: result.clean.error, errors: result.errors });
    expect(again.mCE).toBeCloseTo(summary.mCE, 12);
    expect(again.retention).toBeCloseTo(summary.retention, 12);
    const html = readFileSync(join(out, 'robustness.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html.match(/data:image\/png;base64,/g)!.length).toBe(3 * 2 + 1);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);

    // The same run as its own baseline: every CE is 100 %, relative mCE too.
    const self = tessera(['robustness', '--checkpoint', run, '--corruptions', 'fog,contrast', '--severities', '1,5', '--limit', '12', '--baseline', out, '--out', join(dir, 'self'), '--backend', 'wasm', '--json', '--quiet']);
    expect(self.status, self.stderr).toBe(0);
    const s = self.json<{ mCE: number; normalisation: string }>();
    expect(s.normalisation).toBe('baseline');
    expect(s.mCE).toBeCloseTo(1, 12);
  });

  test('is deterministic from the seed', () => {
    const args = ['robustness', '--checkpoint', run, '--corruptions', 'gaussian_noise,glass_blur', '--severities', '3', '--limit', '8', '--backend', 'wasm', '--json', '--quiet'];
    const a = tessera([...args, '--out', join(dir, 'a')]);
    const b = tessera([...args, '--out', join(dir, 'b')]);
    expect(a.status, a.stderr).toBe(0);
    const ja = JSON.parse(readFileSync(join(dir, 'a', 'robustness.json'), 'utf8')) as RobustnessResult;
    const jb = JSON.parse(readFileSync(join(dir, 'b', 'robustness.json'), 'utf8')) as RobustnessResult;
    expect(ja.errors).toEqual(jb.errors);
  });

  test('bad flags are named before any work, with --json error lines', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--corruptions', 'fog,smoke'], /--corruptions.*smoke/],
      [['--severities', '0-2'], /--severities/],
      [['--limit', '0'], /--limit.*integer >= 1/],
      [['--table', 'mnist'], /--table.*imagenet, cifar/],
    ];
    for (const [flags, pattern] of cases) {
      const r = tessera(['robustness', '--checkpoint', run, ...flags]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(pattern);
    }
    const missing = tessera(['robustness', '--checkpoint', run, '--baseline', join(dir, 'nothing-here'), '--json']);
    expect(missing.status).toBe(1);
    expect(missing.json<{ error: string }>().error).toMatch(/--baseline/);
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    const refused = tessera(['robustness', '--checkpoint', run, '--out', busy, '--limit', '4', '--corruptions', 'fog', '--json']);
    expect(refused.status).toBe(1);
    expect(refused.json<{ error: string }>().error).toMatch(/--out.*holds other files/);
    expect(existsSync(join(busy, 'robustness.json'))).toBe(false);
  });
});
