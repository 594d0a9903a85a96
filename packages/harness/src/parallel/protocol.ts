import { tf, type RngState, type StageOverrides } from '@tessera/core';
import type { TrainConfig } from '../config.js';
import type { ModelRef } from '../model.js';

/*
 * Messages between the main thread and its replica workers (pool.ts, worker.ts):
 * training replicas (data-parallel.ts) and evaluation replicas (parallel-eval.ts)
 * run the same worker. Tensors cross threads as plain Float32Arrays; gradients and
 * the mixed targets go through SharedArrayBuffers instead of messages, so they are
 * not copied per worker.
 */

/** A tensor, or a plain object or array of tensors and JSON values (ClsAttention is `{ probs, grid }`), as it crosses threads. */
export type Portable = { tensor: Float32Array; shape: number[] } | { object: Record<string, Portable> } | { array: Portable[] } | { json: unknown };

export function toPortable(value: unknown): Portable {
  if (value instanceof tf.Tensor) return { tensor: value.dataSync() as Float32Array, shape: value.shape };
  if (Array.isArray(value)) return { array: value.map(toPortable) };
  if (value !== null && typeof value === 'object') return { object: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPortable(v)])) };
  return { json: value };
}

/** Rebuilds a value; its tensors are new and owned by the caller. */
export function fromPortable(p: Portable, tensors: tf.Tensor[] = []): unknown {
  if ('tensor' in p) {
    const t = tf.tensor(p.tensor, p.shape, 'float32');
    tensors.push(t);
    return t;
  }
  if ('array' in p) return p.array.map((x) => fromPortable(x, tensors));
  if ('object' in p) return Object.fromEntries(Object.entries(p.object).map(([k, v]) => [k, fromPortable(v, tensors)]));
  return p.json;
}

/** Concatenates the workers' shards of one output along the batch axis (tensors) and keeps the first shard's other values. */
export function concatPortables(shards: Portable[]): Portable {
  const first = shards[0]!;
  if ('tensor' in first) {
    const parts = shards as Array<{ tensor: Float32Array; shape: number[] }>;
    const total = parts.reduce((n, s) => n + s.tensor.length, 0);
    const data = new Float32Array(total);
    let offset = 0;
    for (const s of parts) {
      data.set(s.tensor, offset);
      offset += s.tensor.length;
    }
    return { tensor: data, shape: [parts.reduce((n, s) => n + s.shape[0]!, 0), ...first.shape.slice(1)] };
  }
  if ('array' in first) return { array: first.array.map((_, i) => concatPortables(shards.map((s) => (s as { array: Portable[] }).array[i]!))) };
  if ('object' in first) {
    return { object: Object.fromEntries(Object.keys(first.object).map((k) => [k, concatPortables(shards.map((s) => (s as { object: Record<string, Portable> }).object[k]!))])) };
  }
  return first;
}

export interface WorkerInit {
  readonly type: 'init';
  readonly index: number;
  readonly config: TrainConfig;
  readonly backend: string;
  /** Whether the training thread runs the native matmul (on/off), and this worker's share of the cores for it. */
  readonly nativeMatMul: { readonly mode: 'auto' | 'on' | 'off'; readonly threads: number };
  readonly numClasses: number;
  readonly inChannels: number;
  /** Every parameter and buffer of the training thread's model, by state-dict name. */
  readonly state: PortableState;
  /** AdamW moments (`exp_avg.<name>`, `exp_avg_sq.<name>`) and its step count. */
  readonly optimizer: { tensors: Record<string, { data: Float32Array; shape: number[] }>; step: number };
  readonly weightDecay: number;
  /** Flattened gradients: one slot of `size` floats per worker, trainable parameters in namedParameters order. */
  readonly gradients: SharedArrayBuffer;
  /** The summed gradient every replica applies. */
  readonly reduced: SharedArrayBuffer;
  /** This worker's rows of the post-forward targets, [maxShard, numClasses]. */
  readonly targets: SharedArrayBuffer;
  /** Int32 flags, one per worker: the training thread sets 1 when this worker's targets are written. */
  readonly signals: SharedArrayBuffer;
}

/** Every parameter and buffer of a model, by state-dict name, as it crosses threads. */
export type PortableState = Record<string, { data: Float32Array; shape: number[] }>;

/** An evaluation-only replica: the model rebuilt from `state` (no initial value drawn), no optimizer. */
export interface EvalWorkerInit {
  readonly type: 'init-eval';
  readonly index: number;
  readonly backend: string;
  readonly nativeMatMul: { readonly mode: 'auto' | 'on' | 'off'; readonly threads: number };
  readonly model: ModelRef;
  readonly plugins: readonly string[];
  readonly imgSize: number;
  readonly numClasses: number;
  readonly inChannels: number;
  readonly state: PortableState;
}

/**
 * Evaluate these weights (the main thread's model now: its own, or EMA weights swapped
 * in) until `restore`. Training replicas hold the training weights, but not the main
 * thread's BatchNorm statistics nor its EMA; the replica keeps its own state aside.
 */
export interface WorkerWeights {
  readonly type: 'weights';
  readonly state: PortableState;
}

/** One shard of an evaluation batch, in eval mode. */
export interface WorkerEval {
  readonly type: 'eval';
  readonly images: Float32Array;
  readonly shape: [number, number, number, number];
  readonly labels: Int32Array;
  /** k of top-k: min(5, classes). */
  readonly k: number;
  readonly overrides?: StageOverrides;
}

export interface WorkerStep {
  readonly type: 'step';
  readonly images: Float32Array;
  readonly shape: [number, number, number, number];
  readonly targets: Float32Array;
  /** This shard's share of the batch, n_w / B: the shard's mean loss times it sums to the batch mean. */
  readonly weight: number;
  readonly rng: RngState;
  readonly outputs: readonly string[];
  /** Whether the targets come back from the training thread after the forward pass (TransMix, a teacher). */
  readonly afterForward: boolean;
  /** The loss the training thread uses: KL to the targets when distilling (same gradient, a distance as value). */
  readonly loss: 'cross-entropy' | 'kl';
  /** This step's per-stage overrides (--patch-sizes draws one patch size per step). */
  readonly overrides?: StageOverrides;
}

export interface WorkerApply {
  readonly type: 'apply';
  readonly lr: number;
  readonly clipGrad: number | undefined;
  /** Global L2 norm of the summed gradient, computed once by the training thread: every replica clips by the same value. */
  readonly norm: number;
  /** Indices (trainable-parameter order) that received a gradient in some worker. */
  readonly present: readonly number[];
}

export type ToWorker = WorkerInit | EvalWorkerInit | WorkerStep | WorkerApply | WorkerWeights | WorkerEval | { readonly type: 'restore' } | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'outputs'; readonly outputs: Record<string, Portable> }
  | {
      readonly type: 'gradients';
      readonly loss: number;
      readonly present: readonly number[];
      /** Worker 0 only: its buffers (BatchNorm running statistics) after the step, as PyTorch DDP keeps rank 0's. */
      readonly buffers?: Record<string, Float32Array>;
    }
  /** A shard's top-1 and top-k hit counts and its summed cross-entropy (float32, as the one-thread evaluation sums a batch). */
  | { readonly type: 'evaluated'; readonly hits1: number; readonly hitsK: number; readonly lossSum: number }
  | { readonly type: 'error'; readonly message: string; readonly stack?: string };
