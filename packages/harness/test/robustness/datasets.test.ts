import { closeSync, mkdirSync, openSync, ftruncateSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { InMemoryDataset } from '../../src/data/index.js';
import { CIFAR10_CLASSES } from '../../src/data/cifar10.js';
import { Cifar10C, CorruptedDataset, corruptPixels, parseNpyHeader, SubsetDataset, subsetIndices } from '../../src/robustness/datasets.js';
import { tempDir } from '../helpers.js';

/** A version-1 .npy header for `descr` and `shape`, padded to 64 bytes as NumPy writes it. */
function npyHeader(descr: string, shape: number[]): Uint8Array {
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const bytes = new Uint8Array(total);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(bytes.buffer).setUint16(8, dict.length, true);
  bytes.set(new TextEncoder().encode(dict), 10);
  return bytes;
}

describe('released CIFAR-10-C files', () => {
  test('parseNpyHeader reads dtype, shape and the data offset', () => {
    const h = parseNpyHeader(npyHeader('|u1', [50000, 32, 32, 3]));
    expect(h).toEqual({ descr: '|u1', fortranOrder: false, shape: [50000, 32, 32, 3], dataOffset: 128 });
    expect(() => parseNpyHeader(new Uint8Array(20), 'x.npy')).toThrow(/x\.npy: not a NumPy/);
  });

  test('reads image i of severity s at row (s − 1)·10000 + i, with its label', () => {
    const dir = tempDir('cifar10c');
    const labels = new Uint8Array(50000).map((_, i) => (i * 7) % 10);
    writeFileSync(join(dir, 'labels.npy'), Buffer.concat([npyHeader('|u1', [50000]), labels]));
    // A sparse 150 MB file: only the rows the test reads are written.
    const header = npyHeader('|u1', [50000, 32, 32, 3]);
    const fd = openSync(join(dir, 'fog.npy'), 'w');
    writeSync(fd, header, 0, header.length, 0);
    ftruncateSync(fd, header.length + 50000 * 3072);
    const row = (s: number, i: number) => new Uint8Array(3072).fill(10 * s + i);
    for (const [s, i] of [[1, 3], [4, 3], [4, 9999]] as const) writeSync(fd, row(s, i), 0, 3072, header.length + ((s - 1) * 10000 + i) * 3072);
    closeSync(fd);
    const c = new Cifar10C(dir);
    const ds = c.dataset('fog', 4, Int32Array.from([3, 9999]), CIFAR10_CLASSES);
    expect(ds.example(0).pixels[100]).toBe(43);
    expect(ds.example(0).label).toBe(1);
    expect(ds.example(1).pixels[0]).toBe((40 + 9999) & 255);
    expect(c.dataset('fog', 1, Int32Array.from([3]), CIFAR10_CLASSES).example(0).pixels[5]).toBe(13);
    expect(() => c.dataset('snow', 1, Int32Array.from([0]), CIFAR10_CLASSES)).toThrow(/snow\.npy/);
    mkdirSync(join(dir, 'empty'));
    expect(() => new Cifar10C(join(dir, 'empty'))).toThrow(/labels\.npy/);
  });
});

describe('subsets and on-the-fly corruption', () => {
  test('subsetIndices is a seeded, sorted sample without repeats', () => {
    const a = subsetIndices(1000, 50, 1);
    expect(a).toEqual(subsetIndices(1000, 50, 1));
    expect(a).not.toEqual(subsetIndices(1000, 50, 2));
    expect(new Set(a).size).toBe(50);
    expect([...a]).toEqual([...a].sort((x, y) => x - y));
    expect(subsetIndices(10, undefined, 0)).toEqual(Int32Array.from({ length: 10 }, (_, i) => i));
  });

  test('an image gets the same corruption whatever subset it is drawn in', () => {
    const pixels = new Uint8Array(6 * 8 * 8 * 3).map((_, i) => (i * 37) % 256);
    const base = new InMemoryDataset('toy', ['a', 'b'], 8, 8, 3, pixels, Uint8Array.from([0, 1, 0, 1, 0, 1]));
    const full = new CorruptedDataset(base, 'gaussian_noise', 3, { seed: 9 });
    const indices = Int32Array.from([2, 5]);
    const part = new CorruptedDataset(new SubsetDataset(base, indices), 'gaussian_noise', 3, { seed: 9, sourceIndex: (i) => indices[i]! });
    expect(part.example(1).pixels).toEqual(full.example(5).pixels);
    expect(part.example(1).label).toBe(1);
    expect(part.example(0).pixels).not.toEqual(base.example(2).pixels);
    // Gray images are corrupted as RGB and stored back as luma.
    const gray = corruptPixels(new Uint8Array(64).fill(128), 8, 8, 1, 'brightness', 5, 0);
    expect(gray.length).toBe(64);
    expect(gray[0]).toBeGreaterThan(128);
  });
});
