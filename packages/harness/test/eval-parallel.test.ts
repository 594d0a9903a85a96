import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, setBackend, tf } from '@tessera/core';
import { beforeAll, describe, expect, test } from 'vitest';
import { openDataset } from '../src/data/index.js';
import { evaluate } from '../src/evaluate.js';
import { evaluateRun } from '../src/evaluate-run.js';
import { evaluatePatchSizes, resolvePatchSizes } from '../src/flexible.js';
import { buildModel, resolveModelRef } from '../src/model.js';
import { startEvalReplicas, withEvalReplicas } from '../src/parallel/parallel-eval.js';
import { runningReplicaWorkers } from '../src/parallel/pool.js';
import { loadPlugins } from '../src/plugins.js';
import { runRobustness } from '../src/robustness/run.js';
import { cli } from './cli-inprocess.js';
import { tempDir, TINY_SPEC } from './helpers.js';

/*
 * Data-parallel evaluation (--workers on eval and robustness, and a data-parallel
 * training's evaluations): each batch is split across replicas whose hit counts and
 * loss sums are added up here. Hit counts must equal the one-thread evaluation's
 * exactly; the mean loss differs only by float32 summation order within a batch
 * (tolerance 1e-6 relative, on losses near ln 10).
 */
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const CONV_BN_SPEC = fixture('tiny-convbn.json');
const FLEXI_SPEC = fixture('tiny-flexivit.json');

const expectSameMetrics = (parallel: { top1: number; top5: number; loss: number; images: number }, one: { top1: number; top5: number; loss: number; images: number }) => {
  expect(parallel.images).toBe(one.images);
  expect(parallel.top1 * parallel.images).toBe(one.top1 * one.images);
  expect(parallel.top5 * parallel.images).toBe(one.top5 * one.images);
  expect(Math.abs(parallel.loss - one.loss)).toBeLessThanOrEqual(1e-6 * Math.abs(one.loss));
};

describe('data-parallel evaluation', () => {
  beforeAll(async () => {
    await setBackend('wasm');
    await loadPlugins();
  });

  test('2 replicas of a BatchNorm model in eval mode: hit counts equal one thread exactly, loss to 1e-6; no tensor left behind, workers ended', async () => {
    const ref = await resolveModelRef(CONV_BN_SPEC);
    const dataset = await openDataset('synthetic', { split: 'test', imgSize: 16, seed: 3, size: 22 });
    const model = buildModel(ref, { numClasses: dataset.numClasses, imgSize: 16, seed: 1 });
    // Running statistics far from their initial 0 and 1: a replica that ignored them would disagree.
    const rng = new Rng(7);
    for (const [name, t] of Object.entries(model.stateDict())) {
      if (!/running_(mean|var)$/.test(name)) continue;
      const values = Float32Array.from({ length: t.size }, () => (name.endsWith('var') ? 0.2 + rng.uniform() : rng.uniform() - 0.5));
      (t as tf.Variable).assign(tf.tensor(values, t.shape));
    }
    const replicas = await startEvalReplicas(2, model, { ref, plugins: [], imgSize: 16, inChannels: 3 });
    try {
      // Batches of 8 leave a last batch of 6; batches of 5, a last one of 2.
      for (const batchSize of [8, 5]) {
        const one = await evaluate(model, dataset, batchSize);
        expect(one.top1).toBeGreaterThan(0);
        const before = tf.memory().numTensors;
        const first = await evaluate(model, dataset, batchSize, undefined, replicas);
        const again = await evaluate(model, dataset, batchSize, undefined, replicas);
        expect(tf.memory().numTensors).toBe(before);
        expectSameMetrics(first, one);
        expect(again).toMatchObject({ top1: first.top1, top5: first.top5, loss: first.loss });
      }
    } finally {
      await replicas.close();
      model.dispose();
    }
    expect(runningReplicaWorkers()).toBe(0);
  });

  test("FlexiViT's per-patch-size evaluation on 2 replicas equals one thread at every patch size", async () => {
    const ref = await resolveModelRef(FLEXI_SPEC);
    const dataset = await openDataset('synthetic', { split: 'test', imgSize: 16, seed: 4, size: 12 });
    const model = buildModel(ref, { numClasses: dataset.numClasses, imgSize: 16, seed: 2 });
    try {
      const { sizes, stages } = resolvePatchSizes(model, [2, 4, 8], 16);
      const one = await evaluatePatchSizes(model, dataset, 8, sizes, stages);
      const two = await withEvalReplicas(2, model, { ref, plugins: [], imgSize: 16, inChannels: 3 }, (replicas) => evaluatePatchSizes(model, dataset, 8, sizes, stages, replicas));
      expect(two.map((m) => m.patchSize)).toEqual([2, 4, 8]);
      two.forEach((m, i) => expectSameMetrics({ ...m, images: 12 }, { ...one[i]!, images: 12 }));
      // The patch size reached the replicas: the three sizes do not all give the same loss.
      expect(new Set(two.map((m) => m.loss)).size).toBeGreaterThan(1);
    } finally {
      model.dispose();
    }
    expect(runningReplicaWorkers()).toBe(0);
  });

  test('an error inside a worker surfaces as an error naming the worker and the cause, and every worker is ended', async () => {
    const spec = JSON.parse(JSON.stringify(await resolveModelRef(TINY_SPEC))).spec;
    spec.stages.push({ block: 'fails_in_worker' });
    const file = join(tempDir('worker-fails'), 'spec.json');
    writeFileSync(file, JSON.stringify(spec));
    const plugins = [fixture('worker-failing-plugin.mjs')];
    const options = { model: file, plugins, data: 'synthetic', imgSize: 16, testSize: 8, batchSize: 4, backend: 'wasm' as const };
    // The same model evaluates on this thread, so only the replicas fail.
    expect((await evaluateRun({ ...options, workers: 1 })).images).toBe(8);
    const before = tf.memory().numTensors;
    await expect(evaluateRun({ ...options, workers: 2 })).rejects.toThrow(/data-parallel worker [01]: fails_in_worker: this block refuses to run in a worker thread/);
    expect(runningReplicaWorkers()).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  test("a replica's heap running out (emscripten's Aborted() in a worker) is explained by the CLI, not printed raw", async () => {
    const spec = JSON.parse(JSON.stringify(await resolveModelRef(TINY_SPEC))).spec;
    spec.stages.push({ block: 'fails_in_worker', options: { message: 'Aborted()' } });
    const file = join(tempDir('worker-aborts'), 'spec.json');
    writeFileSync(file, JSON.stringify(spec));
    const run = await cli(['eval', '--model', file, '--plugin', fixture('worker-failing-plugin.mjs'), '--data', 'synthetic', '--img-size', '16', '--test-size', '8', '--batch-size', '4', '--backend', 'wasm', '--workers', '2']);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/ran out of its 4 GiB heap while the model ran \(ReplicaWorkerError: data-parallel worker [01]: Aborted\(\)\)/);
    expect(run.err).toMatch(/--batch-size.*--img-size/);
    expect(runningReplicaWorkers()).toBe(0);
  });

  test('--workers is checked before anything is loaded', async () => {
    await expect(evaluateRun({ model: TINY_SPEC, workers: 0 })).rejects.toThrow(/--workers.*0.*an integer from 1 to 1024/);
    await expect(runRobustness({ model: TINY_SPEC, workers: 1.5 })).rejects.toThrow(/--workers.*1\.5.*an integer from 1 to 1024/);
  });
});
