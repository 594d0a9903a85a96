import { getBackend, nativeMatMulStatus, type StageOverrides, type VisionModel } from '@tessera/core';
import type { BatchLoader } from '../data/index.js';
import { matmulThreadsPerWorker } from '../environment.js';
import type { ModelRef } from '../model.js';
import { shardSizes } from './data-parallel.js';
import { portableState, ReplicaPool } from './pool.js';
import type { ToWorker, WorkerEval } from './protocol.js';

/*
 * Data-parallel evaluation: each batch's images are split into contiguous shards, one
 * per replica; each replica returns its shard's top-1 and top-k hit counts and summed
 * cross-entropy, and this thread adds them up. Hit counts are integers, so they equal
 * the one-thread evaluation's exactly whenever each image's logits rank the classes
 * the same way (a replica runs the same kernels on fewer rows); the loss differs only
 * by the order of float32 additions within a batch.
 */

/** Replicas that evaluate shards: their pool and whether each evaluation must send them the weights first. */
export interface EvalReplicas {
  readonly pool: ReplicaPool;
  readonly count: number;
  /**
   * Training replicas hold the training weights but neither this thread's BatchNorm
   * statistics nor its EMA: each evaluation sends the weights the model holds now.
   * Evaluation replicas were built from the evaluated weights and need nothing.
   */
  readonly sendsWeights: boolean;
}

/** What an evaluation replica is rebuilt from (with the evaluated model's weights). */
export interface ReplicaBuild {
  readonly ref: ModelRef;
  readonly plugins: readonly string[];
  readonly imgSize: number;
  readonly inChannels: number;
}

/** Whether worker threads apply: replicas live on their own wasm (or cpu) instances; a GPU backend already uses the whole device. */
export const workersApply = (): boolean => ['wasm', 'cpu'].includes(getBackend());

/** Worker threads an evaluation of `batchSize`-image batches uses when `requested` are asked for: 1 off wasm/cpu, never more than a batch's images. */
export function evalWorkerCount(requested: number, batchSize: number): number {
  return workersApply() ? Math.max(1, Math.min(requested, batchSize)) : 1;
}

/** Starts `count` evaluation replicas of `model` (built with its weights, no random draw). */
export async function startEvalReplicas(count: number, model: VisionModel, build: ReplicaBuild): Promise<EvalReplicas & { close(): Promise<void>; terminate(): Promise<void> }> {
  const state = portableState(model.stateDict());
  const pool = await ReplicaPool.start(
    count,
    (index): ToWorker => ({
      type: 'init-eval',
      index,
      backend: getBackend(),
      // As in training: the cores are shared among the replicas' native matmuls.
      nativeMatMul: { mode: nativeMatMulStatus().active ? 'on' : 'off', threads: matmulThreadsPerWorker(count) },
      model: build.ref,
      plugins: build.plugins,
      imgSize: build.imgSize,
      numClasses: model.config.numClasses,
      inChannels: build.inChannels,
      state,
    }),
  );
  return { pool, count, sendsWeights: false, close: () => pool.close(), terminate: () => pool.terminate() };
}

/**
 * Runs `evaluate` with `count` evaluation replicas of `model` (none when `count` is 1:
 * the one-thread path), and ends them when it settles: closed when it succeeds,
 * terminated at once when it fails.
 */
export async function withEvalReplicas<T>(count: number, model: VisionModel, build: ReplicaBuild, evaluate: (replicas: EvalReplicas | undefined) => Promise<T>): Promise<T> {
  if (count <= 1) return evaluate(undefined);
  const replicas = await startEvalReplicas(count, model, build);
  let result: T;
  try {
    result = await evaluate(replicas);
  } catch (error) {
    await replicas.terminate();
    throw error;
  }
  await replicas.close();
  return result;
}

export interface ShardTotals {
  hits1: number;
  hitsK: number;
  lossSum: number;
  seen: number;
}

/** Evaluates every batch of `loader` across the replicas; this thread loads the next batch while they compute. */
export async function evaluateOnReplicas(replicas: EvalReplicas, model: VisionModel, loader: BatchLoader, k: number, overrides: StageOverrides | undefined): Promise<ShardTotals> {
  const { pool, count } = replicas;
  const totals: ShardTotals = { hits1: 0, hitsK: 0, lossSum: 0, seen: 0 };
  if (replicas.sendsWeights) {
    const state = portableState(model.stateDict());
    for (let index = 0; index < count; index++) pool.post(index, { type: 'weights', state });
  }
  let batch = loader.next();
  try {
    while (batch) {
      const { images, labels } = batch;
      const [n, h, w, c] = images.shape;
      const pixels = images.dataSync() as Float32Array;
      images.dispose();
      const sizes = shardSizes(n, count);
      const busy: number[] = [];
      let row = 0;
      sizes.forEach((rows, index) => {
        if (rows === 0) return;
        const message: WorkerEval = {
          type: 'eval',
          images: pixels.slice(row * h * w * c, (row + rows) * h * w * c),
          shape: [rows, h, w, c],
          labels: labels.slice(row, row + rows),
          k,
          ...(overrides ? { overrides } : {}),
        };
        pool.post(index, message, [message.images.buffer as ArrayBuffer, message.labels.buffer as ArrayBuffer]);
        busy.push(index);
        row += rows;
      });
      // Loading (decoding, corrupting, normalising) the next batch overlaps the replicas' forward passes.
      batch = loader.next();
      const replies = await Promise.all(busy.map((index) => pool.expect(index, 'evaluated')));
      for (const r of replies) {
        totals.hits1 += r.hits1;
        totals.hitsK += r.hitsK;
        totals.lossSum += r.lossSum;
      }
      totals.seen += n;
    }
  } finally {
    batch?.images.dispose();
    if (replicas.sendsWeights) for (let index = 0; index < count; index++) pool.post(index, { type: 'restore' });
  }
  return totals;
}
