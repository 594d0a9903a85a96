// Forward + backward time of single layers on one activation size, on wasm (and cpu
// for scale): Linear and LayerNorm (the transformer's fast path) next to BatchNorm2d
// and the convolutions of conv-heavy models (UniFormer's local blocks and stems).
// Runs the built package (dist/): `pnpm build && node bench/layer-gradients.mjs`.
// Knobs: BENCH_QUICK=1 (fewer repetitions), BENCH_OUT=path.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { BatchNorm2d, Conv2d, ConvNormAct, ForwardContext, LayerNorm, Linear, Rng, setBackend, tf, CORE_VERSION } from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.env.BENCH_QUICK === '1';
const reps = quick ? 3 : 9;
const outPath = resolve(here, '..', process.env.BENCH_OUT ?? 'bench-results/layer-gradients.json');
// One activation size for every layer: batch 32 of a 16×16 grid with 64 channels (UniFormer stage 1 at 64 px), 8192 rows of 64.
const [B, H, W, C] = [32, 16, 16, 64];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median seconds of forward + gradients w.r.t. the input and every trainable variable. */
function timeGradient(forward, x, variables) {
  const run = () => {
    const { value, grads } = tf.variableGrads(() => tf.sum(forward(x)), variables);
    const dx = tf.grad((a) => tf.sum(forward(a)))(x);
    dx.dataSync();
    tf.dispose([value, dx, ...Object.values(grads)]);
  };
  run();
  const before = tf.memory().numTensors;
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    run();
    times.push((performance.now() - t) / 1000);
  }
  if (tf.memory().numTensors !== before) throw new Error('leak in the benchmark loop');
  return median(times);
}

function timeForward(forward, x) {
  const run = () => tf.tidy(() => forward(x)).dataSync();
  run();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    run();
    times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

function cases(rng) {
  const train = new ForwardContext(true);
  const grid = () => tf.randomNormal([B, H, W, C], 0, 1, 'float32', 1);
  const rows = () => tf.randomNormal([B * H * W, C], 0, 1, 'float32', 1);
  const layer = (name, make, input, forward) => ({ name, make, input, forward });
  // BatchNorm2d's batch-statistics formula left to tfjs's autodiff: what BN cost before its gradient was written out.
  const autodiffBn = (bn) => (x) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, bn.eps))), bn.weight), bn.bias);
  };
  return [
    layer('Linear 64→64', () => new Linear(C, C, rng), rows, (m) => (x) => m.forward(x)),
    layer('LayerNorm 64', () => new LayerNorm(C, rng), rows, (m) => (x) => m.forward(x)),
    layer('BatchNorm2d 64 (train)', () => new BatchNorm2d(C, rng), grid, (m) => (x) => m.forward(x, train)),
    layer('BatchNorm2d 64 (train, tfjs autodiff)', () => new BatchNorm2d(C, rng), grid, autodiffBn),
    layer('Conv2d 1×1 64→64', () => new Conv2d(C, C, 1, rng), grid, (m) => (x) => m.forward(x)),
    layer('Conv2d 3×3 64→64', () => new Conv2d(C, C, 3, rng, { padding: 1 }), grid, (m) => (x) => m.forward(x)),
    layer('Conv2d depthwise 3×3', () => new Conv2d(C, C, 3, rng, { padding: 1, groups: C }), grid, (m) => (x) => m.forward(x)),
    layer('Conv2d depthwise 5×5', () => new Conv2d(C, C, 5, rng, { padding: 2, groups: C }), grid, (m) => (x) => m.forward(x)),
    layer('Conv2d 3×3 stride 2 64→128', () => new Conv2d(C, 2 * C, 3, rng, { stride: 2, padding: 1 }), grid, (m) => (x) => m.forward(x)),
    layer('ConvNormAct 3×3 s2 + BN + GELU', () => new ConvNormAct(C, rng, { channels: [C], finalActivation: true }), grid, (m) => (x) => m.forward(x, train)),
  ];
}

const results = [];
for (const backend of ['wasm']) {
  await setBackend(backend);
  for (const c of cases(new Rng(0))) {
    const m = c.make();
    const x = c.input();
    const forward = c.forward(m);
    const seconds = timeGradient(forward, x, m.trainableVariables());
    const forwardSeconds = timeForward(forward, x);
    x.dispose();
    m.dispose();
    const r = { backend, layer: c.name, input: c.name.startsWith('Linear') || c.name.startsWith('LayerNorm') ? [B * H * W, C] : [B, H, W, C], forwardSeconds: +forwardSeconds.toFixed(4), forwardBackwardSeconds: +seconds.toFixed(4) };
    results.push(r);
    process.stderr.write(`  ${backend} ${c.name}: forward ${(forwardSeconds * 1000).toFixed(1)} ms, forward+backward ${(seconds * 1000).toFixed(1)} ms\n`);
  }
}
const report = { package: '@tessera/core', version: CORE_VERSION, date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadAverage: os.loadavg(), tfjs: tf.version_core, reps, results };
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(results.map(({ layer, forwardSeconds, forwardBackwardSeconds }) => ({ layer, forwardSeconds, forwardBackwardSeconds })), null, 1));
