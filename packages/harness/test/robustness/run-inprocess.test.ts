import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setBackend, tf } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { runningReplicaWorkers } from '../../src/parallel/pool.js';
import { runRobustness } from '../../src/robustness/run.js';
import { tempDir, TINY_SPEC } from '../helpers.js';

describe('runRobustness (in process)', () => {
  beforeAll(async () => {
    await setBackend('wasm');
  });

  test('leaves no tensor behind; 2 workers give the one-thread errors, mCE and retention; with one severity CE is not AlexNet-normalised', async () => {
    const dir = tempDir('robustness-inprocess');
    const options = { model: TINY_SPEC, data: 'synthetic', imgSize: 40, corruptions: ['fog', 'pixelate'] as const, severities: [2], limit: 5, batchSize: 4, backend: 'wasm' as const };
    const one = await runRobustness({ ...options, corruptions: [...options.corruptions], workers: 1, out: join(dir, 'warm') });
    const before = tf.memory().numTensors;
    const lines: string[] = [];
    const result = await runRobustness({ ...options, corruptions: [...options.corruptions], workers: 2, out: join(dir, 'second'), log: (l) => lines.push(l) });
    expect(tf.memory().numTensors).toBe(before);
    expect(runningReplicaWorkers()).toBe(0);
    // Hit counts are exact across worker counts (eval-parallel.test.ts), so every error and metric is equal.
    expect([one.workers, result.workers]).toEqual([1, 2]);
    expect(result.clean).toEqual(one.clean);
    expect(result.errors).toEqual(one.errors);
    expect(result.metrics).toEqual(one.metrics);
    expect(lines[0]).toContain('on 2 worker threads');
    // 40-px images take ImageNet-C's table; one severity cannot be AlexNet-normalised, so CE stays unnormalised.
    expect(result.table).toBe('imagenet');
    expect(result.metrics.normalisation).toBe('none');
    expect(lines.some((l) => /\[2\/2\] pixelate severity 2/.test(l))).toBe(true);
    expect(existsSync(join(dir, 'second', 'robustness.html'))).toBe(true);
  });

  test('on ImageNet-sized images with all five severities, CE is normalised by AlexNet', async () => {
    const result = await runRobustness({ model: TINY_SPEC, data: 'synthetic', imgSize: 40, corruptions: ['contrast'], limit: 2, batchSize: 2, backend: 'wasm', out: join(tempDir('robustness-alexnet'), 'r') });
    expect(result.baseline).toBe('alexnet');
    expect(result.metrics.ce.contrast).toBeCloseTo([1, 2, 3, 4, 5].reduce((a, s) => a + result.errors.contrast![s]!, 0) / 5 / 0.853204, 12);
  });
});
