import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { tesseraInProcess as tessera } from './cli-inprocess.js';
import { tempDir, TINY_SPEC } from './helpers.js';

// In this process (tesseraInProcess): the same commander program and exit codes, without a tfjs import per case.
describe('flag validation', () => {
  test('a malformed number names the flag, the value and what is accepted', async () => {
    const r = await tessera(['train', '--model', TINY_SPEC, '--epochs', 'ten']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("option '--epochs <n>' argument 'ten' is invalid");
    expect(r.stderr).toContain('expected an integer >= 1');
  });

  test('out-of-range values are refused before any training', async () => {
    const smoothing = await tessera(['train', '--model', TINY_SPEC, '--smoothing', '1.5']);
    expect(smoothing.status).toBe(1);
    expect(smoothing.stderr).toContain("'--smoothing <ε>' argument '1.5' is invalid");
    expect(smoothing.stderr).toContain('[0, 1)');
    const lr = await tessera(['train', '--model', TINY_SPEC, '--lr', '0']);
    expect(lr.status).toBe(1);
    expect(lr.stderr).toContain("'--lr <rate>' argument '0' is invalid");
    expect(lr.stderr).toContain('> 0');
  });

  test('--workers must be a whole number of at least one (train, eval and robustness share the option)', async () => {
    for (const command of ['eval', 'robustness']) {
      const r = await tessera([command, '--model', TINY_SPEC, '--workers', command === 'eval' ? '0' : '1.5']);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`option '--workers <n>' argument '${command === 'eval' ? '0' : '1.5'}' is invalid`);
      expect(r.stderr).toContain('expected an integer >= 1');
    }
  });

  test('an unknown backend lists the choices', async () => {
    const r = await tessera(['train', '--model', TINY_SPEC, '--backend', 'cuda']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("argument 'cuda' is invalid");
    expect(r.stderr).toContain('auto, tensorflow-gpu, tensorflow, webgpu, wasm, cpu');
  });

  test('an unknown model name suggests the closest registered one', async () => {
    const r = await tessera(['info', 'deit_tiny_patch16', '--backend', 'wasm']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("unknown model 'deit_tiny_patch16'");
    expect(r.stderr).toContain("Did you mean 'deit_tiny_patch16_224'");
  });

  test('an unknown augmentation suggests the closest, and --json still ends with one JSON object', async () => {
    const out = join(tempDir('flags'), 'never-written');
    const r = await tessera(['train', '--model', TINY_SPEC, '--augment', 'mixpu', '--backend', 'wasm', '--steps', '1', '--train-size', '16', '--test-size', '8', '--batch-size', '8', '--out', out, '--json']);
    expect(r.status).toBe(1);
    expect(existsSync(out), 'a refused run creates no run directory').toBe(false);
    expect(r.stderr).toContain("unknown augmentation 'mixpu'");
    expect(r.stderr).toContain("'mixup'");
    expect(r.json<{ error: string }>().error).toContain('mixpu');
  });

  test('a bad augmentation option names the option and the value', async () => {
    const out = join(tempDir('flags'), 'never-written');
    const r = await tessera(['train', '--model', TINY_SPEC, '--augment', 'mixup:prob=2', '--backend', 'wasm', '--steps', '1', '--train-size', '16', '--test-size', '8', '--batch-size', '8', '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/mixup option prob = 2 is not accepted: .*<=\s*1/);
    expect(existsSync(out), 'a refused run creates no run directory').toBe(false);
  });

  test('every command has --help', async () => {
    for (const command of ['models', 'info', 'train', 'eval', 'demo']) {
      const r = await tessera([command, '--help']);
      expect(r.status, command).toBe(0);
      expect(r.stdout).toContain(`Usage: tessera ${command}`);
    }
    expect((await tessera(['train', '--help'])).stdout).toContain('--resume');
  });
});
