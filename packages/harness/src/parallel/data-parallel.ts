import { getBackend, nativeMatMulStatus, tf, TesseraError, type ModelOutputs, type Rng, type StageOverrides, type VisionModel } from '@tessera/core';
import type { TrainConfig } from '../config.js';
import { matmulThreadsPerWorker } from '../environment.js';
import type { AdamW } from '../train/optimizer.js';
import type { EvalReplicas } from './parallel-eval.js';
import { ReplicaPool, portableState } from './pool.js';
import { concatPortables, fromPortable, type ToWorker, type WorkerStep } from './protocol.js';

/*
 * Data-parallel training on worker threads, PyTorch DDP's scheme in one process:
 * each worker holds a replica of the model on its own wasm instance (tfjs-wasm runs
 * one thread per instance in Node), computes the gradient of its share of the batch,
 * and writes it into a SharedArrayBuffer. This thread sums the shares in worker
 * order (so a run is deterministic for a given number of workers) and every replica,
 * this thread's model included, applies the same AdamW update to the same summed
 * gradient; the replicas therefore never drift and never exchange weights. This
 * thread keeps the model the rest of the harness sees (evaluation, EMA, checkpoints).
 *
 * Each shard's mean loss is weighted by its share n_w/B, so the sum of the shards'
 * gradients is the gradient of the batch mean, the quantity one thread computes.
 * Augmentations run here on the whole batch before it is split (Mixup/CutMix pair
 * images across the batch); a post-forward step (TransMix) gets every worker's
 * outputs, concatenated, and hands each worker its rows of the new targets.
 *
 * BatchNorm, as in DDP: batch statistics are each worker's shard's; the running
 * statistics kept are worker 0's (DDP broadcasts rank 0's buffers).
 */

/** Split of `batch` rows into `workers` contiguous shards whose sizes differ by at most one. */
export function shardSizes(batch: number, workers: number): number[] {
  const base = Math.floor(batch / workers);
  return Array.from({ length: workers }, (_, w) => base + (w < batch % workers ? 1 : 0));
}

/**
 * reduced = Σ_w slots[w] in worker order, rounding to float32 after each addition as
 * a Float32Array sum does; returns Σ reduced² (float64) for the global gradient norm,
 * which the training thread would otherwise compute with two tfjs kernels per tensor.
 */
export function sumInto(reduced: Float32Array, slots: Float32Array, count: number, size: number): number {
  let squares = 0;
  if (count === 2) {
    for (let i = 0, j = size; i < size; i++, j++) {
      const s = Math.fround(slots[i]! + slots[j]!);
      reduced[i] = s;
      squares += s * s;
    }
    return squares;
  }
  reduced.set(slots.subarray(0, size));
  for (let w = 1; w < count; w++) {
    const slot = slots.subarray(w * size, (w + 1) * size);
    for (let i = 0; i < size; i++) reduced[i]! += slot[i]!;
  }
  for (let i = 0; i < size; i++) squares += reduced[i]! * reduced[i]!;
  return squares;
}

export interface StepInput {
  /** The mixed images and targets of the whole batch. */
  readonly images: tf.Tensor4D;
  readonly targets: tf.Tensor2D;
  /** Rebuilds the whole batch's targets from the model's outputs (TransMix, a teacher), when the augmentation has such a step. */
  readonly afterForward?: (outputs: ModelOutputs) => tf.Tensor2D;
  readonly outputs: readonly string[];
  /** Dropout / drop-path stream; one fork per worker per step. */
  readonly rng: Rng;
  readonly loss: 'cross-entropy' | 'kl';
  /** Per-stage overrides of this step (FlexiViT's patch size), the same on every worker. */
  readonly overrides?: StageOverrides;
}

export class DataParallel {
  /** The workers; evaluation during training runs on them too (parallel-eval.ts). */
  pool!: ReplicaPool;
  private readonly size: number;
  private readonly offsets: number[] = [];
  private readonly gradients: Float32Array;
  private readonly reduced: Float32Array;
  private readonly targets: Float32Array[];
  private readonly signals: Int32Array;
  private readonly params: ReturnType<VisionModel['namedParameters']>;

  private constructor(
    readonly count: number,
    private readonly model: VisionModel,
    private readonly batchSize: number,
    private readonly numClasses: number,
  ) {
    this.params = model.namedParameters().filter(([, p]) => p.trainable);
    let size = 0;
    for (const [, p] of this.params) {
      this.offsets.push(size);
      size += p.variable.size;
    }
    this.size = size;
    this.gradients = new Float32Array(new SharedArrayBuffer(count * size * 4));
    this.reduced = new Float32Array(new SharedArrayBuffer(size * 4));
    const maxShard = Math.ceil(batchSize / count);
    this.targets = Array.from({ length: count }, () => new Float32Array(new SharedArrayBuffer(maxShard * numClasses * 4)));
    this.signals = new Int32Array(new SharedArrayBuffer(count * 4));
  }

  /**
   * Starts `count` workers with copies of `model`'s weights and `optimizer`'s state
   * (which may come from a checkpoint). Resolves when every replica is ready.
   */
  static async start(options: { count: number; config: TrainConfig; model: VisionModel; optimizer: AdamW; inChannels: number }): Promise<DataParallel> {
    const { count, config, model, optimizer } = options;
    const dp = new DataParallel(count, model, config.batchSize, model.config.numClasses);
    const state = portableState(model.stateDict());
    const moments = portableState(optimizer.stateTensors());
    dp.pool = await ReplicaPool.start(count, (index): ToWorker => ({
      type: 'init',
      index,
      config,
      backend: getBackend(),
      // 'on' where this thread runs it: a worker that cannot fails loudly instead of silently using tfjs's kernels.
      nativeMatMul: { mode: nativeMatMulStatus().active ? 'on' : 'off', threads: matmulThreadsPerWorker(count) },
      numClasses: model.config.numClasses,
      inChannels: options.inChannels,
      state,
      optimizer: { tensors: moments, step: optimizer.step },
      weightDecay: optimizer.weightDecay,
      gradients: dp.gradients.buffer as SharedArrayBuffer,
      reduced: dp.reduced.buffer as SharedArrayBuffer,
      targets: dp.targets[index]!.buffer as SharedArrayBuffer,
      signals: dp.signals.buffer as SharedArrayBuffer,
    }));
    return dp;
  }

  /**
   * Forward and backward pass of one batch across the workers. Resolves to the batch
   * mean loss and the summed gradient (keyed by this thread's variable names; the
   * caller disposes them), with `present` to hand to `apply`.
   */
  async computeGradients(input: StepInput): Promise<{ loss: number; grads: Record<string, tf.Tensor>; present: number[]; norm: number }> {
    const batch = input.images.shape[0];
    if (batch !== this.batchSize) throw new TesseraError(`data-parallel batch of ${batch} images, expected ${this.batchSize}`);
    const sizes = shardSizes(batch, this.count);
    const [, h, w, c] = input.images.shape;
    const images = input.images.dataSync() as Float32Array;
    const targets = input.targets.dataSync() as Float32Array;
    const pixels = h * w * c;
    let row = 0;
    sizes.forEach((n, index) => {
      const message: WorkerStep = {
        type: 'step',
        images: images.slice(row * pixels, (row + n) * pixels),
        shape: [n, h, w, c],
        targets: targets.slice(row * this.numClasses, (row + n) * this.numClasses),
        weight: n / batch,
        rng: input.rng.fork().getState(),
        outputs: input.outputs,
        afterForward: input.afterForward !== undefined,
        loss: input.loss,
        ...(input.overrides ? { overrides: input.overrides } : {}),
      };
      this.pool.post(index, message, [message.images.buffer as ArrayBuffer, message.targets.buffer as ArrayBuffer]);
      row += n;
    });
    if (input.afterForward) await this.rebuildTargets(sizes, input.afterForward);
    const replies = await Promise.all(sizes.map((_, index) => this.pool.expect(index, 'gradients')));
    // Fixed order: the sum, and so every replica's update, is the same on every run with this many workers.
    const norm = Math.sqrt(sumInto(this.reduced, this.gradients, this.count, this.size));
    let loss = 0;
    for (const reply of replies) loss += reply.loss;
    const present = [...new Set(replies.flatMap((r) => r.present))].sort((a, b) => a - b);
    const grads: Record<string, tf.Tensor> = {};
    for (const i of present) {
      const [, p] = this.params[i]!;
      grads[p.variable.name] = tf.tensor(this.reduced.subarray(this.offsets[i]!, this.offsets[i]! + p.variable.size), p.variable.shape, 'float32');
    }
    const buffers = replies[0]!.buffers;
    if (buffers) {
      const state = this.model.stateDict();
      for (const [name, data] of Object.entries(buffers)) {
        const t = tf.tensor(data, state[name]!.shape, 'float32');
        (state[name] as tf.Variable).assign(t);
        t.dispose();
      }
    }
    return { loss, grads, present, norm };
  }

  /** Gathers every worker's outputs, runs the post-forward step on the whole batch and returns each worker its rows. */
  private async rebuildTargets(sizes: number[], afterForward: (outputs: ModelOutputs) => tf.Tensor2D): Promise<void> {
    const shards = await Promise.all(sizes.map((_, index) => this.pool.expect(index, 'outputs')));
    const names = Object.keys(shards[0]!.outputs);
    const owned: tf.Tensor[] = [];
    try {
      const outputs = Object.fromEntries(names.map((name) => [name, fromPortable(concatPortables(shards.map((s) => s.outputs[name]!)), owned)])) as unknown as ModelOutputs;
      const targets = afterForward(outputs);
      owned.push(targets);
      const data = targets.dataSync();
      let row = 0;
      sizes.forEach((n, index) => {
        this.targets[index]!.set(data.subarray(row * this.numClasses, (row + n) * this.numClasses));
        row += n;
        Atomics.store(this.signals, index, 1);
        Atomics.notify(this.signals, index);
      });
    } finally {
      tf.dispose(owned);
    }
  }

  /**
   * Every worker applies the update this thread applies: same summed gradient, norm,
   * clipping and learning rate. Call it before this thread's own update, so the replicas update concurrently.
   */
  apply(lr: number, clipGrad: number | undefined, present: number[], norm: number): void {
    for (let index = 0; index < this.count; index++) this.pool.post(index, { type: 'apply', lr, clipGrad, present, norm });
  }

  /** These replicas as evaluation replicas: the weights the model holds at each evaluation (its own or EMA's) are sent first. */
  get evalReplicas(): EvalReplicas {
    return { pool: this.pool, count: this.count, sendsWeights: true };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
