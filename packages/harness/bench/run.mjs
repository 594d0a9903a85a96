// `pnpm bench`: the side-by-side benchmark of issue 15. For each model: training
// images/s as `tessera train` runs it (one thread, and data-parallel over --workers),
// inference images/s (one thread, and `evaluate()` on --workers replicas), PyTorch on the same model, shapes and batch sizes, the ratio,
// peak memory, and tensor-count growth; then data-pipeline images/s at 224 px for
// synthetic, cifar10 and folder data. Writes bench-results/bench-<time>.json;
// `node bench/readme-table.mjs` turns a result file into the README's table.
// Usage: [TESSERA_NATIVE_MATMUL=off] node bench/run.mjs [--backend wasm] [--workers N] [--quick] [--no-torch]
//        [--models deit,t2t,uniformer,fan,flexivit] [--growth-steps 1000] [--reps 5] [--warmup 2] [--corruptions-only]
//        [--infer-only] (inference columns alone: no training, profile, PyTorch or growth runs)
// PyTorch for the UniFormer and FAN rows runs the official modules (bench/torch_official.py):
// BENCH_UNIFORMER_PY=<Sense-X/UniFormer image_classification/models/uniformer.py>,
// BENCH_FAN_DIR=<NVlabs/FAN checkout> and BENCH_TIMM_DIR=<folder holding timm 0.5.4's `timm`>;
// without them those PyTorch columns say what is missing.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PNG } from 'pngjs';
import { createModel, createModelFromSpec, gelu, getBackend, listModels, nativeMatMulStatus, oneHot, Rng, setBackend, softTargetCrossEntropy, tf } from '@tessera/core';
import { ALL_CORRUPTIONS, AdamW, BatchLoader, corruptImage, evaluate, HARNESS_VERSION, loadPlugins, openDataset, readMetrics, startEvalReplicas, TRAIN_DEFAULTS, train } from '../dist/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: process.env.BENCH_BACKEND ?? 'wasm' },
    workers: { type: 'string', default: String(availableParallelism()) },
    quick: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    models: { type: 'string', default: 'deit,t2t,uniformer,fan,flexivit' },
    'growth-steps': { type: 'string' },
    reps: { type: 'string' },
    warmup: { type: 'string' },
    'corruptions-only': { type: 'boolean', default: false },
    'infer-only': { type: 'boolean', default: false },
  },
});
const quick = args.quick;
const inferOnly = args['infer-only'];
const reps = Number(args.reps ?? (quick ? 2 : 5));
const warmup = Number(args.warmup ?? (quick ? 1 : 2));
const workers = Number(args.workers);
const growthSteps = Number(args['growth-steps'] ?? (quick ? 20 : 1000));
const wanted = new Set(args.models.split(','));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((x) => Math.round(x * 100) / 100);
const log = (m) => console.error(`[bench ${new Date().toISOString().slice(11, 19)} load ${load()[0]}] ${m}`);

async function timeRuns(fn, n = reps, w = warmup) {
  for (let i = 0; i < w; i++) await fn();
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  return times;
}

/** One AdamW step as the trainer takes it (forward, soft-target CE, variableGrads, update), in this thread. */
function makeTrainStep(model, batch, size) {
  const images = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1);
  const targets = oneHot(Int32Array.from({ length: batch }, (_, i) => i % model.config.numClasses), model.config.numClasses, 0.1);
  const params = model.namedParameters().filter(([, p]) => p.trainable);
  const vars = params.map(([, p]) => p.variable);
  const optimizer = new AdamW(params, { weightDecay: 0.05 });
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => softTargetCrossEntropy(model.forward(images, { training: true }).logits, targets), vars);
    await value.data();
    optimizer.apply(grads, 1e-3);
    tf.dispose([value, ...Object.values(grads)]);
  };
  return { step, dispose: () => (optimizer.dispose(), tf.dispose([images, targets])) };
}

/**
 * Training images/s through `train()` (loader, augmentation-free recipe, AdamW), the
 * median over the steps after warm-up, from metrics.jsonl (evaluation excluded).
 */
async function trainerThroughput(ref, { batch, size, workerCount }) {
  const out = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  const steps = warmup + reps;
  const loadBefore = load();
  await train({
    ...TRAIN_DEFAULTS,
    model: ref,
    plugins: [],
    data: 'synthetic',
    trainSize: batch * steps,
    testSize: batch,
    imgSize: size,
    epochs: 1,
    batchSize: batch,
    evalBatchSize: batch,
    augment: [],
    backend: args.backend,
    workers: workerCount,
    out,
  });
  const perStep = (await readMetrics(out)).filter((m) => m.type === 'train').map((m) => m.imagesPerSecond).slice(warmup);
  rmSync(out, { recursive: true, force: true });
  return { batch, workers: workerCount, imagesPerSecond: median(perStep), perStep, load: { before: loadBefore, after: load() } };
}

function torchRun(extra, script = 'torch_vit.py') {
  if (args['no-torch']) return { skipped: 'disabled with --no-torch' };
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  // Debian's python3-torch links whichever libblas.so.3 the alternatives select; the OpenMP
  // build of OpenBLAS is the fast one next to torch's own OpenMP pool (shared/docs/perf-anchors.md).
  const openmp = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
  const env = { ...process.env };
  if (!env.LD_LIBRARY_PATH && spawnSync('test', ['-d', openmp]).status === 0) env.LD_LIBRARY_PATH = openmp;
  const loadBefore = load();
  const r = spawnSync(python, [join(here, script), '--reps', String(reps), '--warmup', String(warmup), ...extra], { encoding: 'utf8', timeout: 1_800_000, env });
  if (r.error) return { skipped: `${python} not runnable: ${r.error.message}` };
  if (r.status !== 0) return { skipped: `PyTorch run failed: ${(r.stderr || '').trim().split('\n').slice(-1)[0]}` };
  return { ...JSON.parse(r.stdout.trim().split('\n').pop()), load: { before: loadBefore, after: load() } };
}

/**
 * Inference images/s as `tessera eval --workers N` runs it: `evaluate()` over one batch
 * of synthetic images, split across N replicas (this thread loads the batch).
 */
async function parallelInference(ref, model, { batch, size, workerCount }) {
  const dataset = await openDataset('synthetic', { split: 'test', imgSize: size, seed: 1, size: batch });
  const replicas = await startEvalReplicas(workerCount, model, { ref, plugins: [], imgSize: size, inChannels: 3 });
  try {
    const loadBefore = load();
    const times = await timeRuns(() => evaluate(model, dataset, batch, undefined, replicas));
    return { batch, workers: workerCount, imagesPerSecond: batch / median(times), times, load: { before: loadBefore, after: load() } };
  } finally {
    await replicas.close();
  }
}

async function benchModel({ label, ref, make, trainBatch, inferBatch, size, torchArgs }) {
  log(`${label}: building`);
  const model = make();
  const out = { label, model: model.config.name, params: model.numParameters(), imgSize: size };
  if (!inferOnly) {
    // In-process step: peak tensor memory and tensor growth over the timed steps.
    const { step, dispose } = makeTrainStep(model, trainBatch, size);
    await step();
    const before = tf.memory().numTensors;
    const profile = await tf.profile(step);
    out.peakTensorBytes = profile.peakBytes;
    out.profile = kernelProfile(profile);
    out.tensorGrowthPerStep = tf.memory().numTensors - before;
    dispose();
  }
  const images = tf.randomNormal([inferBatch, size, size, 3], 0, 1, 'float32', 1);
  const infer = async () => {
    const logits = model.predict(images);
    await logits.data();
    logits.dispose();
  };
  const loadBefore = load();
  const times = await timeRuns(infer);
  out.infer = { batch: inferBatch, imagesPerSecond: inferBatch / median(times), times, load: { before: loadBefore, after: load() } };
  images.dispose();
  log(`${label}: infer ${out.infer.imagesPerSecond.toFixed(1)} img/s; inference, ${workers} workers`);
  out.inferParallel = workers > 1 ? await parallelInference(ref, model, { batch: inferBatch, size, workerCount: workers }) : undefined;
  if (out.inferParallel) out.inferParallelSpeedup = out.inferParallel.imagesPerSecond / out.infer.imagesPerSecond;
  model.dispose();
  if (inferOnly) {
    log(`${label}: ${JSON.stringify({ infer: out.infer.imagesPerSecond, inferParallel: out.inferParallel?.imagesPerSecond, load: load() })}`);
    return out;
  }
  log(`${label}: infer ${workers} workers ${out.inferParallel?.imagesPerSecond.toFixed(1) ?? '–'} img/s; training, 1 thread`);
  out.train = await trainerThroughput(ref, { batch: trainBatch, size, workerCount: 1 });
  log(`${label}: train ${out.train.imagesPerSecond.toFixed(1)} img/s; training, ${workers} workers`);
  out.trainParallel = workers > 1 ? await trainerThroughput(ref, { batch: trainBatch, size, workerCount: workers }) : undefined;
  if (out.trainParallel) out.parallelSpeedup = out.trainParallel.imagesPerSecond / out.train.imagesPerSecond;
  log(`${label}: PyTorch`);
  out.torch = typeof torchArgs === 'string' ? { skipped: torchArgs } : torchRun([...torchArgs.args, '--train-batch', String(trainBatch), '--infer-batch', String(inferBatch)], torchArgs.script);
  if (out.torch.train) {
    // The best of one thread and the workers, as a user would run it (--workers defaults to the cores).
    const best = Math.max(out.train.imagesPerSecond, out.trainParallel?.imagesPerSecond ?? 0);
    const bestInfer = Math.max(out.infer.imagesPerSecond, out.inferParallel?.imagesPerSecond ?? 0);
    out.ratioToTorch = { train: best / out.torch.train.imagesPerSecond, infer: bestInfer / out.torch.infer.imagesPerSecond };
  }
  log(`${label}: ${JSON.stringify({ train: out.train.imagesPerSecond, parallel: out.trainParallel?.imagesPerSecond, infer: out.infer.imagesPerSecond, inferParallel: out.inferParallel?.imagesPerSecond, torch: out.torch.skipped ?? [out.torch.train.imagesPerSecond, out.torch.infer.imagesPerSecond] })}`);
  return out;
}

/**
 * Kernel time of one profiled training step by kernel, largest first. Custom ops
 * appear as 'unnamed scope' and enclose their own kernels, so shares are of the sum
 * of named kernels only.
 */
function kernelProfile(profile) {
  const by = new Map();
  for (const k of profile.kernels) {
    if (k.name === 'unnamed scope' || k.name.endsWith('__op')) continue;
    const e = by.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += k.kernelTimeMs;
    e.calls += 1;
    by.set(k.name, e);
  }
  const total = [...by.values()].reduce((s, e) => s + e.ms, 0);
  return {
    kernelMs: Math.round(total),
    kernels: [...by.entries()]
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, 12)
      .map(([name, e]) => ({ name, ms: Math.round(e.ms), share: Math.round((1000 * e.ms) / total) / 1000, calls: e.calls })),
  };
}

/**
 * Before/after of core's wasm GELU kernel on the DeiT-Tiny-sized model's MLP
 * activations ([32·65, 768]): the tfjs composite it replaced (forward: 4 kernels;
 * gradient: 9) against \`gelu\` (one SIMD pass each way), forward + gradient, median ms.
 */
async function geluBeforeAfter() {
  const x = tf.randomNormal([32 * 65, 768], 0, 1, 'float32', 1);
  const dy = tf.randomNormal([32 * 65, 768], 0, 1, 'float32', 2);
  // The previous exactGelu (core/src/nn/activation.ts before the kernel): the same custom gradient, built from tfjs kernels.
  const previous = tf.customGrad((t, save) => {
    save([t]);
    return {
      value: tf.tidy(() => tf.mul(tf.mul(t, 0.5), tf.add(tf.erf(tf.mul(t, Math.SQRT1_2)), 1))),
      gradFunc: (d, [xs]) =>
        tf.tidy(() => {
          const cdf = tf.mul(tf.add(tf.erf(tf.mul(xs, Math.SQRT1_2)), 1), 0.5);
          const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI));
          return tf.mul(d, tf.add(cdf, tf.mul(xs, pdf)));
        }),
    };
  });
  const forwardAndGradient = (f) => {
    const g = tf.grad((t) => tf.sum(tf.mul(f(t), dy)));
    return () => tf.tidy(() => [f(x), g(x)]);
  };
  const composite = forwardAndGradient(previous);
  const fused = forwardAndGradient(gelu);
  const time = async (f) => {
    const ts = await timeRuns(async () => {
      const ys = f();
      await Promise.all(ys.map((y) => y.data()));
      tf.dispose(ys);
    }, 7, 2);
    return median(ts) * 1000;
  };
  const loadBefore = load();
  // Same values (within the kernel's stated tolerance), checked here so the timing compares like with like.
  const [a, b] = [composite(), fused()];
  const maxDiff = Math.max(...(await Promise.all(a.map((t, i) => tf.max(tf.abs(tf.sub(t, b[i]))).data()))).map((v) => v[0]));
  tf.dispose([...a, ...b]);
  const before = await time(composite);
  const after = await time(fused);
  tf.dispose([x, dy]);
  return { shape: [32 * 65, 768], compositeMs: before, kernelMs: after, speedup: before / after, maxAbsDiff: maxDiff, load: { before: loadBefore, after: load() } };
}

/**
 * Tensor-count growth over many training steps (must be 0). The model has the
 * benchmarked models' blocks at a small width and depth, so 1,000 steps take seconds.
 */
async function growth(make, size, steps) {
  const model = make();
  const { step, dispose } = makeTrainStep(model, 2, size);
  await step();
  const before = tf.memory().numTensors;
  const t = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const result = { steps, batch: 2, growth: tf.memory().numTensors - before, seconds: (performance.now() - t) / 1000 };
  dispose();
  model.dispose();
  return result;
}

/** Writes a CIFAR-10 binary directory and an ImageFolder tree of PNGs with random pixels. */
function makeDataDirs(root, count) {
  const rng = new Rng(1);
  const cifar = join(root, 'cifar');
  mkdirSync(cifar);
  for (const [file, n] of [['data_batch_1.bin', count], ['test_batch.bin', 16]]) {
    const bytes = new Uint8Array(n * 3073);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 3073 === 0 ? rng.uint32() % 10 : rng.uint32() & 255;
    writeFileSync(join(cifar, file), bytes);
  }
  const folder = join(root, 'folder');
  for (const split of ['train', 'test']) {
    for (const cls of ['a', 'b']) {
      mkdirSync(join(folder, split, cls), { recursive: true });
      const n = split === 'train' ? count / 2 : 8;
      for (let i = 0; i < n; i++) {
        const png = new PNG({ width: 64, height: 48 });
        for (let p = 0; p < png.data.length; p++) png.data[p] = p % 4 === 3 ? 255 : rng.uint32() & 255;
        writeFileSync(join(folder, split, cls, `${i}.png`), PNG.sync.write(png));
      }
    }
  }
  return { synthetic: 'synthetic', cifar10: `cifar10:${cifar}`, folder: `folder:${folder}` };
}

/** Loader images/s at 224 px, batch 64, crop + flip + normalise, tensors created and freed; and the decode+resize rate at open. */
async function pipeline(count) {
  const root = mkdtempSync(join(tmpdir(), 'tessera-bench-data-'));
  const specs = makeDataDirs(root, count);
  const out = {};
  for (const [name, spec] of Object.entries(specs)) {
    const t0 = performance.now();
    const data = await openDataset(spec, { split: 'train', imgSize: 224, seed: 0, size: count });
    const openSeconds = (performance.now() - t0) / 1000;
    const loader = new BatchLoader(data, { batchSize: 64, shuffle: true, rng: new Rng(0), dropLast: true, targetSize: [224, 224], channels: 3, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], randomCrop: { padding: 16 }, randomFlip: true });
    let images = 0;
    const t1 = performance.now();
    for (let epoch = 0; epoch < 2; epoch++) {
      for (let batch = loader.next(); batch !== null; batch = loader.next()) {
        images += batch.labels.length;
        batch.images.dispose();
      }
      loader.nextEpoch();
    }
    out[name] = { images: data.length, openImagesPerSecond: data.length / openSeconds, loaderImagesPerSecond: images / ((performance.now() - t1) / 1000), load: load() };
    log(`pipeline ${name}: ${JSON.stringify(out[name])}`);
  }
  rmSync(root, { recursive: true, force: true });
  return out;
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

await setBackend(args.backend);
await loadPlugins();
const results = {
  harness: HARNESS_VERSION,
  backend: getBackend(),
  // Whether the wasm backend's matrix products ran in onnxruntime-node (TESSERA_NATIVE_MATMUL=auto|on|off; auto: when installed).
  nativeMatMul: nativeMatMulStatus(),
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  workers,
  quick,
  date: new Date().toISOString(),
  loadAtStart: load(),
  runs: [],
};
const dir = join(here, '..', 'bench-results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `bench-${results.date.replace(/[:.]/g, '-')}.json`);
/** Written after every stage, so a long run interrupted late keeps what it measured. */
const save = () => writeFileSync(file, `${JSON.stringify({ ...results, loadAtEnd: load(), peakRssBytes: process.resourceUsage().maxRSS * 1024 }, null, 2)}\n`);
// DeiT-Tiny's width, depth and heads on 32×32 inputs with 4×4 patches (perf-anchors Model A), as a spec so `train()` builds it.
const deitSpec = {
  name: 'deit_tiny_sized_32',
  imgSize: 32,
  numClasses: 10,
  stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 192 } },
  stages: [{ block: 'class_token' }, { block: 'transformer', depth: 12, options: { numHeads: 3, mlpRatio: 4 } }],
  head: { block: 'classifier', options: { numClasses: 10 } },
};
const makeDeit = () => createModelFromSpec(deitSpec);
if (wanted.has('deit')) {
  results.runs.push(
    await benchModel({ label: 'DeiT-Tiny-sized @32', ref: { name: deitSpec.name, spec: deitSpec }, make: makeDeit, trainBatch: 32, inferBatch: 64, size: 32, torchArgs: { args: [] } }),
  );
  save();
  if (getBackend() === 'wasm' && !inferOnly) {
    log('GELU kernel before/after');
    results.geluKernel = await geluBeforeAfter();
    log(`GELU: ${JSON.stringify(results.geluKernel)}`);
    save();
  }
}
if (wanted.has('deit') && !inferOnly) {
  log(`tensor growth over ${growthSteps} steps`);
  const small = { ...deitSpec, name: 'vit_w32_d2_32', stem: { block: 'patch_embed', options: { patchSize: 4, embedDim: 32 } }, stages: [{ block: 'class_token' }, { block: 'transformer', depth: 2, options: { numHeads: 2, mlpRatio: 4 } }] };
  results.growth = { model: 'ViT @32 (width 32, 2 blocks; DeiT blocks)', ...(await growth(() => createModelFromSpec(small), 32, growthSteps)) };
  results.growthByFamily = [results.growth];
}
save();
if (wanted.has('t2t')) {
  if (listModels().includes('t2t_vit_7')) {
    results.runs.push(
      await benchModel({
        label: 't2t_vit_7 @224',
        ref: { name: 't2t_vit_7' },
        make: () => createModel('t2t_vit_7', { numClasses: 10 }),
        trainBatch: 8,
        inferBatch: 8,
        size: 224,
        torchArgs: { args: ['--arch', 't2t_vit_7', '--img', '224', '--classes', '10'] },
      }),
    );
  } else {
    results.runs.push({ label: 't2t_vit_7 @224', skipped: 'install @tessera/plugin-t2t to benchmark it' });
  }
}
/** PyTorch arguments for the official UniFormer/FAN modules, or why that column is skipped. */
function officialTorch(arch) {
  const env = process.env;
  if (arch === 'uniformer_small') {
    if (!env.BENCH_UNIFORMER_PY) return 'set BENCH_UNIFORMER_PY to the official uniformer.py (Sense-X/UniFormer image_classification/models/uniformer.py)';
    return { script: 'torch_official.py', args: ['--arch', arch, '--uniformer', env.BENCH_UNIFORMER_PY, '--img', '32', '--classes', '10'] };
  }
  if (!env.BENCH_FAN_DIR || !env.BENCH_TIMM_DIR) return 'set BENCH_FAN_DIR (an NVlabs/FAN checkout) and BENCH_TIMM_DIR (the folder holding timm 0.5.4)';
  return { script: 'torch_official.py', args: ['--arch', arch, '--fan', env.BENCH_FAN_DIR, '--timm', env.BENCH_TIMM_DIR, '--img', '32', '--classes', '10'] };
}
if (wanted.has('uniformer')) {
  if (listModels().includes('uniformer_small')) {
    // The official uniformer_small (21.0 M parameters at 10 classes) on 32 px: 4×4 patches, then 2×2 downsamplings (8, 4, 2, 1 px grids).
    results.runs.push(
      await benchModel({
        label: 'uniformer_small @32',
        ref: { name: 'uniformer_small' },
        make: () => createModel('uniformer_small', { imgSize: 32, numClasses: 10 }),
        trainBatch: 32,
        inferBatch: 64,
        size: 32,
        torchArgs: officialTorch('uniformer_small'),
      }),
    );
    save();
    if (!inferOnly) {
      const { uniformerSpec } = await import('@tessera/plugin-uniformer');
      const smallU = uniformerSpec('uniformer_w16_32', { depths: [1, 1, 1, 1], dims: [16, 32, 32, 32], headDim: 16, mlpRatio: 2, convStem: false, layerScale: null }, { imgSize: 32, numClasses: 10 });
      log(`tensor growth over ${growthSteps} steps (UniFormer blocks)`);
      (results.growthByFamily ??= []).push({ model: 'UniFormer @32 (widths 16-32, 1 block per stage)', ...(await growth(() => createModelFromSpec(smallU), 32, growthSteps)) });
    }
  } else {
    results.runs.push({ label: 'uniformer_small @32', skipped: 'install @tessera/plugin-uniformer to benchmark it' });
  }
  save();
}
if (wanted.has('fan')) {
  let fanViTSpec;
  try {
    ({ fanViTSpec } = await import('@tessera/plugin-fan'));
  } catch {
    results.runs.push({ label: 'FAN-ViT-Tiny p4 @32', skipped: 'install @tessera/plugin-fan to benchmark it' });
  }
  if (fanViTSpec) {
    // fan_tiny_12_p16_224's width, depth and heads with ConvPatchEmbed's 4×4 variant (fan.py supports 16, 8, 4), so 32 px gives 8×8 tokens.
    const spec = fanViTSpec('fan_tiny_12_p4_32', { embedDim: 192, depth: 12, numHeads: 4, patchSize: 4 }, { imgSize: 32, numClasses: 10 });
    results.runs.push(
      await benchModel({ label: 'FAN-ViT-Tiny p4 @32', ref: { name: spec.name, spec }, make: () => createModelFromSpec(spec), trainBatch: 32, inferBatch: 64, size: 32, torchArgs: officialTorch('fan_tiny_p4') }),
    );
    save();
  }
  if (fanViTSpec && !inferOnly) {
    const smallF = fanViTSpec('fan_w32_d2_32', { embedDim: 32, depth: 2, numHeads: 2, patchSize: 4 }, { imgSize: 32, numClasses: 10 });
    log(`tensor growth over ${growthSteps} steps (FAN blocks)`);
    (results.growthByFamily ??= []).push({ model: 'FAN-ViT @32 (width 32, 2 FAN blocks + 2 class-attention blocks)', ...(await growth(() => createModelFromSpec(smallF), 32, growthSteps)) });
    save();
  }
}
if (wanted.has('flexivit')) {
  if (listModels().includes('flexivit_small')) {
    // FlexiViT's parameterisation (big_vision: a 32×32 kernel and a 7×7 position table, PI-resized and resampled on
    // every call) at DeiT-Tiny's width, depth and heads on 32 px, at three patch sizes. PyTorch: a ViT built at that patch size.
    for (const patchSize of [4, 8, 16]) {
      const spec = {
        name: `flexivit_tiny_sized_p${patchSize}_32`,
        imgSize: 32,
        numClasses: 10,
        stem: { block: 'flexi_patch_embed', name: '', options: { patchSize, embedDim: 192, kernelSize: 32, posEmbedGrid: 7, convention: 'big_vision' } },
        stages: [
          { block: 'class_token', name: '', options: { posEmbed: 'none' } },
          { block: 'transformer', name: 'blocks', depth: 12, options: { numHeads: 3 } },
        ],
        head: { block: 'classifier', name: '', options: { numClasses: 10, pool: 'token', norm: 'layer' } },
      };
      results.runs.push(
        await benchModel({
          label: `FlexiViT (DeiT-Tiny-sized) p${patchSize} @32`,
          ref: { name: spec.name, spec },
          make: () => createModelFromSpec(spec),
          trainBatch: 32,
          inferBatch: 64,
          size: 32,
          torchArgs: { script: 'torch_vit.py', args: ['--patch', String(patchSize)] },
        }),
      );
      save();
    }
  } else {
    results.runs.push({ label: 'FlexiViT (3 patch sizes)', skipped: 'install @tessera/plugin-flexivit to benchmark it' });
  }
}
save();
if (inferOnly) {
  console.log(JSON.stringify({ file, loadAtStart: results.loadAtStart, loadAtEnd: load() }));
  process.exit(0);
}
results.pipeline = await pipeline(quick ? 64 : 512);
const slowest224 = results.runs.find((r) => r.imgSize === 224 && r.train);
if (slowest224) {
  const best = Math.max(slowest224.train.imagesPerSecond, slowest224.trainParallel?.imagesPerSecond ?? 0);
  results.pipelineOverTraining224 = Object.fromEntries(Object.entries(results.pipeline).map(([k, v]) => [k, v.loaderImagesPerSecond / best]));
}
results.corruptions = benchCorruptions();
results.peakRssBytes = process.resourceUsage().maxRSS * 1024;
results.loadAtEnd = load();
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify({ file, loadAtStart: results.loadAtStart, loadAtEnd: results.loadAtEnd }));
