// One data-parallel replica (see data-parallel.ts): its own tfjs and wasm instance,
// a model with the training thread's weights, and an AdamW with its moments.
import { parentPort } from 'node:worker_threads';
import { buildWithWeights, Rng, setBackend, softTargetCrossEntropy, tf, type BackendChoice, type VisionModel } from '@tessera/core';
import { buildModel } from '../model.js';
import { loadPlugins } from '../plugins.js';
import { klToTargets } from '../train/distill.js';
import { AdamW, clipToNorm } from '../train/optimizer.js';
import { toPortable, type FromWorker, type ToWorker, type WorkerApply, type WorkerInit, type WorkerStep } from './protocol.js';

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

async function start(message: WorkerInit): Promise<void> {
  init = message;
  const { config } = message;
  await setBackend(message.backend as BackendChoice, { nativeMatMul: message.nativeMatMul.mode, nativeMatMulThreads: message.nativeMatMul.threads });
  await loadPlugins(config.plugins, { warn: () => undefined });
  const state = Object.fromEntries(Object.entries(message.state).map(([k, v]) => [k, tf.tensor(v.data, v.shape, 'float32')]));
  // The training thread's weights replace every initial value: none is drawn.
  model = buildWithWeights(
    () =>
      buildModel(config.model, {
        numClasses: message.numClasses,
        imgSize: config.imgSize,
        inChannels: message.inChannels,
        dropPathRate: config.dropPath > 0 ? config.dropPath : undefined,
        seed: config.seed,
      }),
    state,
  );
  tf.dispose(Object.values(state));
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

async function handle(message: ToWorker): Promise<void> {
  try {
    if (message.type === 'init') await start(message);
    else if (message.type === 'step') step(message);
    else if (message.type === 'apply') apply(message);
    else if (message.type === 'close') {
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
