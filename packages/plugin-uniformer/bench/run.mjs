// uniformer_small training and inference on wasm, side by side with the same model in
// PyTorch (bench/torch_uniformer.py), at 32 px (batch 64, 10 classes) and 224 px
// (batch 4, 1000 classes: batch 8 overflows the 4 GB wasm heap). Runs the built package: `pnpm build && pnpm bench`.
// Knobs (environment): BENCH_QUICK=1 (1 warm-up, 2 timed steps), BENCH_CASES=32:64:10,224:4:1000,
// BENCH_BACKEND=wasm, BENCH_NO_TORCH=1, BENCH_PYTHON=/usr/bin/python3, BENCH_OUT=path.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel, getBackend, oneHot, setBackend, softTargetCrossEntropy, tf, use } from '@tessera/core';
import { uniformerPlugin } from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const quick = env.BENCH_QUICK === '1';
const reps = quick ? 2 : 3;
const warmup = 1;
const cases = (env.BENCH_CASES ?? '32:64:10,224:4:1000').split(',').map((c) => c.split(':').map(Number));
const outPath = resolve(here, '..', env.BENCH_OUT ?? 'bench-results/uniformer-bench.json');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(fn) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  return times;
}

/** One optimizer step: forward in training mode, soft-target cross-entropy (smoothing 0.1), gradients, Adam update. */
async function benchCase(size, batch, classes) {
  const model = createModel('uniformer_small', { imgSize: size, numClasses: classes });
  const vars = model.trainableVariables();
  const optimizer = tf.train.adam(1e-3);
  const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1);
  const targets = oneHot(Int32Array.from({ length: batch }, (_, i) => i % classes), classes, 0.1);
  const counts = [];
  const losses = [];
  const step = async () => {
    const loss = optimizer.minimize(() => softTargetCrossEntropy(model.forward(images, { training: true }).logits, targets), true, vars);
    losses.push((await loss.data())[0]);
    loss.dispose();
    counts.push(tf.memory().numTensors);
  };
  const train = await timed(step);
  const infer = await timed(async () => {
    const logits = model.predict(images);
    await logits.data();
    logits.dispose();
  });
  tf.dispose([images, targets]);
  optimizer.dispose();
  model.dispose();
  const out = {
    imgSize: size,
    batch,
    numClasses: classes,
    params: model.numParameters(),
    train: { secondsPerStep: median(train), imagesPerSecond: batch / median(train), times: train, losses, tensorCountStable: new Set(counts.slice(1)).size === 1 },
    infer: { secondsPerBatch: median(infer), imagesPerSecond: batch / median(infer), times: infer },
  };
  process.stderr.write(`  tessera ${getBackend()} uniformer_small @${size} b${batch}: train ${out.train.imagesPerSecond.toFixed(2)} img/s, infer ${out.infer.imagesPerSecond.toFixed(1)} img/s\n`);
  return out;
}

function torchSideBySide() {
  if (env.BENCH_NO_TORCH === '1') return { skipped: 'disabled with BENCH_NO_TORCH=1' };
  const python = env.BENCH_PYTHON ?? '/usr/bin/python3';
  const args = [join(here, 'torch_uniformer.py'), '--reps', String(reps), '--warmup', String(warmup), '--cases', cases.map((c) => c.join(':')).join(',')];
  const r = spawnSync(python, args, { encoding: 'utf8', timeout: 1_800_000 });
  if (r.error) return { skipped: `${python} not runnable: ${r.error.message}` };
  if (r.status !== 0) return { skipped: `PyTorch run failed: ${(r.stderr || '').trim().split('\n').slice(-1)[0]}` };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

await setBackend(env.BENCH_BACKEND ?? 'wasm');
use(uniformerPlugin);
const loadAverageAtStart = os.loadavg();
const runs = [];
for (const [size, batch, classes] of cases) runs.push(await benchCase(size, batch, classes));
const torch = torchSideBySide();
const sideBySide = runs.map((r) => {
  const t = torch.runs?.find((x) => x.imgSize === r.imgSize && x.batch === r.batch);
  return {
    imgSize: r.imgSize,
    batch: r.batch,
    tesseraTrainImagesPerSecond: +r.train.imagesPerSecond.toFixed(3),
    torchTrainImagesPerSecond: t ? +t.train.imagesPerSecond.toFixed(3) : null,
    trainRatio: t ? +(r.train.imagesPerSecond / t.train.imagesPerSecond).toFixed(4) : null,
    tesseraInferImagesPerSecond: +r.infer.imagesPerSecond.toFixed(2),
    torchInferImagesPerSecond: t ? +t.infer.imagesPerSecond.toFixed(2) : null,
    inferRatio: t ? +(r.infer.imagesPerSecond / t.infer.imagesPerSecond).toFixed(4) : null,
    sameParams: t ? t.params === r.params : null,
  };
});
const report = { package: '@tessera/plugin-uniformer', backend: getBackend(), date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverageAtStart, loadAverageAtEnd: os.loadavg(), tfjs: tf.version_core, runs, torch, sideBySide };
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify({ file: outPath, sideBySide, torch: torch.skipped ?? { threads: torch.threads, blas: torch.blas } }, null, 1));
