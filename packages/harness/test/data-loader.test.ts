import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Rng, setBackend, tf } from '@tessera/core';
import { BatchLoader, InMemoryDataset, SyntheticDataset, type ImageDataset, type LoaderOptions, type LoaderState } from '../src/data/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

/** n single-pixel-per-example images whose every byte is the example index, label index mod 3. */
function indexDataset(n: number, side = 2, channels: 1 | 3 = 1): ImageDataset {
  const per = side * side * channels;
  const pixels = Uint8Array.from({ length: n * per }, (_, k) => Math.floor(k / per));
  return new InMemoryDataset('index', ['a', 'b', 'c'], side, side, channels, pixels, Uint8Array.from({ length: n }, (_, i) => i % 3));
}

function options(overrides: Partial<LoaderOptions> = {}): LoaderOptions {
  return { batchSize: 4, shuffle: true, rng: new Rng(7), targetSize: [2, 2], channels: 1, mean: [0], std: [1], ...overrides };
}

/** Reads a batch into plain arrays and disposes the tensor. */
function take(loader: BatchLoader): { images: Float32Array; shape: number[]; labels: number[] } | null {
  const batch = loader.next();
  if (batch === null) return null;
  const out = { images: batch.images.dataSync() as Float32Array, shape: batch.images.shape, labels: Array.from(batch.labels) };
  batch.images.dispose();
  return out;
}

/** Example ids of a batch from indexDataset (pixel value * 255 recovers the id with mean 0, std 1). */
function ids(batch: { images: Float32Array; shape: number[] }): number[] {
  const per = batch.images.length / (batch.shape[0] as number);
  return Array.from({ length: batch.shape[0] as number }, (_, b) => Math.round((batch.images[b * per] as number) * 255));
}

describe('BatchLoader order and epochs', () => {
  it('visits every example exactly once per epoch, ends with null, and reshuffles on nextEpoch', () => {
    const loader = new BatchLoader(indexDataset(10), options());
    expect(loader.batchesPerEpoch).toBe(3);
    const epochs: number[][] = [];
    for (let e = 0; e < 2; e++) {
      const seen: number[] = [];
      const sizes: number[] = [];
      for (let batch = take(loader); batch !== null; batch = take(loader)) {
        seen.push(...ids(batch));
        sizes.push(batch.shape[0] as number);
        expect(batch.labels).toEqual(ids(batch).map((i) => i % 3));
      }
      expect(sizes).toEqual([4, 4, 2]);
      expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      epochs.push(seen);
      expect(loader.next()).toBeNull();
      loader.nextEpoch();
    }
    expect(epochs[0]).not.toEqual(epochs[1]);
  });

  it('keeps dataset order without shuffle and drops the short batch with dropLast', () => {
    const loader = new BatchLoader(indexDataset(10), options({ shuffle: false, dropLast: true }));
    expect(loader.batchesPerEpoch).toBe(2);
    expect(ids(take(loader)!)).toEqual([0, 1, 2, 3]);
    expect(ids(take(loader)!)).toEqual([4, 5, 6, 7]);
    expect(take(loader)).toBeNull();
  });

  it('the same seed gives the same batches; another seed another order', () => {
    const run = (seed: number): number[][] => {
      const loader = new BatchLoader(indexDataset(12), options({ rng: new Rng(seed), randomFlip: true }));
      return [take(loader)!, take(loader)!, take(loader)!].map(ids);
    };
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
  });

  it('restoring getState() reproduces the following batches bit for bit, across epoch ends', () => {
    const dataset = new SyntheticDataset({ split: 'train', size: 23, imgSize: 8 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 12 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (batchSize, consumed, shuffle, crop, flip) => {
          const opts = (): LoaderOptions => ({
            batchSize,
            shuffle,
            rng: new Rng(11),
            targetSize: [6, 6],
            channels: 3,
            mean: [0.5, 0.4, 0.3],
            std: [0.2, 0.3, 0.4],
            ...(crop && { randomCrop: { padding: 2 } }),
            randomFlip: flip,
          });
          const original = new BatchLoader(dataset, opts());
          const advance = (loader: BatchLoader): ReturnType<typeof take> => {
            const batch = take(loader);
            if (batch !== null) return batch;
            loader.nextEpoch();
            return take(loader);
          };
          for (let k = 0; k < consumed; k++) advance(original);
          const state = JSON.parse(JSON.stringify(original.getState())) as LoaderState;
          const resumed = BatchLoader.restore(dataset, opts(), state);
          for (let k = 0; k < 6; k++) {
            const a = advance(original)!;
            const b = advance(resumed)!;
            expect(b.shape).toEqual(a.shape);
            expect(b.labels).toEqual(a.labels);
            expect(Buffer.from(b.images.buffer).equals(Buffer.from(a.images.buffer))).toBe(true);
          }
          expect(resumed.getState()).toEqual(original.getState());
        },
      ),
      { seed: 42, numRuns: 25 },
    );
  });

  it('restore does not draw from the options rng; construction forks it once', () => {
    const rng = new Rng(5);
    const before = rng.getState();
    const loader = new BatchLoader(indexDataset(6), options({ rng }));
    const afterConstruct = rng.getState();
    expect(afterConstruct).not.toEqual(before);
    BatchLoader.restore(indexDataset(6), options({ rng }), loader.getState());
    expect(rng.getState()).toEqual(afterConstruct);
  });
});

describe('BatchLoader augmentation and normalisation', () => {
  const H = 4;
  const W = 5;
  // One RGB image whose pixel (y, x, c) is 1 + 50 c + 10 y + x: every value distinct and non-zero.
  const image = Uint8Array.from({ length: H * W * 3 }, (_, k) => {
    const c = k % 3;
    const p = Math.floor(k / 3);
    return 1 + 50 * c + 10 * Math.floor(p / W) + (p % W);
  });
  const single = new InMemoryDataset('one', ['only'], H, W, 3, image, new Uint8Array([0]));

  /** The crop-then-flip of the test image, in pixel values, computed independently. */
  function expected(dy: number, dx: number, flip: boolean): number[] {
    const out: number[] = [];
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const cx = flip ? W - 1 - x : x;
        const sy = y + dy;
        const sx = cx + dx;
        for (let c = 0; c < 3; c++) out.push(sy < 0 || sy >= H || sx < 0 || sx >= W ? 0 : (image[(sy * W + sx) * 3 + c] as number));
      }
    }
    return out;
  }

  it('every output is a zero-padded crop (offsets within the padding), maybe flipped, and all of them occur', () => {
    const candidates = new Map<string, string>();
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) for (const flip of [false, true]) candidates.set(expected(dy, dx, flip).join(','), `${dy},${dx},${flip}`);
    const loader = new BatchLoader(single, { batchSize: 1, shuffle: true, rng: new Rng(1), targetSize: [H, W], channels: 3, mean: [0, 0, 0], std: [1, 1, 1], randomCrop: { padding: 1 }, randomFlip: true });
    const seen = new Map<string, number>();
    for (let step = 0; step < 400; step++) {
      let batch = take(loader);
      if (batch === null) {
        loader.nextEpoch();
        batch = take(loader)!;
      }
      const pixels = Array.from(batch.images, (v) => Math.round(v * 255)).join(',');
      const which = candidates.get(pixels);
      expect(which).toBeDefined();
      seen.set(which!, (seen.get(which!) ?? 0) + 1);
    }
    expect(seen.size).toBe(18);
    const flips = [...seen].filter(([k]) => k.endsWith('true')).reduce((s, [, n]) => s + n, 0);
    expect(flips).toBeGreaterThan(150);
    expect(flips).toBeLessThan(250);
  });

  it('normalises (x / 255 - mean) / std per channel, padding included', () => {
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const plain = new BatchLoader(single, { batchSize: 1, shuffle: false, rng: new Rng(0), targetSize: [H, W], channels: 3, mean, std });
    const batch = take(plain)!;
    expect(batch.shape).toEqual([1, H, W, 3]);
    // Tolerance 1e-6: float32 storage of the float64 value.
    image.forEach((v, k) => expect(Math.abs((batch.images[k] as number) - (v / 255 - (mean[k % 3] as number)) / (std[k % 3] as number))).toBeLessThan(1e-6));
    // Hand-computed: pixel (0,0) red is 1 -> (0.0039216 - 0.485) / 0.229 = -2.100779
    expect(batch.images[0]).toBeCloseTo(-2.100779, 5);

    const padded = new BatchLoader(single, { batchSize: 1, shuffle: false, rng: new Rng(0), targetSize: [H, W], channels: 3, mean, std, randomCrop: { padding: 8 } });
    const values = take(padded)!.images;
    // With padding 8 > the image size some crops are all padding; padding is black in pixel space.
    const zero = mean.map((m, c) => Math.fround(-m / (std[c] as number)));
    expect(Array.from(values).some((v, k) => v === zero[k % 3])).toBe(true);
  });

  it('converts grey to RGB and RGB to luma, and resizes to targetSize', () => {
    const grey = new InMemoryDataset('grey', ['x'], 2, 2, 1, new Uint8Array([0, 51, 102, 255]), new Uint8Array([0]));
    const rgb = take(new BatchLoader(grey, { batchSize: 1, shuffle: false, rng: new Rng(0), targetSize: [2, 2], channels: 3, mean: [0], std: [1] }))!;
    expect(rgb.shape).toEqual([1, 2, 2, 3]);
    expect(Array.from(rgb.images, (v) => Math.round(v * 255))).toEqual([0, 0, 0, 51, 51, 51, 102, 102, 102, 255, 255, 255]);
    const colour = new InMemoryDataset('colour', ['x'], 1, 1, 3, new Uint8Array([100, 200, 50]), new Uint8Array([0]));
    const luma = take(new BatchLoader(colour, { batchSize: 1, shuffle: false, rng: new Rng(0), targetSize: [1, 1], channels: 1, mean: [0], std: [1] }))!;
    expect(luma.images[0]! * 255).toBeCloseTo(0.299 * 100 + 0.587 * 200 + 0.114 * 50, 3);
    const big = take(new BatchLoader(grey, { batchSize: 1, shuffle: false, rng: new Rng(0), targetSize: [4, 4], channels: 1, mean: [0], std: [1] }))!;
    expect(big.shape).toEqual([1, 4, 4, 1]);
    // Half-pixel bilinear: output (0,1) sits at input x = 0.25 -> 0.75*0 + 0.25*51 on row 0.
    expect(big.images[1]! * 255).toBeCloseTo(12.75, 3);
  });

  it('leaks no tensors across many batches and epochs', () => {
    const loader = new BatchLoader(new SyntheticDataset({ split: 'test', size: 20, imgSize: 8 }), {
      batchSize: 6, shuffle: true, rng: new Rng(2), targetSize: [8, 8], channels: 3, mean: [0.5], std: [0.25], randomCrop: { padding: 1 }, randomFlip: true,
    });
    take(loader);
    const before = tf.memory().numTensors;
    for (let k = 0; k < 30; k++) {
      if (take(loader) === null) loader.nextEpoch();
    }
    expect(tf.memory().numTensors).toBe(before);
    const values = take(loader)!.images;
    expect(values.every((v) => Number.isFinite(v))).toBe(true);
  });

  it('rejects bad options before producing anything, naming the option', () => {
    const ds = indexDataset(5);
    expect(() => new BatchLoader(ds, options({ batchSize: 0 }))).toThrow(/batchSize = 0/);
    expect(() => new BatchLoader(ds, options({ batchSize: 6, dropLast: true }))).toThrow(/batchSize = 6.*at most 5/);
    expect(() => new BatchLoader(ds, options({ channels: 3, mean: [0, 0], std: [1, 1, 1] }))).toThrow(/mean = \[0, 0\].*1 or 3 finite numbers/);
    expect(() => new BatchLoader(ds, options({ std: [0] }))).toThrow(/std = \[0\].*> 0/);
    expect(() => new BatchLoader(ds, options({ targetSize: [2, 0] }))).toThrow(/targetSize\[1\] = 0/);
    expect(() => new BatchLoader(ds, options({ randomCrop: { padding: -1 } }))).toThrow(/randomCrop.padding = -1/);
    expect(() => new BatchLoader(ds, options({ rng: 7 as never }))).toThrow(InvalidArgumentError);
    const loader = new BatchLoader(ds, options());
    expect(() => BatchLoader.restore(ds, options(), { ...loader.getState(), position: 9 })).toThrow(/state.position = 9/);
    expect(() => BatchLoader.restore(ds, options(), { ...loader.getState(), rng: { algorithm: 'mt', state: [] } as never })).toThrow(/rng state/);
  });
});
