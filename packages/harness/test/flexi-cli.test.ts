import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { drawPatchSize } from '../src/train/patch-sizes.js';
import { tesseraInProcess as tessera } from './cli-inprocess.js';
import { tempDir, TINY_SPEC, type CliRun } from './helpers.js';

// A FlexiViT-style spec: its stem declares patchSize overridable, so the harness finds it through the block's declaration.
const FLEXI_SPEC = fileURLToPath(new URL('./fixtures/tiny-flexivit.json', import.meta.url));
const DATA = ['--data', 'synthetic', '--train-size', '64', '--test-size', '32', '--batch-size', '16', '--eval-batch-size', '32', '--backend', 'wasm', '--seed', '5'];

type Line = { type: string; step: number; loss: number; patchSize?: number };
const metrics = (runDir: string): Line[] =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
const trainLines = (runDir: string) => metrics(runDir).filter((m) => m.type === 'train');

describe('tessera train/eval --patch-sizes (FlexiViT)', () => {
  const root = tempDir('flexi');
  const full = join(root, 'full');
  let fullRun: CliRun;

  beforeAll(async () => {
    fullRun = await tessera(['train', '--model', FLEXI_SPEC, ...DATA, '--epochs', '2', '--patch-sizes', '2,4,8', '--out', full, '--json']);
  }, 600_000);

  test('draws one patch size per step from (seed, step), logs it, and evaluates at every size at the end', async () => {
    expect(fullRun.status, fullRun.stderr).toBe(0);
    const lines = trainLines(full);
    expect(lines.map((m) => m.patchSize)).toEqual(lines.map((m) => drawPatchSize([2, 4, 8], 5, m.step - 1)));
    expect(new Set(lines.map((m) => m.patchSize)).size).toBeGreaterThan(1);
    const result = fullRun.json<{ patchSizes: Array<{ patchSize: number; tokens: number; top1: number; imagesPerSecond: number }> }>();
    expect(result.patchSizes.map((m) => [m.patchSize, m.tokens])).toEqual([
      [2, 64],
      [4, 16],
      [8, 4],
    ]);
    for (const m of result.patchSizes) expect(m.imagesPerSecond).toBeGreaterThan(0);
    const html = readFileSync(join(full, 'report.html'), 'utf8');
    expect(html).toContain('Accuracy against patch size');
    expect(JSON.parse(readFileSync(join(full, 'config.json'), 'utf8')).patchSizes).toEqual([2, 4, 8]);
  });

  test('a resumed run replays the same patch sizes and reproduces the uninterrupted run', async () => {
    const part = join(root, 'part');
    const first = await tessera(['train', '--model', FLEXI_SPEC, ...DATA, '--epochs', '2', '--patch-sizes', '2,4,8', '--steps', '3', '--out', part, '--json']);
    expect(first.status, first.stderr).toBe(0);
    const resumed = await tessera(['train', '--resume', part, '--json']);
    expect(resumed.status, resumed.stderr).toBe(0);
    const a = trainLines(full);
    const b = trainLines(part);
    expect(b.map((m) => m.patchSize)).toEqual(a.map((m) => m.patchSize));
    expect(b.map((m) => m.loss)).toEqual(a.map((m) => m.loss));
    expect(resumed.json<{ top1: number }>().top1).toBe(fullRun.json<{ top1: number }>().top1);
  });

  test('tessera eval --patch-sizes reports each size and adds the chart to the run report', async () => {
    const run = await tessera(['eval', '--checkpoint', full, '--patch-sizes', '4,8', '--backend', 'wasm', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const result = run.json<{ patchSizes: Array<{ patchSize: number; tokens: number; top1: number }> }>();
    expect(result.patchSizes.map((m) => m.patchSize)).toEqual([4, 8]);
    expect(existsSync(join(full, 'eval-patch-sizes.json'))).toBe(true);
    // Same weights, same data: the training run's own final numbers at those sizes.
    const trained = fullRun.json<{ patchSizes: Array<{ patchSize: number; top1: number }> }>().patchSizes;
    for (const m of result.patchSizes) expect(m.top1).toBe(trained.find((t) => t.patchSize === m.patchSize)!.top1);
    const defaults = await tessera(['eval', '--checkpoint', full, '--patch-sizes', '--backend', 'wasm', '--json']);
    expect(defaults.status, defaults.stderr).toBe(0);
    // 16 px: every divisor leaving a 2x2 grid.
    expect(defaults.json<{ patchSizes: Array<{ patchSize: number }> }>().patchSizes.map((m) => m.patchSize)).toEqual([1, 2, 4, 8]);
  });

  test('refuses --patch-sizes for a model without an overridable patch size, and bad lists, naming the flag', async () => {
    const fixed = await tessera(['train', '--model', TINY_SPEC, ...DATA, '--steps', '1', '--patch-sizes', '4', '--out', join(root, 'fixed')]);
    expect(fixed.status).toBe(1);
    expect(fixed.stderr).toMatch(/--patch-sizes.*patchSize overridable/);
    const bad = await tessera(['train', '--model', FLEXI_SPEC, ...DATA, '--steps', '1', '--patch-sizes', '4,x', '--out', join(root, 'bad')]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--patch-sizes/);
    const big = await tessera(['train', '--model', FLEXI_SPEC, ...DATA, '--steps', '1', '--patch-sizes', '4,32', '--out', join(root, 'big')]);
    expect(big.status).toBe(1);
    expect(big.stderr).toMatch(/--patch-sizes.*at most the image size 16 \(not 32\)/);
  });

  test('tessera train --teacher distils: the student starts as the teacher (KL 0 at the first step) and the loss is a KL', async () => {
    const student = join(root, 'student');
    const run = await tessera(['train', '--model', FLEXI_SPEC, ...DATA, '--epochs', '1', '--teacher', full, '--out', student, '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/student initialised from teacher/);
    const lines = trainLines(student);
    // Same spec, weights copied: the first step's KL (measured before its update) is zero.
    expect(lines[0]!.loss).toBeLessThan(1e-5);
    expect(lines.every((m) => m.loss >= -1e-6 && Number.isFinite(m.loss))).toBe(true);
    expect(JSON.parse(readFileSync(join(student, 'config.json'), 'utf8')).teacher).toBe(full);
  });

  test('--teacher chains after TransMix: the student sees the mixed images and learns the teacher\'s probabilities on them', async () => {
    const student = join(root, 'student-transmix');
    const run = await tessera(['train', '--model', FLEXI_SPEC, ...DATA, '--epochs', '1', '--patch-sizes', '2,4,8', '--augment', 'transmix', '--teacher', full, '--out', student, '--json']);
    expect(run.status, run.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(student, 'config.json'), 'utf8')) as { teacher: string; augment: Array<{ name: string }> };
    expect(config.teacher).toBe(full);
    expect(config.augment.map((a) => a.name)).toEqual(['transmix']);
    // The distillation step comes last, so the loss is its KL (>= 0, 0 at the start: the student is the teacher).
    const lines = trainLines(student);
    expect(lines[0]!.loss).toBeLessThan(1e-5);
    expect(lines.every((m) => m.loss >= -1e-6 && Number.isFinite(m.loss))).toBe(true);
  });
});
