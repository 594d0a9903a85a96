// The data-pipeline usage example of the README, run as written.
import { expect, it } from 'vitest';
import { Rng, setBackend, tf } from '@tessera/core';
import { BatchLoader, openDataset } from '../src/data/index.js';

it('README data example: open the synthetic dataset and iterate augmented, normalised batches', async () => {
  await setBackend('wasm');
  const lines: string[] = [];
  const log = (line: string): void => void lines.push(line);

  // --- README example start ---
  const train = await openDataset('synthetic', { split: 'train', size: 512, seed: 0 });
  const loader = new BatchLoader(train, {
    batchSize: 128,
    shuffle: true,
    rng: new Rng(0),
    targetSize: [32, 32],
    channels: 3,
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    randomCrop: { padding: 4 },
    randomFlip: true,
  });
  for (let epoch = 0; epoch < 2; epoch++) {
    for (let batch = loader.next(); batch !== null; batch = loader.next()) {
      log(`epoch ${epoch}: images ${batch.images.shape.join('x')}, first label ${train.classNames[batch.labels[0]!]}`);
      batch.images.dispose();
    }
    loader.nextEpoch();
  }
  const saved = loader.getState(); // store it in a checkpoint; BatchLoader.restore(train, options, saved) resumes exactly
  // --- README example end ---

  expect(lines).toHaveLength(8);
  expect(lines[0]).toMatch(/^epoch 0: images 128x32x32x3, first label (circle|square|triangle|cross|ring|diamond|stripes-h|stripes-v|checker|dots)$/);
  expect(saved).toMatchObject({ epoch: 2, position: 0 });
  expect(tf.memory().numTensors).toBe(0);
});
