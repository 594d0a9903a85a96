// Training and inference throughput of @tessera/core models on the wasm and cpu backends.
// Runs the built package (dist/): `pnpm build && pnpm bench`.
// Knobs (environment):
//   BENCH_QUICK=1           one timed step/run per case, smaller cpu cases (smoke test, ~1 min)
//   BENCH_BACKENDS=wasm,cpu which backends to run (default both; cpu runs small batches only)
//   BENCH_MODELS=deit,conv  which models (default both)
//   BENCH_BATCH=32          wasm batch size
//   BENCH_STEPS=3           timed training steps on wasm (median reported)
//   BENCH_DEIT_B64=0        skip the DeiT-Tiny batch-64 wasm training case (it shows the step fits the 4 GB heap)
//   BENCH_OUT=path.json     output file (default bench-results/core-bench.json)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { Conv2d, createModel, gelu, LayerNorm, Linear, Module, Rng, setBackend, tf, CORE_VERSION } from '../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const quick = env.BENCH_QUICK === '1';
const backends = (env.BENCH_BACKENDS ?? 'wasm,cpu').split(',').filter(Boolean);
const models = (env.BENCH_MODELS ?? 'deit,conv').split(',').filter(Boolean);
const wasmBatch = Number(env.BENCH_BATCH ?? 32);
const wasmSteps = Number(env.BENCH_STEPS ?? (quick ? 1 : 3));
const outPath = resolve(here, '..', env.BENCH_OUT ?? 'bench-results/core-bench.json');

/** A small conv-heavy classifier (UniFormer-like local stages) built from core's Conv2d: dense, strided, depthwise and grouped. */
class ConvNet extends Module {
  constructor(rng, width = 32, numClasses = 10) {
    super();
    this.stem = this.addModule('stem', new Conv2d(3, width, 3, rng, { stride: 2, padding: 1 }));
    this.blocks = [];
    for (let i = 0; i < 2; i++) {
      const block = {
        dw3: this.addModule(`b${i}_dw3`, new Conv2d(width, width, 3, rng, { padding: 1, groups: width })),
        pw1: this.addModule(`b${i}_pw1`, new Conv2d(width, width * 2, 1, rng)),
        dw5: this.addModule(`b${i}_dw5`, new Conv2d(width * 2, width * 2, 5, rng, { padding: 2, groups: width * 2 })),
        pw2: this.addModule(`b${i}_pw2`, new Conv2d(width * 2, width, 1, rng)),
      };
      this.blocks.push(block);
    }
    this.down = this.addModule('down', new Conv2d(width, width * 2, 2, rng, { stride: 2 }));
    this.grouped = this.addModule('grouped', new Conv2d(width * 2, width * 2, 3, rng, { padding: 1, groups: 4 }));
    this.norm = this.addModule('norm', new LayerNorm(width * 2, rng));
    this.head = this.addModule('head', new Linear(width * 2, numClasses, rng));
  }

  forward(x) {
    return tf.tidy(() => {
      let h = gelu(this.stem.forward(x));
      for (const b of this.blocks) {
        const local = b.pw2.forward(b.dw5.forward(gelu(b.pw1.forward(b.dw3.forward(h)))));
        h = tf.add(h, local);
      }
      h = gelu(this.down.forward(h));
      h = tf.add(h, gelu(this.grouped.forward(h)));
      return this.head.forward(this.norm.forward(tf.mean(h, [1, 2])));
    });
  }
}

function buildModel(name) {
  if (name === 'deit') {
    const model = createModel('deit_tiny_patch16_224', { imgSize: 32, patchSize: 4, numClasses: 10, seed: 0 });
    return { model, forward: (x, training) => model.forward(x, { training }).logits, variables: model.trainableVariables(), params: model.numParameters?.() };
  }
  const model = new ConvNet(new Rng(0));
  return { model, forward: (x) => model.forward(x), variables: model.trainableVariables(), params: model.numParameters?.() };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function batchOf(size, seed) {
  return tf.tidy(() => ({
    images: tf.randomNormal([size, 32, 32, 3], 0, 1, 'float32', seed),
    labels: tf.oneHot(tf.randomUniform([size], 0, 10, 'int32', seed + 1), 10),
  }));
}

function memorySampler() {
  let peakBytes = 0;
  let peakRss = 0;
  return {
    sample() {
      peakBytes = Math.max(peakBytes, tf.memory().numBytes);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    },
    get peakBytes() {
      return peakBytes;
    },
    get peakRss() {
      return peakRss;
    },
  };
}

async function trainCase(modelName, backend, batch, warmup, steps) {
  const { model, forward, variables } = buildModel(modelName);
  const optimizer = tf.train.adam(1e-3);
  const { images, labels } = batchOf(batch, 1);
  const mem = memorySampler();
  const losses = [];
  const times = [];
  const cpuTimes = [];
  const tensorCounts = [];
  for (let step = 0; step < warmup + steps; step++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const loss = optimizer.minimize(
      () => {
        const l = tf.losses.softmaxCrossEntropy(labels, forward(images, true));
        // The tape holds every saved activation here: the step's memory high-water mark.
        mem.sample();
        return l;
      },
      true,
      variables,
    );
    const value = loss.dataSync()[0];
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    loss.dispose();
    losses.push(value);
    if (step >= warmup) {
      times.push(ms);
      cpuTimes.push((cpu.user + cpu.system) / 1000);
    }
    tensorCounts.push(tf.memory().numTensors);
    mem.sample();
    process.stderr.write(`  ${backend} ${modelName} train b${batch} step ${step}${step < warmup ? ' (warm-up)' : ''}: ${(ms / 1000).toFixed(2)} s, loss ${value.toFixed(5)}\n`);
  }
  // One more step under tf.profile: its peakBytes is the true high-water mark, backward pass included.
  const profile = await tf.profile(() => {
    optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, forward(images, true)), true, variables).dispose();
  });
  mem.sample();
  optimizer.dispose();
  tf.dispose([images, labels]);
  model.dispose();
  const s = median(times) / 1000;
  return {
    model: modelName,
    backend,
    mode: 'train',
    batch,
    warmupSteps: warmup,
    stepSeconds: times.map((t) => +(t / 1000).toFixed(3)),
    medianStepSeconds: +s.toFixed(3),
    // This process's CPU time per step: steadier than wall time when other jobs share the cores.
    medianStepCpuSeconds: +(median(cpuTimes) / 1000).toFixed(3),
    imagesPerSecond: +(batch / s).toFixed(2),
    losses: losses.map((l) => +l.toFixed(6)),
    tensorCountStable: new Set(tensorCounts.slice(1)).size === 1,
    peakTfBytesAfterForward: mem.peakBytes,
    peakTfBytes: profile.peakBytes,
    // The wasm heap never shrinks, so this is the process high-water mark up to and including this case.
    processRssHighWaterBytes: mem.peakRss,
  };
}

function inferCase(modelName, backend, batch, warmup, runs) {
  const { model, forward } = buildModel(modelName);
  const { images, labels } = batchOf(batch, 2);
  const mem = memorySampler();
  const times = [];
  const cpuTimes = [];
  for (let r = 0; r < warmup + runs; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const logits = tf.tidy(() => {
      const y = forward(images, false);
      mem.sample();
      return y;
    });
    logits.dataSync();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    logits.dispose();
    if (r >= warmup) {
      times.push(ms);
      cpuTimes.push((cpu.user + cpu.system) / 1000);
    }
  }
  tf.dispose([images, labels]);
  model.dispose();
  const s = median(times) / 1000;
  process.stderr.write(`  ${backend} ${modelName} infer b${batch}: ${(s * 1000).toFixed(1)} ms/batch\n`);
  return {
    model: modelName,
    backend,
    mode: 'infer',
    batch,
    runSeconds: times.map((t) => +(t / 1000).toFixed(4)),
    medianSeconds: +s.toFixed(4),
    medianCpuSeconds: +(median(cpuTimes) / 1000).toFixed(4),
    imagesPerSecond: +(batch / s).toFixed(1),
    peakTfBytes: mem.peakBytes,
    // The wasm heap never shrinks, so this is the process high-water mark up to and including this case.
    processRssHighWaterBytes: mem.peakRss,
  };
}

const loadAverageAtStart = os.loadavg();
const results = [];
const started = performance.now();
for (const backend of backends) {
  await setBackend(backend);
  for (const modelName of models) {
    if (backend === 'wasm') {
      results.push(await trainCase(modelName, backend, wasmBatch, 1, wasmSteps));
      results.push(inferCase(modelName, backend, wasmBatch, 1, quick ? 2 : 5));
      // Batch 64 DeiT-Tiny used to overflow the 4 GB wasm heap; this case shows it now fits.
      if (modelName === 'deit' && !quick && env.BENCH_DEIT_B64 !== '0') results.push(await trainCase(modelName, backend, 64, 1, 1));
    } else {
      // tfjs-cpu is plain JS (about 1 GFLOP/s): a DeiT-Tiny step at batch 32 takes minutes, so cpu gets small batches.
      const batch = modelName === 'deit' ? (quick ? 2 : 4) : quick ? 4 : 8;
      results.push(await trainCase(modelName, backend, batch, 1, quick ? 1 : 2));
      results.push(inferCase(modelName, backend, batch, 1, quick ? 1 : 3));
    }
  }
}

// Same-batch wasm vs cpu ratios, where both ran.
const ratios = [];
for (const r of results.filter((x) => x.backend === 'cpu')) {
  const w = results.find((x) => x.backend === 'wasm' && x.model === r.model && x.mode === r.mode && x.batch === wasmBatch);
  if (w) ratios.push({ model: r.model, mode: r.mode, wasmOverCpuImagesPerSecond: +(w.imagesPerSecond / r.imagesPerSecond).toFixed(1), note: `wasm b${w.batch} vs cpu b${r.batch}` });
}

const report = {
  package: '@tessera/core',
  version: CORE_VERSION,
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  loadAverageAtStart,
  loadAverageAtEnd: os.loadavg(),
  quick,
  tfjs: tf.version_core,
  results,
  ratios,
  totalSeconds: +((performance.now() - started) / 1000).toFixed(1),
};
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify({ results: results.map(({ stepSeconds, runSeconds, losses, ...r }) => r), ratios }, null, 2));
console.log(`wrote ${outPath} (${report.totalSeconds} s)`);
