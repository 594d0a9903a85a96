// One AdamW update over every trainable parameter of a model, two ways: the tfjs-op
// composite the harness used before (about ten kernels per tensor) and AdamW.apply as
// it is now (core's adamwUpdate: one SIMD pass per tensor on wasm). Median ms of
// `--reps` updates after one warm-up, plus the kernels each launches (tf.profile).
// Usage: node bench/adamw-step.mjs [--models deit,uniformer] [--reps 5]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createModel, createModelFromSpec, setBackend, tf } from '@tessera/core';
import { AdamW, loadPlugins } from '../dist/index.js';

const { values: args } = parseArgs({ options: { models: { type: 'string', default: 'deit,uniformer' }, reps: { type: 'string', default: '5' }, backend: { type: 'string', default: 'wasm' } } });
await setBackend(args.backend);
await loadPlugins();
const reps = Number(args.reps);
const deitSpec = {
  name: 'deit_tiny_sized_32', imgSize: 32, numClasses: 10,
  stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 192 } },
  stages: [{ block: 'class_token' }, { block: 'transformer', depth: 12, options: { numHeads: 3, mlpRatio: 4 } }],
  head: { block: 'classifier', options: { numClasses: 10 } },
};
const models = { deit: () => createModelFromSpec(deitSpec), uniformer: () => createModel('uniformer_small', { imgSize: 32, numClasses: 10 }) };

/** The update as optimizer.ts wrote it before core's adamwUpdate (same float32 operations). */
function compositeApply(params, state, grads, lr, step) {
  const [b1, b2, eps, wd] = [0.9, 0.999, 1e-8, 0.05];
  const bias1 = 1 - b1 ** step;
  const bias2 = 1 - b2 ** step;
  for (const [name, p] of params) {
    const { m, v } = state.get(name);
    const g = grads[p.variable.name];
    tf.tidy(() => {
      const decayed = p.weightDecay ? tf.mul(p.variable, 1 - lr * wd) : p.variable;
      const mNew = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
      const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
      const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(bias2)), eps);
      m.assign(mNew);
      v.assign(vNew);
      p.variable.assign(tf.sub(decayed, tf.mul(tf.div(mNew, denom), lr / bias1)));
    });
  }
}

async function timed(fn) {
  fn();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  const profile = await tf.profile(fn);
  return { ms: [...times].sort((a, b) => a - b)[Math.floor(reps / 2)], kernels: profile.kernels.length };
}

for (const key of args.models.split(',')) {
  const model = models[key]();
  const params = model.namedParameters().filter(([, p]) => p.trainable);
  const count = params.reduce((n, [, p]) => n + p.variable.size, 0);
  const grads = Object.fromEntries(params.map(([, p], i) => [p.variable.name, tf.randomNormal(p.variable.shape, 0, 1e-2, 'float32', i)]));
  const state = new Map(params.map(([name, p]) => [name, { m: tf.variable(tf.zerosLike(p.variable), false), v: tf.variable(tf.zerosLike(p.variable), false) }]));
  let step = 0;
  const before = await timed(() => compositeApply(params, state, grads, 1e-3, ++step));
  const optimizer = new AdamW(params, { weightDecay: 0.05 });
  const after = await timed(() => optimizer.apply(grads, 1e-3));
  console.log(`${model.config.name}: ${params.length} tensors, ${(count / 1e6).toFixed(2)} M parameters; AdamW update composite ${before.ms.toFixed(1)} ms (${before.kernels} kernels) → fused ${after.ms.toFixed(1)} ms (${after.kernels} kernels), load ${loadavg()[0].toFixed(2)}`);
  optimizer.dispose();
  tf.dispose([...Object.values(grads), ...[...state.values()].flatMap((s) => [s.m, s.v])]);
  model.dispose();
}
