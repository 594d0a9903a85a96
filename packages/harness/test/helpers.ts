import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TRAIN_DEFAULTS, type TrainConfig } from '../src/config.js';
import type { ModelRef } from '../src/model.js';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(PACKAGE_DIR, 'dist', 'cli.js');
export const TINY_SPEC = fileURLToPath(new URL('./fixtures/tiny-vit.json', import.meta.url));

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The last stdout line parsed as JSON (the --json contract). */
  json<T = Record<string, unknown>>(): T;
}

/** Runs the built CLI as a user would (`tessera ...`), with CI=true so progress is plain lines. */
export function tessera(args: readonly string[], options: { cwd?: string } = {}): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd ?? PACKAGE_DIR, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 180_000 });
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    json<T>() {
      const lines = r.stdout.trim().split('\n');
      return JSON.parse(lines[lines.length - 1]!) as T;
    },
  };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `tessera-${prefix}-`));
}

/** Flags of a tiny, fast training run on synthetic data. */
export const TINY_TRAIN = ['--model', TINY_SPEC, '--data', 'synthetic', '--train-size', '64', '--test-size', '32', '--img-size', '16', '--batch-size', '16', '--eval-batch-size', '32', '--backend', 'wasm'];

/**
 * The in-process `train()` config of the harness's small training tests: `model` on 32
 * synthetic 16-px images, one epoch at batch 8, wasm, no augmentation.
 */
export function tinyTrainConfig(model: ModelRef, out: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...TRAIN_DEFAULTS,
    model,
    plugins: [],
    data: 'synthetic',
    trainSize: 32,
    testSize: 16,
    imgSize: 16,
    epochs: 1,
    batchSize: 8,
    evalBatchSize: 16,
    augment: [],
    backend: 'wasm',
    out,
    ...overrides,
  };
}
