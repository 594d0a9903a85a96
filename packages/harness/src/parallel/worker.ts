// One replica (see pool.ts): its own tfjs and wasm instance and a model with the main
// thread's weights; for training (data-parallel.ts) also an AdamW with its moments,
// for evaluation (parallel-eval.ts) only the model.
import { parentPort } from 'node:worker_threads';
import { buildWithWeights, Rng, setBackend, softTargetCrossEntropy, tf, type BackendChoice, type VisionModel } from '@tessera/core';
import { batchHits } from '../evaluate.js';
import { buildModel, type ModelRef } from '../model.js';
import { loadPlugins } from '../plugins.js';
import { klToTargets } from '../train/distill.js';
import { AdamW, clipToNorm } from '../train/optimizer.js';
import { toPortable, type EvalWorkerInit, type FromWorker, type PortableState, type ToWorker, type WorkerApply, type WorkerEval, type WorkerInit, type WorkerStep } from './protocol.js';

if (!parentPort) throw new Error('the data-parallel worker runs only as a worker thread');
const port = parentPort;
const send = (message: FromWorker, transfer: Transferable[] = []) => port.postMessage(message, transfer as never);

let init: WorkerInit;
let model: VisionModel;
let optimizer: AdamW;
let params: ReturnType<VisionModel['namedParameters']>;
let offsets: number[];
let size = 0;
let bufferNames: string[] = [];
/** This replica's own state while it evaluates weights the main thread sent ('weights' … 'restore'). */
let setAside: Record<string, tf.Tensor> | undefined;

const tensorsOf = (state: PortableState) => Object.fromEntries(Object.entries(state).map(([k, v]) => [k, tf.tensor(v.data, v.shape, 'float32')]));

/** The backend, plugins and a model holding `state`; the main thread's weights replace every initial value, so none is drawn. */
async function buildReplica(
  message: Pick<WorkerInit, 'backend' | 'nativeMatMul' | 'numClasses' | 'inChannels' | 'state'>,
  ref: ModelRef,
  plugins: readonly string[],
  options: { imgSize: number; dropPath?: number; seed: number },
): Promise<VisionModel> {
  await setBackend(message.backend as BackendChoice, { nativeMatMul: message.nativeMatMul.mode, nativeMatMulThreads: message.nativeMatMul.threads });
  await loadPlugins(plugins, { warn: () => undefined });
  const state = tensorsOf(message.state);
  try {
    return buildWithWeights(
      () =>
        buildModel(ref, {
          numClasses: message.numClasses,
          imgSize: options.imgSize,
          inChannels: message.inChannels,
          dropPathRate: options.dropPath !== undefined && options.dropPath > 0 ? options.dropPath : undefined,
          seed: options.seed,
        }),
      state,
    );
  } finally {
    tf.dispose(Object.values(state));
  }
}

async function startEval(message: EvalWorkerInit): Promise<void> {
  model = await buildReplica(message, message.model, message.plugins, { imgSize: message.imgSize, seed: 0 });
  send({ type: 'ready' });
}

async function start(message: WorkerInit): Promise<void> {
  init = message;
  const { config } = message;
  model = await buildReplica(message, config.model, config.plugins, { imgSize: config.imgSize, dropPath: config.dropPath, seed: config.seed });
  params = model.namedParameters().filter(([, p]) => p.trainable);
  offsets = [];
  for (const [, p] of params) {
    offsets.push(size);
    size += p.variable.size;
  }
  const parameterNames = new Set(model.namedParameters().map(([n]) => n));
  bufferNames = Object.keys(model.stateDict()).filter((n) => !parameterNames.has(n));
  optimizer = new AdamW(params, { weightDecay: message.weightDecay });
  const moments = Object.fromEntries(Object.entries(message.optimizer.tensors).map(([k, v]) => [k, tf.tensor(v.data, v.shape, 'float32')]));
  optimizer.loadStateTensors(moments, message.optimizer.step);
  tf.dispose(Object.values(moments));
  send({ type: 'ready' });
}

function step(message: WorkerStep): void {
  const n = message.shape[0];
  const numClasses = init.numClasses;
  const images = tf.tensor4d(message.images, message.shape);
  const targets = tf.tensor2d(message.targets, [n, numClasses]);
  const variables = params.map(([, p]) => p.variable);
  const { value, grads } = tf.variableGrads(() => {
    const outputs = model.forward(images, { training: true, rng: Rng.fromState(message.rng), outputs: message.outputs as never, ...(message.overrides ? { overrides: message.overrides } : {}) });
    let finalTargets: tf.Tensor2D = targets;
    if (message.afterForward) {
      // The post-forward step (TransMix) needs the whole batch: hand the outputs to the
      // training thread and block until it has written this shard's rows of the new targets.
      const portable = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, toPortable(v)]));
      const signals = new Int32Array(init.signals);
      Atomics.store(signals, init.index, 0);
      send({ type: 'outputs', outputs: portable });
      Atomics.wait(signals, init.index, 0);
      finalTargets = tf.tensor2d(new Float32Array(init.targets, 0, n * numClasses).slice(), [n, numClasses]);
    }
    const shardLoss = message.loss === 'kl' ? klToTargets(finalTargets, outputs.logits) : softTargetCrossEntropy(outputs.logits, finalTargets);
    return tf.mul(shardLoss, message.weight) as tf.Scalar;
  }, variables);
  const loss = value.dataSync()[0]!;
  const slot = new Float32Array(init.gradients, init.index * size * 4, size);
  const present: number[] = [];
  params.forEach(([, p], i) => {
    const g = grads[p.variable.name];
    if (g) {
      slot.set(g.dataSync() as Float32Array, offsets[i]);
      present.push(i);
    } else {
      slot.fill(0, offsets[i], offsets[i]! + p.variable.size);
    }
  });
  tf.dispose([images, targets, value, ...Object.values(grads)]);
  let buffers: Record<string, Float32Array> | undefined;
  if (init.index === 0 && bufferNames.length > 0) {
    const state = model.stateDict();
    buffers = Object.fromEntries(bufferNames.map((name) => [name, state[name]!.dataSync() as Float32Array]));
  }
  send({ type: 'gradients', loss, present, ...(buffers ? { buffers } : {}) });
}

/** The same update the training thread applies, from the same summed gradient and norm. */
function apply(message: WorkerApply): void {
  const reduced = new Float32Array(init.reduced);
  const grads: Record<string, tf.Tensor> = {};
  for (const i of message.present) {
    const [, p] = params[i]!;
    grads[p.variable.name] = tf.tensor(reduced.subarray(offsets[i]!, offsets[i]! + p.variable.size), p.variable.shape, 'float32');
  }
  const clipped = clipToNorm(grads, message.norm, message.clipGrad);
  optimizer.apply(clipped, message.lr);
  tf.dispose(Object.values(clipped));
}

/** One evaluation shard in eval mode: the quantities the one-thread evaluation computes per batch (evaluate.ts). */
function evaluateShard(message: WorkerEval): void {
  const images = tf.tensor4d(message.images, message.shape);
  try {
    const totals = batchHits(model, images, message.labels, message.k, message.overrides);
    const [hits1, hitsK, lossSum] = totals.map((t) => t.dataSync()[0]!);
    tf.dispose(totals);
    send({ type: 'evaluated', hits1: hits1!, hitsK: hitsK!, lossSum: lossSum! });
  } finally {
    images.dispose();
  }
}

function loadWeights(state: PortableState): void {
  if (!setAside) setAside = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, t.clone()]));
  const tensors = tensorsOf(state);
  try {
    model.loadStateDict(tensors);
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

function restoreWeights(): void {
  if (!setAside) return;
  model.loadStateDict(setAside);
  tf.dispose(Object.values(setAside));
  setAside = undefined;
}

async function handle(message: ToWorker): Promise<void> {
  try {
    if (message.type === 'init') await start(message);
    else if (message.type === 'init-eval') await startEval(message);
    else if (message.type === 'step') step(message);
    else if (message.type === 'apply') apply(message);
    else if (message.type === 'eval') evaluateShard(message);
    else if (message.type === 'weights') loadWeights(message.state);
    else if (message.type === 'restore') restoreWeights();
    else if (message.type === 'close') {
      if (setAside) tf.dispose(Object.values(setAside));
      model?.dispose();
      optimizer?.dispose();
      port.close();
    }
  } catch (error) {
    send({ type: 'error', message: error instanceof Error ? error.message : String(error), ...(error instanceof Error && error.stack ? { stack: error.stack } : {}) });
  }
}

// One message at a time, in order: an update must finish before the next step's forward pass.
let queue = Promise.resolve();
port.on('message', (message: ToWorker) => {
  queue = queue.then(() => handle(message));
});
