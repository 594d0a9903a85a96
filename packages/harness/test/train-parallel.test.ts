import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeSafetensors, setBackend, tf } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import type { TrainConfig } from '../src/config.js';
import { evaluateRun } from '../src/evaluate-run.js';
import { resolveModelRef } from '../src/model.js';
import { shardSizes, sumInto } from '../src/parallel/data-parallel.js';
import { loadPlugins } from '../src/plugins.js';
import { readMetrics, train } from '../src/train/trainer.js';
import { tempDir, TINY_SPEC, tinyTrainConfig } from './helpers.js';

/*
 * Data-parallel training (--workers): the batch is split across worker threads whose
 * gradients are summed, and every replica applies the same update. Without dropout
 * or BatchNorm, N workers compute the one-thread gradient up to float32 summation
 * order, so losses and weights agree within float tolerance; for a given N a run is
 * exactly reproducible, resumable and leak-free.
 */
const tinySpec = await resolveModelRef(TINY_SPEC);

const config = (out: string, overrides: Partial<TrainConfig> = {}): TrainConfig => tinyTrainConfig(tinySpec, out, overrides);

const weightsOf = (runDir: string): Record<string, Float32Array> => {
  const { files } = JSON.parse(readFileSync(join(runDir, 'checkpoint.json'), 'utf8')) as { files: { model: string } };
  const { tensors } = decodeSafetensors(readFileSync(join(runDir, files.model)));
  const out = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.dataSync() as Float32Array]));
  tf.dispose(Object.values(tensors));
  return out;
};

const FLEXI_SPEC = fileURLToPath(new URL('./fixtures/tiny-flexivit.json', import.meta.url));

const expectSameTraining = async (one: string, two: string) => {
  const [l1, l2] = [await trainLosses(one), await trainLosses(two)];
  expect(l2).toHaveLength(l1.length);
  l1.forEach((loss, i) => expect(Math.abs(l2[i]! - loss)).toBeLessThanOrEqual(1e-5));
  const [w1, w2] = [weightsOf(one), weightsOf(two)];
  let worst = 0;
  for (const [name, values] of Object.entries(w1)) values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - w2[name]![i]!))));
  expect(worst).toBeLessThanOrEqual(1e-5);
};

const trainLosses = async (runDir: string) => (await readMetrics(runDir)).filter((m) => m.type === 'train').map((m) => m.loss);

describe('data-parallel training', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    await loadPlugins();
  });

  test('shards split a batch contiguously, sizes differing by at most one', () => {
    expect(shardSizes(8, 2)).toEqual([4, 4]);
    expect(shardSizes(7, 3)).toEqual([3, 2, 2]);
    expect(shardSizes(2, 2)).toEqual([1, 1]);
  });

  test('the all-reduce sums the workers\' slots in worker order as float32 and returns the float64 sum of squares of the sum', () => {
    for (const count of [2, 3]) {
      const size = 1001;
      const slots = Float32Array.from({ length: count * size }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 7) - 3));
      const reduced = new Float32Array(size);
      const squares = sumInto(reduced, slots, count, size);
      // Reference: a Float32Array accumulated worker by worker (what every replica used to compute), squares in float64.
      const expected = new Float32Array(size);
      for (let w = 0; w < count; w++) for (let i = 0; i < size; i++) expected[i]! += slots[w * size + i]!;
      expect(Array.from(reduced)).toEqual(Array.from(expected));
      const reference = expected.reduce((sum, x) => sum + x * x, 0);
      expect(Math.abs(squares - reference)).toBeLessThanOrEqual(1e-12 * reference);
    }
  });

  test('2 workers equal 1 within float tolerance (no dropout, no BatchNorm): losses to 1e-5, weights to 1e-5', async () => {
    const one = tempDir('dp1');
    const two = tempDir('dp2');
    const r1 = await train(config(one, { workers: 1 }));
    const r2 = await train(config(two, { workers: 2 }));
    expect(r2.steps).toBe(4);
    const [l1, l2] = [await trainLosses(one), await trainLosses(two)];
    expect(l2).toHaveLength(4);
    l1.forEach((loss, i) => expect(Math.abs(l2[i]! - loss)).toBeLessThanOrEqual(1e-5));
    const [w1, w2] = [weightsOf(one), weightsOf(two)];
    expect(Object.keys(w2).sort()).toEqual(Object.keys(w1).sort());
    let worst = 0;
    for (const [name, values] of Object.entries(w1)) values.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - w2[name]![i]!))));
    expect(worst).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(r2.loss - r1.loss)).toBeLessThanOrEqual(1e-4);
  });

  test('with TransMix (post-forward on the whole batch), EMA and drop path: reproducible for N=3, resumable to the same numbers, leak-free', async () => {
    const recipe = { workers: 3, batchSize: 8, augment: [{ name: 'transmix', options: {} }], ema: 0.5, dropPath: 0.1, clipGrad: 1 } as const;
    const before = tf.memory().numTensors;
    const whole = tempDir('dp-whole');
    const a = await train(config(whole, recipe));
    expect(tf.memory().numTensors).toBe(before);
    // The run evaluated on its 3 workers (16 test images: shards of 6, 5, 5), its EMA weights too: one thread agrees.
    expect(a.workers).toBe(3);
    const check = await evaluateRun({ checkpoint: whole, backend: 'wasm', workers: 1 });
    expect(check.top1).toBe(a.top1);
    expect(check.top5).toBe(a.top5);
    expect(Math.abs(check.loss - a.loss)).toBeLessThanOrEqual(1e-6 * a.loss);
    expect((await evaluateRun({ checkpoint: whole, backend: 'wasm', workers: 1, ema: true })).top1).toBe(a.emaTop1);
    const before2 = tf.memory().numTensors;
    expect(before2).toBe(before);
    const again = tempDir('dp-again');
    await train(config(again, recipe));
    expect(await trainLosses(again)).toEqual(await trainLosses(whole));
    const split = tempDir('dp-split');
    await train(config(split, { ...recipe, steps: 2 }));
    const resumed = await train({ resume: split });
    expect(resumed.steps).toBe(4);
    expect(await trainLosses(split)).toEqual(await trainLosses(whole));
    expect(resumed.top1).toBe(a.top1);
    expect(resumed.emaTop1).toBe(a.emaTop1);
    expect(weightsOf(split)).toEqual(weightsOf(whole));
    expect(tf.memory().numTensors).toBe(before);
  });

  test('--patch-sizes (a patch size drawn per step, sent to every worker) and --teacher (KL to the teacher, computed on the whole batch): 2 workers equal 1', async () => {
    const flexi = { model: await resolveModelRef(FLEXI_SPEC), trainSize: 24, batchSize: 8, seed: 5 } as const;
    const teacherRun = tempDir('dp-teacher');
    await train(config(teacherRun, { ...flexi, workers: 1 }));
    const runs: Record<string, string> = {};
    for (const workers of [1, 2]) {
      runs[`sizes${workers}`] = tempDir(`dp-sizes${workers}`);
      await train(config(runs[`sizes${workers}`]!, { ...flexi, workers, patchSizes: [2, 4, 8] }));
      runs[`teacher${workers}`] = tempDir(`dp-distil${workers}`);
      await train(config(runs[`teacher${workers}`]!, { ...flexi, workers, teacher: teacherRun, patchSizes: [4, 8] }));
    }
    const drawn = (await readMetrics(runs.sizes2!)).filter((m) => m.type === 'train').map((m) => (m as { patchSize?: number }).patchSize);
    expect(new Set(drawn).size).toBeGreaterThan(1);
    await expectSameTraining(runs.sizes1!, runs.sizes2!);
    // A KL: never negative, whichever worker count.
    for (const loss of await trainLosses(runs.teacher2!)) expect(loss).toBeGreaterThanOrEqual(-1e-6);
    await expectSameTraining(runs.teacher1!, runs.teacher2!);
  });
});
