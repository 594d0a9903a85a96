import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@tessera/core';
import { openDataset, SYNTHETIC_CLASSES, SyntheticDataset, type ImageDataset } from '../src/data/index.js';

function bytesOf(dataset: ImageDataset, indices: readonly number[]): Uint8Array[] {
  return indices.map((i) => Uint8Array.from(dataset.example(i).pixels));
}

describe('synthetic dataset', () => {
  it('has the documented defaults: 10 named classes, 32x32 RGB, 5000 train / 1000 test', async () => {
    const train = await openDataset('synthetic', { split: 'train' });
    const test = await openDataset('synthetic', { split: 'test' });
    expect(train.classNames).toEqual(SYNTHETIC_CLASSES);
    expect(train.numClasses).toBe(10);
    expect([train.height, train.width, train.channels]).toEqual([32, 32, 3]);
    expect([train.length, test.length]).toEqual([5000, 1000]);
    expect(train.example(0).pixels.length).toBe(32 * 32 * 3);
  });

  it('the same seed gives identical bytes, whatever the access order', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.constantFrom<'train' | 'test'>('train', 'test'), (seed, split) => {
        const a = new SyntheticDataset({ split, seed, size: 40 });
        const b = new SyntheticDataset({ split, seed, size: 40 });
        const forward = bytesOf(a, [0, 1, 2, 17, 39]);
        const backward = bytesOf(b, [39, 17, 2, 1, 0]).reverse();
        expect(forward).toEqual(backward);
        expect(a.example(17).label).toBe(b.example(17).label);
      }),
      { seed: 42, numRuns: 8 },
    );
  });

  it('a different seed or split gives different images', () => {
    const base = bytesOf(new SyntheticDataset({ split: 'train', seed: 1, size: 20 }), [0, 5, 19]);
    const otherSeed = bytesOf(new SyntheticDataset({ split: 'train', seed: 2, size: 20 }), [0, 5, 19]);
    const otherSplit = bytesOf(new SyntheticDataset({ split: 'test', seed: 1, size: 20 }), [0, 5, 19]);
    for (let k = 0; k < 3; k++) {
      expect(Buffer.compare(base[k] as Uint8Array, otherSeed[k] as Uint8Array)).not.toBe(0);
      expect(Buffer.compare(base[k] as Uint8Array, otherSplit[k] as Uint8Array)).not.toBe(0);
    }
  });

  it('classes are balanced to within one example for any size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), (size) => {
        const ds = new SyntheticDataset({ split: 'train', size });
        const counts = new Array<number>(10).fill(0);
        for (let i = 0; i < size; i++) counts[(ds as SyntheticDataset).labelOf(i)]! += 1;
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        expect(ds.example(size - 1).label).toBe(ds.labelOf(size - 1));
      }),
      { seed: 42, numRuns: 20 },
    );
  });

  it('renders at any imgSize and honours size', async () => {
    const ds = await openDataset('synthetic', { split: 'test', imgSize: 48, size: 12, seed: 3 });
    expect([ds.height, ds.width, ds.length]).toEqual([48, 48, 12]);
    const { pixels } = ds.example(11);
    expect(pixels.length).toBe(48 * 48 * 3);
    // Not a blank canvas: a shape or texture covers part of it.
    expect(new Set(pixels).size).toBeGreaterThan(20);
  });

  it('colour and position are nuisance: a nearest-centroid classifier on raw pixels stays near chance', () => {
    const train = new SyntheticDataset({ split: 'train', size: 1000 });
    const test = new SyntheticDataset({ split: 'test', size: 300 });
    const D = 32 * 32 * 3;
    const centroids = Array.from({ length: 10 }, () => new Float64Array(D));
    for (let i = 0; i < train.length; i++) {
      const { pixels, label } = train.example(i);
      const c = centroids[label] as Float64Array;
      for (let d = 0; d < D; d++) c[d] = (c[d] as number) + (pixels[d] as number) / 100;
    }
    let correct = 0;
    for (let i = 0; i < test.length; i++) {
      const { pixels, label } = test.example(i);
      let best = -1;
      let bestDistance = Infinity;
      centroids.forEach((c, k) => {
        let distance = 0;
        for (let d = 0; d < D; d++) distance += ((pixels[d] as number) - (c[d] as number)) ** 2;
        if (distance < bestDistance) [best, bestDistance] = [k, distance];
      });
      if (best === label) correct++;
    }
    // Chance is 0.10. Measured 0.167 (50 of 300; the seeds make it exact): the silhouettes leave a little signal in the
    // mean pixels. 0.20 keeps 10 examples of margin, and a generator whose figure colour carries the class reaches 0.34.
    expect(correct / test.length).toBeLessThan(0.2);
  });

  it('rejects a bad index, size, imgSize or seed, naming the parameter', async () => {
    const ds = new SyntheticDataset({ split: 'train', size: 5 });
    expect(() => ds.example(5)).toThrow(/example index = 5.*\[0, 4\]/);
    expect(() => ds.example(-1)).toThrow(InvalidArgumentError);
    await expect(openDataset('synthetic', { split: 'train', size: 0 })).rejects.toThrow(/size = 0/);
    await expect(openDataset('synthetic', { split: 'train', imgSize: 2.5 })).rejects.toThrow(/imgSize = 2.5/);
    await expect(openDataset('synthetic', { split: 'train', seed: 0.5 })).rejects.toThrow(/seed = 0.5/);
    await expect(openDataset('synthetic', { split: 'validation' as never })).rejects.toThrow(/split = "validation"/);
  });

  it('rejects unknown dataset specs with the list of accepted ones', async () => {
    await expect(openDataset('imagenet', { split: 'train' })).rejects.toThrow(/dataset = "imagenet".*synthetic, cifar10:<dir>, mnist:<dir>, fashion-mnist:<dir>, folder:<dir>/);
    await expect(openDataset('cifar10', { split: 'train' })).rejects.toThrow(/cifar10:<dir>, with the directory after the colon/);
    await expect(openDataset('mnist:', { split: 'train' })).rejects.toThrow(/mnist:<dir>/);
  });
});
