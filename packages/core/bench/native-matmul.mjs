// Matrix products of a DeiT-Tiny training step (batch 32 at 32 px: 65 tokens, width 192, 3 heads)
// on tfjs-wasm's own kernels (XNNPACK; core's SIMD kernel for the batched attention products)
// and with the native matmul (onnxruntime-node), interleaved so that load affects both alike.
// Then (unless --no-step) one training step of the DeiT-Tiny-sized model (forward, loss, gradients)
// on tfjs's kernels, natively with 1 thread and with every core, interleaved in rounds.
// Usage: node bench/native-matmul.mjs [--only SUBSTRING] [--threads N] [--reps R] [--rounds R] [--no-step] [--json out.json]
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { availableParallelism } from 'node:os';
import { batchMatMul, configureNativeMatMul, createModelFromSpec, nativeMatMulStatus, setBackend, softTargetCrossEntropy, tf } from '@tessera/core';

const { values: args } = parseArgs({ options: { only: { type: 'string' }, threads: { type: 'string' }, reps: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' }, 'no-step': { type: 'boolean', default: false }, json: { type: 'string' } } });
const reps = Number(args.reps);
await setBackend('wasm', { nativeMatMul: 'off' });
const on = () => configureNativeMatMul({ mode: 'on', ...(args.threads ? { threads: Number(args.threads) } : {}) });
const off = () => configureNativeMatMul({ mode: 'off' });

const linear = (m, k, n, bias) => ({ a: tf.randomNormal([m, k]), b: tf.randomNormal([k, n]), bias: bias ? tf.randomNormal([n]) : undefined, flops: 2 * m * k * n });
const cases = [
  ['qkv: x·W+b [2080,192]·[192,576]', linear(2080, 192, 576, true), (c) => tf.fused.matMul(c)],
  ['proj: [2080,192]·[192,192]+b', linear(2080, 192, 192, true), (c) => tf.fused.matMul(c)],
  ['fc1: [2080,192]·[192,768]+b', linear(2080, 192, 768, true), (c) => tf.fused.matMul(c)],
  ['fc2: [2080,768]·[768,192]+b', linear(2080, 768, 192, true), (c) => tf.fused.matMul(c)],
  ['fc1 dx: dy·Wᵀ [2080,768]·[768,192]', linear(2080, 768, 192), (c) => tf.matMul(c.a, c.b)],
  ['fc1 dW: xᵀ·dy [192,2080]·[2080,768]', linear(192, 2080, 768), (c) => tf.matMul(c.a, c.b)],
  ['head: [32,192]·[192,10]+b', linear(32, 192, 10, true), (c) => tf.fused.matMul(c)],
  ['[256,256]·[256,256]', linear(256, 256, 256), (c) => tf.matMul(c.a, c.b)],
  ['[128,128]·[128,128]', linear(128, 128, 128), (c) => tf.matMul(c.a, c.b)],
  ['[96,96]·[96,96]', linear(96, 96, 96), (c) => tf.matMul(c.a, c.b)],
  ['[64,64]·[64,64]', linear(64, 64, 64), (c) => tf.matMul(c.a, c.b)],
  ['[32,32]·[32,32]', linear(32, 32, 32), (c) => tf.matMul(c.a, c.b)],
  ['[16,16]·[16,16]', linear(16, 16, 16), (c) => tf.matMul(c.a, c.b)],
  ['[8,8]·[8,8]', linear(8, 8, 8), (c) => tf.matMul(c.a, c.b)],
  ['attn q·kᵀ 96×[65,64]·[64,65]', { a: tf.randomNormal([32, 3, 65, 64]), b: tf.randomNormal([32, 3, 65, 64]), flops: 2 * 96 * 65 * 64 * 65 }, (c) => batchMatMul(c.a, c.b, false, true)],
  ['attn p·v 96×[65,65]·[65,64]', { a: tf.randomNormal([32, 3, 65, 65]), b: tf.randomNormal([32, 3, 65, 64]), flops: 2 * 96 * 65 * 65 * 64 }, (c) => batchMatMul(c.a, c.b)],
];

function time(run) {
  const once = () => { const y = run(); y.dataSync(); y.dispose(); };
  for (let i = 0; i < 3; i++) once();
  let best = Infinity;
  for (let trial = 0; trial < 5; trial++) {
    const start = performance.now();
    for (let i = 0; i < reps; i++) once();
    best = Math.min(best, (performance.now() - start) / reps);
  }
  return best;
}

const rows = [];
const load = loadavg()[0];
for (const [name, c, run] of cases.filter(([name]) => !args.only || name.includes(args.only))) {
  let wasm = Infinity, native = Infinity;
  for (let round = 0; round < 2; round++) {
    off(); wasm = Math.min(wasm, time(() => run(c)));
    on(); native = Math.min(native, time(() => run(c)));
  }
  const row = { name, wasmMs: wasm, nativeMs: native, wasmGflops: c.flops / wasm / 1e6, nativeGflops: c.flops / native / 1e6, speedup: wasm / native };
  rows.push(row);
  console.log(`${name.padEnd(38)} wasm ${wasm.toFixed(3).padStart(8)} ms ${row.wasmGflops.toFixed(1).padStart(5)} GFLOP/s | native ${native.toFixed(3).padStart(8)} ms ${row.nativeGflops.toFixed(1).padStart(5)} GFLOP/s | ×${row.speedup.toFixed(2)}`);
}
const status = (on(), nativeMatMulStatus());
console.log(`${status.provider}, ${status.threads} threads; load average ${load.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after`);

let step;
if (!args['no-step']) {
  // The harness benchmark's DeiT-Tiny-sized model (width 192, 12 blocks, 3 heads, 4×4 patches) at batch 32.
  const model = createModelFromSpec({
    name: 'deit_tiny_sized_32', imgSize: 32, numClasses: 10,
    stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 192 } },
    stages: [{ block: 'class_token' }, { block: 'transformer', depth: 12, options: { numHeads: 3, mlpRatio: 4 } }],
    head: { block: 'classifier', options: { numClasses: 10 } },
  });
  const x = tf.randomNormal([32, 32, 32, 3], 0, 1, 'float32', 1);
  const targets = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 10), 'int32'), 10);
  const variables = model.trainableVariables();
  const once = () => {
    const { value, grads } = tf.variableGrads(() => softTargetCrossEntropy(model.forward(x, { training: true }).logits, targets), variables);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  const cores = availableParallelism();
  const variants = [['tfjs', off], ['native, 1 thread', () => configureNativeMatMul({ mode: 'on', threads: 1 })], [`native, ${cores} threads`, () => configureNativeMatMul({ mode: 'on', threads: cores })]];
  const times = Object.fromEntries(variants.map(([name]) => [name, []]));
  for (const [, use] of variants) (use(), once());
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const [name, use] of variants) {
      use();
      const start = performance.now();
      once();
      times[name].push(performance.now() - start);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  step = Object.fromEntries(Object.entries(times).map(([name, ts]) => [name, { medianMs: median(ts), imagesPerSecond: 32000 / median(ts), ms: ts }]));
  for (const [name, r] of Object.entries(step)) console.log(`training step, batch 32, ${name.padEnd(18)} ${r.medianMs.toFixed(0).padStart(6)} ms  ${r.imagesPerSecond.toFixed(1).padStart(5)} img/s  (${r.ms.map((t) => t.toFixed(0)).join(', ')})`);
  console.log(`load average ${loadavg()[0].toFixed(1)} after the steps`);
}
if (args.json) writeFileSync(args.json, JSON.stringify({ provider: status.provider, threads: status.threads, load: { before: load, after: loadavg()[0] }, rows, step }, null, 2));
