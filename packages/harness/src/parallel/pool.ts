import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { tf, TesseraError } from '@tessera/core';
import type { FromWorker, PortableState, ToWorker } from './protocol.js';

/*
 * The worker threads behind data-parallel training (data-parallel.ts) and evaluation
 * (parallel-eval.ts): each runs worker.ts with its own tfjs and wasm instance. The
 * pool delivers each worker's messages in order, turns a worker's error or exit into
 * one failure that every waiter sees (never a hang), and ends its workers.
 */

/** The worker entry: next to this module once built (dist/), or the built one when run from src/ (tests). */
function workerUrl(): URL {
  const here = new URL('./data-parallel-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL('../../dist/data-parallel-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new TesseraError('the data-parallel worker (dist/data-parallel-worker.js) is missing: build @tessera/harness first');
}

/**
 * A failure inside a replica worker, relayed to the thread that drives the pool. Unlike
 * Tessera's other errors its message is the worker's own (a plugin bug, or the wasm heap
 * running out), so the CLI still explains it where it can (resources.ts).
 */
export class ReplicaWorkerError extends TesseraError {}

let running = 0;

/** Replica worker threads alive in this process (all pools): 0 once every pool has closed or failed. */
export function runningReplicaWorkers(): number {
  return running;
}

export const portableState = (state: Record<string, tf.Tensor>): PortableState =>
  Object.fromEntries(Object.entries(state).map(([k, t]) => [k, { data: t.dataSync() as Float32Array, shape: t.shape }]));

export class ReplicaPool {
  private readonly workers: Worker[] = [];
  private readonly exits: Promise<void>[] = [];
  private readonly inbox: FromWorker[][];
  private waiters: Array<() => void> = [];
  private failure: Error | undefined;
  private closed = false;

  private constructor(readonly count: number) {
    this.inbox = Array.from({ length: count }, () => []);
  }

  /** Starts `count` workers, sends each `init(index)`, and resolves once every one is ready; on a failure, ends them all and rejects. */
  static async start(count: number, init: (index: number) => ToWorker): Promise<ReplicaPool> {
    const pool = new ReplicaPool(count);
    const url = workerUrl();
    try {
      for (let index = 0; index < count; index++) {
        const worker = new Worker(url);
        running += 1;
        pool.workers.push(worker);
        worker.on('message', (m: FromWorker) => pool.receive(index, m));
        worker.on('error', (e) => pool.fail(new ReplicaWorkerError(`data-parallel worker ${index} failed: ${e.message}`)));
        pool.exits.push(
          new Promise<void>((resolve) =>
            worker.once('exit', (code) => {
              running -= 1;
              if (code !== 0 && !pool.closed) pool.fail(new ReplicaWorkerError(`data-parallel worker ${index} exited with code ${code}`));
              resolve();
            }),
          ),
        );
        worker.postMessage(init(index));
      }
      await Promise.all(pool.workers.map((_, w) => pool.expect(w, 'ready')));
    } catch (error) {
      await pool.terminate();
      throw error;
    }
    return pool;
  }

  post(index: number, message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.workers[index]!.postMessage(message, transfer);
  }

  private receive(index: number, message: FromWorker): void {
    if (message.type === 'error') {
      this.fail(new ReplicaWorkerError(`data-parallel worker ${index}: ${message.message}`));
      return;
    }
    this.inbox[index]!.push(message);
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.wake();
  }

  /** The next message of worker `index`, which must be of type `type`; rejects with the pool's first failure. */
  async expect<T extends FromWorker['type']>(index: number, type: T): Promise<Extract<FromWorker, { type: T }>> {
    for (;;) {
      if (this.failure) throw this.failure;
      const next = this.inbox[index]!.shift();
      if (next) {
        if (next.type !== type) throw new TesseraError(`data-parallel worker ${index} sent '${next.type}' where '${type}' was expected`);
        return next as Extract<FromWorker, { type: T }>;
      }
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
  }

  /** Asks every worker to free its replica and exit; one that has not within 5 s is terminated. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.workers.map(async (worker, index) => {
        worker.postMessage({ type: 'close' } satisfies ToWorker);
        const timer = setTimeout(() => void worker.terminate(), 5000);
        await this.exits[index];
        clearTimeout(timer);
      }),
    );
  }

  /** Ends every worker now, whatever it is doing (after a failure: a worker may be mid-batch). */
  async terminate(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((worker, index) => Promise.all([worker.terminate(), this.exits[index]])));
  }
}
