/**
 * How hard is the synthetic dataset for a model that sees raw pixels linearly?
 * Trains a nearest-centroid classifier and a softmax (logistic) regression on the
 * raw pixels of the default train split and reports test accuracy; also times
 * generation. Not a test: run with `node bench/synthetic-baseline.mjs` (it bundles
 * this file with esbuild first) or any TypeScript runner.
 *
 * Optional argv: --size N (train size, default 5000), --img S (default 32), --dump DIR
 * (write train/test as raw uint8 + labels for outside tools).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SYNTHETIC_CLASSES, SyntheticDataset } from '../src/data/synthetic.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const trainSize = Number(arg('size', '5000'));
const imgSize = Number(arg('img', '32'));
const dump = arg('dump', '');

function materialise(split: 'train' | 'test', size: number): { x: Float32Array; y: Int32Array; dim: number; ms: number } {
  const t0 = performance.now();
  const ds = new SyntheticDataset({ split, size, imgSize, seed: 0 });
  const dim = ds.height * ds.width * ds.channels;
  const raw = new Uint8Array(size * dim);
  const y = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const { pixels, label } = ds.example(i);
    raw.set(pixels, i * dim);
    y[i] = label;
  }
  const ms = performance.now() - t0;
  if (dump) {
    mkdirSync(dump, { recursive: true });
    writeFileSync(join(dump, `${split}-x.u8`), raw);
    writeFileSync(join(dump, `${split}-y.i32`), new Uint8Array(y.buffer));
  }
  const x = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) x[i] = (raw[i] as number) / 255;
  return { x, y, dim, ms };
}

const train = materialise('train', trainSize);
const test = materialise('test', 1000);
console.log(`generation: ${trainSize} train images in ${train.ms.toFixed(0)} ms, 1000 test in ${test.ms.toFixed(0)} ms (${imgSize}x${imgSize})`);

const K = 10;
const D = train.dim;
const nTrain = train.y.length;
const nTest = test.y.length;

// Standardise features with train statistics (helps both baselines).
const mu = new Float64Array(D);
const sd = new Float64Array(D);
for (let i = 0; i < nTrain; i++) for (let d = 0; d < D; d++) mu[d] = (mu[d] as number) + (train.x[i * D + d] as number) / nTrain;
for (let i = 0; i < nTrain; i++) for (let d = 0; d < D; d++) sd[d] = (sd[d] as number) + ((train.x[i * D + d] as number) - (mu[d] as number)) ** 2 / nTrain;
for (let d = 0; d < D; d++) sd[d] = Math.sqrt(sd[d] as number) + 1e-6;
for (const set of [train, test]) {
  for (let i = 0; i < set.y.length; i++) for (let d = 0; d < D; d++) set.x[i * D + d] = ((set.x[i * D + d] as number) - (mu[d] as number)) / (sd[d] as number);
}

// Nearest centroid.
const centroid = new Float64Array(K * D);
const counts = new Float64Array(K);
for (let i = 0; i < nTrain; i++) {
  const k = train.y[i] as number;
  counts[k] = (counts[k] as number) + 1;
  for (let d = 0; d < D; d++) centroid[k * D + d] = (centroid[k * D + d] as number) + (train.x[i * D + d] as number);
}
for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) centroid[k * D + d] = (centroid[k * D + d] as number) / (counts[k] as number);
let correct = 0;
for (let i = 0; i < nTest; i++) {
  let best = -1;
  let bestDist = Infinity;
  for (let k = 0; k < K; k++) {
    let dist = 0;
    for (let d = 0; d < D; d++) dist += ((test.x[i * D + d] as number) - (centroid[k * D + d] as number)) ** 2;
    if (dist < bestDist) {
      bestDist = dist;
      best = k;
    }
  }
  if (best === test.y[i]) correct++;
}
console.log(`nearest centroid on raw pixels: test accuracy ${((100 * correct) / nTest).toFixed(1)}%`);

// Softmax regression, minibatch SGD with momentum and L2.
const W = new Float64Array(K * D);
const bias = new Float64Array(K);
const vW = new Float64Array(K * D);
const vb = new Float64Array(K);
const lr = 0.002;
const l2 = 1e-3;
const epochs = Number(arg('epochs', '20'));
const batch = 64;
const order = Array.from({ length: nTrain }, (_, i) => i);
const logits = new Float64Array(K);
const gW = new Float64Array(K * D);
const gb = new Float64Array(K);
function forward(x: Float32Array, i: number): void {
  let max = -Infinity;
  for (let k = 0; k < K; k++) {
    let s = bias[k] as number;
    for (let d = 0; d < D; d++) s += (W[k * D + d] as number) * (x[i * D + d] as number);
    logits[k] = s;
    if (s > max) max = s;
  }
  let z = 0;
  for (let k = 0; k < K; k++) {
    logits[k] = Math.exp((logits[k] as number) - max);
    z += logits[k] as number;
  }
  for (let k = 0; k < K; k++) logits[k] = (logits[k] as number) / z;
}
const perClass = new Float64Array(K);
function accuracy(set: { x: Float32Array; y: Int32Array }): number {
  let ok = 0;
  perClass.fill(0);
  for (let i = 0; i < set.y.length; i++) {
    forward(set.x, i);
    let best = 0;
    for (let k = 1; k < K; k++) if ((logits[k] as number) > (logits[best] as number)) best = k;
    if (best === set.y[i]) {
      ok++;
      perClass[best] = (perClass[best] as number) + K / set.y.length;
    }
  }
  return ok / set.y.length;
}
let seed = 12345;
for (let epoch = 0; epoch < epochs; epoch++) {
  for (let i = nTrain - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  for (let s = 0; s < nTrain; s += batch) {
    gW.fill(0);
    gb.fill(0);
    const end = Math.min(nTrain, s + batch);
    for (let b = s; b < end; b++) {
      const i = order[b] as number;
      forward(train.x, i);
      for (let k = 0; k < K; k++) {
        const g = ((logits[k] as number) - (k === train.y[i] ? 1 : 0)) / (end - s);
        gb[k] = (gb[k] as number) + g;
        for (let d = 0; d < D; d++) gW[k * D + d] = (gW[k * D + d] as number) + g * (train.x[i * D + d] as number);
      }
    }
    for (let j = 0; j < K * D; j++) {
      vW[j] = 0.9 * (vW[j] as number) + (gW[j] as number) + l2 * (W[j] as number);
      W[j] = (W[j] as number) - lr * (vW[j] as number);
    }
    for (let k = 0; k < K; k++) {
      vb[k] = 0.9 * (vb[k] as number) + (gb[k] as number);
      bias[k] = (bias[k] as number) - lr * (vb[k] as number);
    }
  }
  if (epoch % 5 === 4 || epoch === epochs - 1) {
    const trainAccuracy = accuracy(train);
    const testAccuracy = accuracy(test);
    const classes = Array.from(perClass, (a, k) => `${SYNTHETIC_CLASSES[k]} ${(100 * a).toFixed(0)}`).join(', ');
    console.log(`logistic regression epoch ${epoch + 1}: train ${(100 * trainAccuracy).toFixed(1)}%, test ${(100 * testAccuracy).toFixed(1)}% (per class: ${classes})`);
  }
}
