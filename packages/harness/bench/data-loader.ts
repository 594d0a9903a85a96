/**
 * Loader throughput: images/s for 32x32 synthetic batches of 128 with crop, flip and
 * normalisation, on the wasm backend (tensor creation included, tensors disposed).
 * Also times synthetic generation. Run: node bench/data-loader.mjs [--backend cpu]
 */
import { Rng, setBackend } from '@tessera/core';
import { BatchLoader, SyntheticDataset } from '../src/data/index.js';

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

const backendArg = process.argv.indexOf('--backend');
await setBackend((backendArg >= 0 ? process.argv[backendArg + 1] : 'wasm') as 'wasm' | 'cpu');

// CPU time as well as wall time: on a shared machine the wall clock mostly measures the neighbours.
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const train = new SyntheticDataset({ split: 'train', size: 5000 });
const test = new SyntheticDataset({ split: 'test', size: 1000 });
for (let i = 0; i < train.length; i++) train.example(i);
for (let i = 0; i < test.length; i++) test.example(i);
const genMs = performance.now() - t0;
const genCpuMs = cpuMs(cpu0);
console.log(`synthetic generation: 6000 images 32x32 in ${genMs.toFixed(0)} ms wall, ${genCpuMs.toFixed(0)} ms CPU (${((6000 / genCpuMs) * 1000).toFixed(0)} images per CPU second)`);

for (const augment of [true, false]) {
  const loader = new BatchLoader(train, {
    batchSize: 128,
    shuffle: true,
    rng: new Rng(0),
    targetSize: [32, 32],
    channels: 3,
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    ...(augment && { randomCrop: { padding: 4 }, randomFlip: true }),
  });
  let images = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  for (let epoch = 0; epoch < 3; epoch++) {
    for (let batch = loader.next(); batch !== null; batch = loader.next()) {
      images += batch.labels.length;
      batch.images.dispose();
    }
    loader.nextEpoch();
  }
  const seconds = (performance.now() - start) / 1000;
  console.log(`loader 32x32 batch 128 ${augment ? 'crop+flip+normalise' : 'normalise only'}: ${(images / seconds).toFixed(0)} images/s wall, ${((images / cpuMs(cpuStart)) * 1000).toFixed(0)} images per CPU second (${images} images)`);
}

const upscale = new BatchLoader(test, { batchSize: 128, shuffle: true, rng: new Rng(0), targetSize: [64, 64], channels: 3, mean: [0.5], std: [0.25], randomFlip: true });
let images = 0;
const start = performance.now();
for (let batch = upscale.next(); batch !== null; batch = upscale.next()) {
  images += batch.labels.length;
  batch.images.dispose();
}
console.log(`loader 32x32 -> 64x64 resize, batch 128: ${(images / ((performance.now() - start) / 1000)).toFixed(0)} images/s`);
