// Model-level benchmark of the harness's training and inference loop (op-level
// timings live in packages/core/bench). Usage: pnpm bench [-- --backend wasm --quick]
// Writes bench-results/bench-<time>.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createModel, getBackend, listModels, oneHot, setBackend, softTargetCrossEntropy, tf } from '@tessera/core';
import { ALL_CORRUPTIONS, AdamW, corruptImage, HARNESS_VERSION, loadPlugins } from '../dist/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: process.env.BENCH_BACKEND ?? 'wasm' },
    quick: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    'corruptions-only': { type: 'boolean', default: false },
  },
});
const reps = args.quick ? 3 : 5;
const warmup = args.quick ? 1 : 2;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeRuns(fn, n, w) {
  for (let i = 0; i < w; i++) await fn();
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  return times;
}

function randomBatch(batch, size, classes) {
  const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1);
  const labels = Int32Array.from({ length: batch }, (_, i) => i % classes);
  return { images, labels };
}

/** One optimizer step exactly as `tessera train` takes it: forward, soft-target CE, variableGrads, AdamW. */
function makeTrainStep(model, images, labels) {
  const params = model.namedParameters().filter(([, p]) => p.trainable);
  const vars = params.map(([, p]) => p.variable);
  const optimizer = new AdamW(params, { weightDecay: 0.05 });
  const targets = oneHot(labels, model.config.numClasses, 0.1);
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => softTargetCrossEntropy(model.forward(images, { training: true }).logits, targets), vars);
    await value.data();
    optimizer.apply(grads, 1e-3);
    tf.dispose([value, ...Object.values(grads)]);
  };
  return { step, dispose: () => (optimizer.dispose(), targets.dispose()) };
}

async function peakBytes(fn) {
  const info = await tf.profile(fn);
  return info.peakBytes;
}

async function benchModel(label, model, { trainBatch, inferBatch, size, train }) {
  const out = { label, model: model.config.name, params: model.numParameters(), imgSize: size };
  if (train) {
    const { images, labels } = randomBatch(trainBatch, size, model.config.numClasses);
    const { step, dispose } = makeTrainStep(model, images, labels);
    const times = await timeRuns(step, reps, warmup);
    out.train = { batch: trainBatch, secondsPerStep: median(times), imagesPerSecond: trainBatch / median(times), times, peakTensorBytes: await peakBytes(step) };
    dispose();
    images.dispose();
  }
  const { images } = randomBatch(inferBatch, size, model.config.numClasses);
  const infer = async () => {
    const logits = model.predict(images);
    await logits.data();
    logits.dispose();
  };
  const times = await timeRuns(infer, reps, warmup);
  out.infer = { batch: inferBatch, secondsPerBatch: median(times), imagesPerSecond: inferBatch / median(times), times, peakTensorBytes: await peakBytes(infer) };
  images.dispose();
  console.error(`${label}: ${JSON.stringify({ train: out.train?.imagesPerSecond, infer: out.infer.imagesPerSecond })}`);
  return out;
}

function torchSideBySide() {
  if (args['no-torch']) return { skipped: 'disabled with --no-torch' };
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(python, [join(here, 'torch_vit.py'), '--reps', String(reps), '--warmup', String(warmup)], { encoding: 'utf8', timeout: 900_000 });
  if (r.error) return { skipped: `${python} not runnable: ${r.error.message}` };
  if (r.status !== 0) return { skipped: `PyTorch run failed: ${(r.stderr || '').trim().split('\n').slice(-1)[0]}` };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/**
 * Images/s of each ImageNet-C corruption (severity 3, the middle of the table) at 32 px
 * (CIFAR-10-C table) and 224 px (ImageNet-C table), on one core in plain TypeScript:
 * what `tessera robustness` and `--augment corrupt` add per image before the model runs.
 */
function benchCorruptions() {
  const out = [];
  for (const [size, count] of [[32, args.quick ? 16 : 64], [224, args.quick ? 1 : 3]]) {
    const image = { height: size, width: size, data: new Float32Array(size * size * 3) };
    for (let i = 0; i < image.data.length; i++) image.data[i] = (Math.sin(i * 0.013) * Math.cos(i * 0.0007) + 1) / 2;
    for (const name of ALL_CORRUPTIONS) {
      corruptImage(image, name, 3, { seed: 0 });
      const cpu = process.cpuUsage();
      const t = performance.now();
      for (let k = 0; k < count; k++) corruptImage(image, name, 3, { seed: k });
      const wall = (performance.now() - t) / 1000;
      const used = process.cpuUsage(cpu);
      const cpuSeconds = (used.user + used.system) / 1e6;
      out.push({ corruption: name, size, images: count, imagesPerSecond: count / wall, imagesPerCpuSecond: count / cpuSeconds });
    }
  }
  console.error(`corruptions: ${out.map((r) => `${r.corruption}@${r.size} ${r.imagesPerCpuSecond.toFixed(1)}/s`).join(', ')}`);
  return out;
}

if (args['corruptions-only']) {
  const corruptions = benchCorruptions();
  const dir = join(here, '..', 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-corruptions-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ harness: HARNESS_VERSION, node: process.version, cpuModel: cpus()[0]?.model, corruptions }, null, 2)}\n`);
  console.log(JSON.stringify({ file, corruptions: corruptions.map((r) => [r.corruption, r.size, Number(r.imagesPerCpuSecond.toFixed(1))]) }));
  process.exit(0);
}

const backend = await setBackend(args.backend);
await loadPlugins();
const results = { backend: getBackend(), harness: HARNESS_VERSION, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, date: new Date().toISOString(), runs: [] };
// DeiT-Tiny's width, depth and heads on 32×32 inputs with 4×4 patches (perf-anchors Model A).
const deit = createModel('deit_tiny_patch16_224', { imgSize: 32, patchSize: 4, numClasses: 10 });
results.runs.push(await benchModel('deit_tiny-sized @32', deit, { trainBatch: 32, inferBatch: 64, size: 32, train: true }));
deit.dispose();
if (listModels().includes('t2t_vit_7')) {
  const t2t = createModel('t2t_vit_7');
  results.runs.push(await benchModel('t2t_vit_7 @224', t2t, { trainBatch: 0, inferBatch: 8, size: 224, train: false }));
  t2t.dispose();
} else {
  results.runs.push({ label: 't2t_vit_7 @224', skipped: 'install @tessera/plugin-t2t to benchmark it' });
}
results.corruptions = benchCorruptions();
results.peakRssBytes = process.resourceUsage().maxRSS * 1024;
results.torch = torchSideBySide();
if (results.torch.train) {
  const tfjs = results.runs[0];
  results.ratioToTorch = { train: tfjs.train.imagesPerSecond / results.torch.train.imagesPerSecond, infer: tfjs.infer.imagesPerSecond / results.torch.infer.imagesPerSecond };
}
const dir = join(here, '..', 'bench-results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `bench-${results.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify({ file, backend, runs: results.runs.map((r) => ({ label: r.label, train: r.train?.imagesPerSecond, infer: r.infer?.imagesPerSecond, skipped: r.skipped })), torch: results.torch.skipped ?? { train: results.torch.train?.imagesPerSecond, infer: results.torch.infer?.imagesPerSecond }, ratioToTorch: results.ratioToTorch }));
