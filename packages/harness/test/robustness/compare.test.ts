import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { tempDir } from '../helpers.js';

// bench/robustness/compare.mjs makes the README's FAN-vs-ViT table from two robustness.json files.
const SCRIPT = fileURLToPath(new URL('../../bench/robustness/compare.mjs', import.meta.url));

function result(model: string, top1: number, errors: Record<string, Record<string, number>>, metrics: Record<string, number | string>, baseline: { model: string } | null = null) {
  return { format: 'tessera-robustness', model, corruptions: Object.keys(errors), clean: { top1 }, errors, metrics, baseline };
}

describe('bench/robustness/compare.mjs', () => {
  test('puts clean accuracy, per-corruption mean accuracy over the severities, retention and mCE side by side', () => {
    const dir = tempDir('compare');
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify(result('vit', 0.5, { fog: { 1: 0.6, 3: 0.7 }, snow: { 1: 0.55, 3: 0.65 } }, { meanCorruptionAccuracy: 0.375, retention: 0.75, mCE: 0.625, normalisation: 'none' })));
    writeFileSync(join(dir, 'b', 'robustness.json'), JSON.stringify(result('fan', 0.4, { fog: { 1: 0.62, 3: 0.64 }, snow: { 1: 0.6, 3: 0.6 } }, { meanCorruptionAccuracy: 0.385, retention: 0.9625, mCE: 0.984, normalisation: 'baseline' }, { model: 'vit' })));
    const r = spawnSync(process.execPath, [SCRIPT, join(dir, 'a.json'), join(dir, 'b')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      '| corruption | vit | fan |',
      '|---|---|---|',
      '| clean | 50.0 | 40.0 |',
      '| fog | 35.0 | 37.0 |',
      '| snow | 40.0 | 40.0 |',
      '| **mean corruption accuracy** (15 common) | 37.5 | 38.5 |',
      '| **retention** | 75.0 | 96.3 |',
      '| mCE | 62.5 (none) | 98.4 (vs vit) |',
    ]);
  });

  test('refuses a file that is not a robustness result, naming it', () => {
    const dir = tempDir('compare-bad');
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ format: 'other' }));
    const r = spawnSync(process.execPath, [SCRIPT, join(dir, 'a.json'), join(dir, 'a.json')], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${join(dir, 'a.json')}: not a tessera robustness result`);
  });
});
