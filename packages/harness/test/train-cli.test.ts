import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { tempDir, tessera, TINY_TRAIN } from './helpers.js';

type Metrics = Array<{ type: string; step: number; loss: number; top1?: number }>;
const readMetrics = (runDir: string): Metrics =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const trainLosses = (runDir: string) => new Map(readMetrics(runDir).filter((m) => m.type === 'train').map((m) => [m.step, m.loss]));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

// Mixup/CutMix, drop path and EMA all draw from saved random streams, so resuming exercises every one of them.
const RECIPE = [...TINY_TRAIN, '--epochs', '2', '--augment', 'mixup,cutmix', '--drop-path', '0.1', '--ema', '0.9', '--clip-grad', '5', '--crop-padding', '2', '--flip'];

describe('tessera train', () => {
  const root = tempDir('train');
  const full = join(root, 'full');
  let fullRun: ReturnType<typeof tessera>;

  beforeAll(() => {
    fullRun = tessera(['train', ...RECIPE, '--out', full, '--json']);
  });

  test('a run writes checkpoints, metrics.jsonl and a self-contained report, and ends stdout with the JSON result', () => {
    expect(fullRun.status, fullRun.stderr).toBe(0);
    const result = fullRun.json<Record<string, number | string>>();
    for (const key of ['top1', 'top5', 'loss', 'imagesPerSecond', 'runDir']) expect(result).toHaveProperty(key);
    expect(result.runDir).toBe(full);
    expect(result.steps).toBe(8); // 64 examples / batch 16 × 2 epochs
    expect(result.top1).toBeGreaterThanOrEqual(0);
    expect(result.top1).toBeLessThanOrEqual(1);
    expect(result.top5).toBeGreaterThanOrEqual(result.top1 as number);
    expect(Number(result.imagesPerSecond)).toBeGreaterThan(0);

    const checkpoint = JSON.parse(readFileSync(join(full, 'checkpoint.json'), 'utf8'));
    expect(checkpoint).toMatchObject({ format: 'tessera-checkpoint', step: 8, epoch: 2 });
    for (const file of Object.values(checkpoint.files) as string[]) expect(existsSync(join(full, file))).toBe(true);
    // Older checkpoints are removed once a newer one is in place: model, optimizer and EMA of the last step only.
    expect(readdirSync(join(full, 'checkpoints')).sort()).toEqual(['step-00000008.ema.safetensors', 'step-00000008.model.safetensors', 'step-00000008.optimizer.safetensors']);

    const metrics = readMetrics(full);
    expect(metrics.filter((m) => m.type === 'train').map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(metrics.filter((m) => m.type === 'eval').map((m) => m.step)).toEqual([4, 8]);
    expect(metrics.every((m) => m.type !== 'train' || Number.isFinite(m.loss))).toBe(true);

    const html = readFileSync(join(full, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Validation accuracy');
    expect(html).toContain('@tessera/core');
    expect(html).toContain('wasm');
    // Self-contained: nothing is fetched (SVG namespace declarations are not requests).
    const external = html.match(/(?:src|href)\s*=\s*["']?(?:https?:)?\/\//gi) ?? [];
    expect(external).toEqual([]);
    expect(html).not.toMatch(/@import|url\(\s*["']?https?:/i);
  });

  test('--resume after a --steps stop reproduces the uninterrupted run to 1e-6', () => {
    const split = join(root, 'split');
    const first = tessera(['train', ...RECIPE, '--out', split, '--steps', '3', '--json']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.json().steps).toBe(3);
    expect(JSON.parse(readFileSync(join(split, 'checkpoint.json'), 'utf8')).step).toBe(3);

    const resumed = tessera(['train', '--resume', split, '--json']);
    expect(resumed.status, resumed.stderr).toBe(0);
    const result = resumed.json<Record<string, number>>();
    expect(result.steps).toBe(8);

    const expected = trainLosses(full);
    const actual = trainLosses(split);
    expect([...actual.keys()]).toEqual([...expected.keys()]);
    for (const [step, loss] of expected) expect(Math.abs(actual.get(step)! - loss), `step ${step}`).toBeLessThanOrEqual(1e-6);
    const fullResult = fullRun.json<Record<string, number>>();
    expect(Math.abs(result.loss! - fullResult.loss!)).toBeLessThanOrEqual(1e-6);
    expect(result.top1).toBe(fullResult.top1);
  });

  test('a NaN loss stops the run with a clear message and leaves the last good checkpoint intact', () => {
    const runDir = join(root, 'diverge');
    const ok = tessera(['train', ...TINY_TRAIN, '--epochs', '2', '--steps', '2', '--out', runDir, '--json']);
    expect(ok.status, ok.stderr).toBe(0);
    const before = readFileSync(join(runDir, 'checkpoint.json'), 'utf8');
    const state = JSON.parse(before);
    const hashes = Object.fromEntries((Object.values(state.files) as string[]).map((f) => [f, sha(join(runDir, f))]));

    const diverged = tessera(['train', '--resume', runDir, '--lr', '1e30', '--json']);
    expect(diverged.status).toBe(3);
    expect(diverged.stderr).toMatch(/diverged at step \d+/);
    expect(diverged.stderr).toMatch(/(NaN|Infinity)/);
    expect(diverged.stderr).toContain('last good checkpoint (step 2)');
    expect(diverged.stderr).toContain('--lr');
    expect(diverged.json()).toMatchObject({ runDir, lastCheckpointStep: 2 });

    expect(readFileSync(join(runDir, 'checkpoint.json'), 'utf8')).toBe(before);
    for (const [file, hash] of Object.entries(hashes)) expect(sha(join(runDir, file))).toBe(hash);
  });

  test('a plugin model trains by name: the plugins are loaded before --model is resolved', () => {
    const out = join(root, 'plugin-model');
    const run = tessera(['train', '--model', 't2t_vit_7', '--img-size', '32', '--steps', '1', '--data', 'synthetic', '--train-size', '8', '--test-size', '8', '--batch-size', '8', '--backend', 'wasm', '--out', out, '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(Number.isFinite(run.json<{ trainLoss: number }>().trainLoss)).toBe(true);
  });
});
