// Profile one DeiT-Tiny-sized @32 training step (batch 32) on wasm: kernel time by kernel name.
import { createModelFromSpec, oneHot, setBackend, softTargetCrossEntropy, tf } from '@tessera/core';
import { AdamW } from '@tessera/harness';
await setBackend(process.env.B ?? 'wasm');
const spec = { name: 'deit_tiny_sized_32', imgSize: 32, numClasses: 10,
  stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 192 } },
  stages: [{ block: 'class_token' }, { block: 'transformer', depth: 12, options: { numHeads: 3, mlpRatio: 4 } }],
  head: { block: 'classifier', options: { numClasses: 10 } } };
const model = createModelFromSpec(spec);
const batch = Number(process.env.BATCH ?? 32);
const images = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1);
const targets = oneHot(Int32Array.from({ length: batch }, (_, i) => i % 10), 10, 0.1);
const params = model.namedParameters().filter(([, p]) => p.trainable);
const vars = params.map(([, p]) => p.variable);
const opt = new AdamW(params, { weightDecay: 0.05 });
const step = async () => {
  const { value, grads } = tf.variableGrads(() => softTargetCrossEntropy(model.forward(images, { training: true }).logits, targets), vars);
  await value.data();
  opt.apply(grads, 1e-3);
  tf.dispose([value, ...Object.values(grads)]);
};
await step(); await step();
const times = [];
for (let i = 0; i < Number(process.env.REPS ?? 3); i++) { const t = performance.now(); await step(); times.push(performance.now() - t); }
times.sort((a, b) => a - b);
console.log(`step ms: ${times.map((t) => t.toFixed(0)).join(' ')} -> ${(batch / times[Math.floor(times.length / 2)] * 1000).toFixed(2)} img/s`);
if (process.env.PROFILE !== '0') {
  const t0 = performance.now();
  const prof = await tf.profile(step);
  const wall = performance.now() - t0;
  // tf.profile also lists each custom-gradient op ('unnamed scope') and each op wrapper ('…__op') with the
  // time of the kernels inside it: counting those too would count the same time twice.
  const isScope = (name) => name === 'unnamed scope' || name.endsWith('__op');
  const by = new Map();
  for (const k of prof.kernels) { if (isScope(k.name)) continue; const e = by.get(k.name) ?? { ms: 0, n: 0 }; e.ms += k.kernelTimeMs; e.n++; by.set(k.name, e); }
  const total = [...by.values()].reduce((s, e) => s + e.ms, 0);
  console.log(`profiled step wall ${wall.toFixed(0)} ms, kernel sum ${total.toFixed(0)} ms (scopes excluded), ${prof.kernels.length} profile entries, peak ${(prof.peakBytes / 2 ** 20).toFixed(0)} MiB`);
  for (const [name, e] of [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(`${name.padEnd(28)} ${e.ms.toFixed(0).padStart(6)} ms ${(100 * e.ms / total).toFixed(1).padStart(5)}%  x${e.n}`);
}
