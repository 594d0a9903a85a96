import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { tempDir, tessera } from './helpers.js';

describe('tessera demo', () => {
  test('builds the T2T-stem hybrid with TransMix and runs end to end (smoke: 2 steps)', () => {
    const out = join(tempDir('demo'), 'demo');
    const r = tessera(['demo', '--out', out, '--steps', '2', '--train-size', '128', '--test-size', '50', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('demo: demo_t2t_vit with transmix on synthetic');
    const result = r.json<{ top1: number; steps: number; runDir: string; backend: string }>();
    expect(result).toMatchObject({ steps: 2, runDir: out, backend: 'wasm' });
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.model.spec.stem.block).toBe('t2t');
    expect(config.augment).toEqual([{ name: 'transmix', options: { prob: 0.5 } }]);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('demo_t2t_vit');
  });
});
