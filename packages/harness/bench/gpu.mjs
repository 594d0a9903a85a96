// `pnpm bench:gpu`: DeiT-Small training (and inference) on the webgpu backend, on whatever
// adapter Dawn finds, next to PyTorch CUDA when python3 has torch with CUDA.
// Usage: node bench/gpu.mjs [--batch 64] [--img-size 224] [--reps 5] [--warmup 2] [--no-torch]
// Writes bench-results/bench-gpu-<time>.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createModel, oneHot, setBackend, softTargetCrossEntropy, tf, webgpuAdapterDescription } from '@tessera/core';
import { AdamW, HARNESS_VERSION } from '../dist/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' },
    'img-size': { type: 'string', default: '224' },
    reps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const batch = Number(args.batch);
const size = Number(args['img-size']);
const reps = Number(args.reps);
const warmup = Number(args.warmup);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeRuns(fn) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  return times;
}

await setBackend('webgpu');
const adapter = webgpuAdapterDescription();
const software = /llvmpipe|lavapipe|swiftshader|software|OpenGL.*Mesa/i.test(adapter ?? '');
console.error(`webgpu adapter: ${adapter}${software ? ' (a software rasteriser: expect CPU-class speed)' : ''}`);
const model = createModel('deit_small_patch16_224', { imgSize: size });
const params = model.namedParameters().filter(([, p]) => p.trainable);
const optimizer = new AdamW(params, { weightDecay: 0.05 });
const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1);
const targets = oneHot(Int32Array.from({ length: batch }, (_, i) => i % model.config.numClasses), model.config.numClasses, 0.1);
const vars = params.map(([, p]) => p.variable);
const trainStep = async () => {
  const { value, grads } = tf.variableGrads(() => softTargetCrossEntropy(model.forward(images, { training: true }).logits, targets), vars);
  await value.data();
  optimizer.apply(grads, 1e-3);
  tf.dispose([value, ...Object.values(grads)]);
};
const before = tf.memory().numTensors;
const train = await timeRuns(trainStep);
const infer = await timeRuns(async () => {
  const logits = model.predict(images);
  await logits.data();
  logits.dispose();
});
const tensorGrowth = tf.memory().numTensors - before;

let torch = { skipped: 'disabled with --no-torch' };
if (!args['no-torch']) {
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  const dims = ['--img', String(size), '--patch', '16', '--dim', '384', '--depth', '12', '--heads', '6', '--classes', '1000'];
  const r = spawnSync(python, [join(here, 'torch_vit.py'), '--device', 'cuda', ...dims, '--train-batch', String(batch), '--infer-batch', String(batch), '--reps', String(reps), '--warmup', String(warmup)], { encoding: 'utf8', timeout: 900_000 });
  if (r.error) torch = { skipped: `${python} not runnable: ${r.error.message}` };
  else if (r.status === 2) torch = { skipped: 'PyTorch has no CUDA device here' };
  else if (r.status !== 0) torch = { skipped: `PyTorch run failed: ${(r.stderr || '').trim().split('\n').slice(-1)[0]}` };
  else torch = JSON.parse(r.stdout.trim().split('\n').pop());
}

const results = {
  harness: HARNESS_VERSION,
  date: new Date().toISOString(),
  adapter,
  softwareAdapter: software,
  model: 'deit_small_patch16_224',
  params: model.numParameters(),
  imgSize: size,
  train: { batch, secondsPerStep: median(train), imagesPerSecond: batch / median(train), times: train },
  infer: { batch, secondsPerBatch: median(infer), imagesPerSecond: batch / median(infer), times: infer },
  tensorGrowth,
  torch,
  ...(torch.train ? { ratioToTorch: { train: batch / median(train) / torch.train.imagesPerSecond, infer: batch / median(infer) / torch.infer.imagesPerSecond } } : {}),
};
optimizer.dispose();
model.dispose();
tf.dispose([images, targets]);
const dir = join(here, '..', 'bench-results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `bench-gpu-${results.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify({ file, adapter, train: results.train.imagesPerSecond, infer: results.infer.imagesPerSecond, tensorGrowth, torch: torch.skipped ?? { train: torch.train.imagesPerSecond, infer: torch.infer.imagesPerSecond } }));
