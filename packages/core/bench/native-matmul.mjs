// Matrix products of a DeiT-Tiny training step (batch 32 at 32 px: 65 tokens, width 192, 3 heads)
// on tfjs-wasm's own kernels (XNNPACK; core's SIMD kernel for the batched attention products)
// and with the native matmul (onnxruntime-node), interleaved so that load affects both alike.
// Usage: node bench/native-matmul.mjs [--threads N] [--reps R] [--json out.json]
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { batchMatMul, configureNativeMatMul, nativeMatMulStatus, setBackend, tf } from '@tessera/core';

const { values: args } = parseArgs({ options: { threads: { type: 'string' }, reps: { type: 'string', default: '10' }, json: { type: 'string' } } });
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
for (const [name, c, run] of cases) {
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
if (args.json) writeFileSync(args.json, JSON.stringify({ provider: status.provider, threads: status.threads, load: { before: load, after: loadavg()[0] }, rows }, null, 2));
