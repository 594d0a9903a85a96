import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '@tessera/core';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, openDataset } from '../src/data/index.js';

const root = mkdtempSync(join(tmpdir(), 'tessera-idx-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function idx(dims: number[], data: Uint8Array, magicOverride?: number): Uint8Array {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magicOverride ?? 0x800 + dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

/** n images of rows x cols where pixel p of image i is (i * 31 + p) mod 256, labels i mod 10. */
function images(n: number, rows = 5, cols = 4): Uint8Array {
  return idx([n, rows, cols], Uint8Array.from({ length: n * rows * cols }, (_, k) => (Math.floor(k / (rows * cols)) * 31 + (k % (rows * cols))) % 256));
}
function labels(n: number, values?: number[]): Uint8Array {
  return idx([n], Uint8Array.from(values ?? Array.from({ length: n }, (_, i) => i % 10)));
}

function makeDir(name: string, files: Record<string, Uint8Array>): string {
  const d = join(root, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  for (const [file, content] of Object.entries(files)) writeFileSync(join(d, file), content);
  return d;
}

describe('mnist:<dir> and fashion-mnist:<dir>', () => {
  it('reads raw and gzipped idx files for both splits', async () => {
    const d = makeDir('ok', {
      'train-images-idx3-ubyte': images(7),
      'train-labels-idx1-ubyte.gz': gzipSync(labels(7)),
      't10k-images-idx3-ubyte.gz': gzipSync(images(3)),
      't10k-labels.idx1-ubyte': labels(3, [9, 8, 7]),
    });
    const train = await openDataset(`mnist:${d}`, { split: 'train' });
    expect([train.name, train.length, train.height, train.width, train.channels]).toEqual(['mnist', 7, 5, 4, 1]);
    expect(train.classNames).toEqual(MNIST_CLASSES);
    expect(train.example(6).label).toBe(6);
    expect(Array.from(train.example(2).pixels.subarray(0, 3))).toEqual([62, 63, 64]);
    const test = await openDataset(`fashion-mnist:${d}`, { split: 'test' });
    expect(test.classNames).toEqual(FASHION_MNIST_CLASSES);
    expect(test.name).toBe('fashion-mnist');
    expect([0, 1, 2].map((i) => test.example(i).label)).toEqual([9, 8, 7]);
  });

  it('honours size and imgSize', async () => {
    const d = makeDir('sized', { 't10k-images-idx3-ubyte': images(4), 't10k-labels-idx1-ubyte': labels(4) });
    const ds = await openDataset(`mnist:${d}`, { split: 'test', size: 2, imgSize: 8 });
    expect([ds.length, ds.height, ds.width, ds.example(1).pixels.length]).toEqual([2, 8, 8, 64]);
  });

  it('bad magic numbers are errors naming the file and what was expected', async () => {
    const notIdx = makeDir('notidx', { 't10k-images-idx3-ubyte': Buffer.from('P5\n28 28\n255\n....'), 't10k-labels-idx1-ubyte': labels(1) });
    await expect(openDataset(`mnist:${notIdx}`, { split: 'test' })).rejects.toThrow(/t10k-images-idx3-ubyte is not an IDX file: magic number 0x50350a32/);
    const swapped = makeDir('swapped', { 't10k-images-idx3-ubyte': labels(3), 't10k-labels-idx1-ubyte': labels(3) });
    await expect(openDataset(`mnist:${swapped}`, { split: 'test' })).rejects.toThrow(/t10k-images-idx3-ubyte: IDX magic number 2049 means 1 dimensions; expected 2051/);
    const floats = makeDir('floats', { 't10k-images-idx3-ubyte': images(1, 2, 2), 't10k-labels-idx1-ubyte': idx([1], new Uint8Array(4), 0x0d01) });
    await expect(openDataset(`mnist:${floats}`, { split: 'test' })).rejects.toThrow(/IDX data type 0xd is not supported/);
  });

  it('truncated files are errors saying how many bytes are missing', async () => {
    const full = images(3);
    const d = makeDir('truncated', { 't10k-images-idx3-ubyte.gz': gzipSync(full.subarray(0, full.length - 7)), 't10k-labels-idx1-ubyte': labels(3) });
    const error = await openDataset(`mnist:${d}`, { split: 'test' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect(String(error)).toMatch(/t10k-images-idx3-ubyte\.gz is truncated: header says 3x5x4 = 60 data bytes but only 53 follow the header/);
    const header = makeDir('header', { 't10k-images-idx3-ubyte': full.subarray(0, 10), 't10k-labels-idx1-ubyte': labels(3) });
    await expect(openDataset(`mnist:${header}`, { split: 'test' })).rejects.toThrow(/10 bytes, shorter than its 16-byte IDX header/);
    const gz = gzipSync(full);
    const cut = makeDir('cutgz', { 't10k-images-idx3-ubyte.gz': gz.subarray(0, gz.length - 12), 't10k-labels-idx1-ubyte': labels(3) });
    await expect(openDataset(`mnist:${cut}`, { split: 'test' })).rejects.toThrow(/t10k-images-idx3-ubyte\.gz is a corrupt or truncated gzip file/);
  });

  it('image and label counts must match, labels must be in range', async () => {
    const mismatch = makeDir('mismatch', { 't10k-images-idx3-ubyte': images(3), 't10k-labels-idx1-ubyte': labels(2) });
    await expect(openDataset(`mnist:${mismatch}`, { split: 'test' })).rejects.toThrow(/holds 3 images but .*t10k-labels-idx1-ubyte holds 2 labels/);
    const range = makeDir('range', { 't10k-images-idx3-ubyte': images(2), 't10k-labels-idx1-ubyte': labels(2, [1, 12]) });
    await expect(openDataset(`mnist:${range}`, { split: 'test' })).rejects.toThrow(/label 1 is 12; labels must be in \[0, 9\]/);
  });

  it('missing files name what was looked for', async () => {
    const d = makeDir('testonly', { 't10k-images-idx3-ubyte': images(1), 't10k-labels-idx1-ubyte': labels(1) });
    await expect(openDataset(`mnist:${d}`, { split: 'train' })).rejects.toThrow(/has no train-images-idx3-ubyte \(looked for train-images-idx3-ubyte, train-images-idx3-ubyte\.gz/);
  });
});
