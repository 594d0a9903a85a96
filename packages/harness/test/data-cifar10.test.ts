import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '@tessera/core';
import { CIFAR10_CLASSES, openDataset } from '../src/data/index.js';

const RECORD = 3073;
const root = mkdtempSync(join(tmpdir(), 'tessera-cifar-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A record whose R, G and B planes encode (record, pixel) so the HWC transposition can be checked. */
function record(label: number, id: number): Uint8Array {
  const r = new Uint8Array(RECORD);
  r[0] = label;
  for (let p = 0; p < 1024; p++) {
    r[1 + p] = (id * 7 + p) % 256;
    r[1 + 1024 + p] = (p >> 2) % 256;
    r[1 + 2048 + p] = (255 - id) % 256;
  }
  return r;
}

function batch(records: Uint8Array[]): Buffer {
  return Buffer.concat(records);
}


function makeDir(name: string): string {
  const d = join(root, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  return d;
}

describe('cifar10:<dir>', () => {
  it('reads raw, gzipped and infixed partial batches in order, HWC, with meta class names', async () => {
    const d = makeDir('ok');
    writeFileSync(join(d, 'data_batch_1.bin'), batch([record(3, 0), record(9, 1)]));
    writeFileSync(join(d, 'data_batch_2.first3.bin.gz'), gzipSync(batch([record(0, 2), record(1, 3), record(2, 4)])));
    writeFileSync(join(d, 'data_batch_2.labels.u8'), new Uint8Array(10000)); // ignored: not a batch
    writeFileSync(join(d, 'test_batch'), gzipSync(batch([record(5, 9)])));
    writeFileSync(join(d, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n');
    const train = await openDataset(`cifar10:${d}`, { split: 'train' });
    expect([train.name, train.length, train.height, train.width, train.channels]).toEqual(['cifar10', 5, 32, 32, 3]);
    expect(train.classNames).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    expect([0, 1, 2, 3, 4].map((i) => train.example(i).label)).toEqual([3, 9, 0, 1, 2]);
    const { pixels } = train.example(3);
    for (const p of [0, 1, 500, 1023]) {
      expect([pixels[3 * p], pixels[3 * p + 1], pixels[3 * p + 2]]).toEqual([(3 * 7 + p) % 256, (p >> 2) % 256, 252]);
    }
    const test = await openDataset(`cifar10:${d}`, { split: 'test' });
    expect(test.length).toBe(1);
    expect(test.example(0).label).toBe(5);
  });

  it('uses the standard class names without batches.meta.txt, and honours size and imgSize', async () => {
    const d = makeDir('plain');
    writeFileSync(join(d, 'test_batch.bin'), batch([record(1, 0), record(2, 1), record(3, 2)]));
    const test = await openDataset(`cifar10:${d}`, { split: 'test', size: 2, imgSize: 16 });
    expect(test.classNames).toEqual(CIFAR10_CLASSES);
    expect([test.length, test.height, test.example(1).pixels.length]).toEqual([2, 16, 16 * 16 * 3]);
    // Blue plane is constant (255 - id), so it survives resizing exactly.
    expect(test.example(1).pixels[2]).toBe(254);
  });

  it('a trailing partial record is an error naming the file and byte count', async () => {
    const d = makeDir('partial');
    writeFileSync(join(d, 'test_batch.bin'), batch([record(1, 0), record(2, 1)]).subarray(0, 2 * RECORD - 100));
    const error = await openDataset(`cifar10:${d}`, { split: 'test' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect(String(error)).toMatch(/test_batch\.bin is truncated.*6046 bytes is 1 records of 3073 bytes plus 2973 stray bytes/);
  });

  it('a truncated gzip stream is an error naming the file', async () => {
    const d = makeDir('badgz');
    const gz = gzipSync(batch([record(1, 0), record(2, 1)]));
    writeFileSync(join(d, 'test_batch.bin.gz'), gz.subarray(0, gz.length >> 1));
    await expect(openDataset(`cifar10:${d}`, { split: 'test' })).rejects.toThrow(/test_batch\.bin\.gz is a corrupt or truncated gzip file/);
  });

  it('labels out of range are an error naming the file and record', async () => {
    const d = makeDir('badlabel');
    writeFileSync(join(d, 'data_batch_1'), batch([record(1, 0), record(10, 1)]));
    await expect(openDataset(`cifar10:${d}`, { split: 'train' })).rejects.toThrow(/data_batch_1: record 1 \(byte offset 3073\) has label 10; labels must be in \[0, 9\]/);
  });

  it('an empty file, a missing split or a missing directory are clear errors', async () => {
    const d = makeDir('empty');
    writeFileSync(join(d, 'test_batch.bin'), new Uint8Array(0));
    await expect(openDataset(`cifar10:${d}`, { split: 'test' })).rejects.toThrow(/test_batch\.bin is empty/);
    await expect(openDataset(`cifar10:${d}`, { split: 'train' })).rejects.toThrow(/data_batch_1, data_batch_2.*train split; it contains test_batch\.bin/);
    await expect(openDataset(`cifar10:${join(root, 'nope')}`, { split: 'train' })).rejects.toThrow(/the directory does not exist/);
    writeFileSync(join(d, 'batches.meta.txt'), 'cat\ndog\n');
    await expect(openDataset(`cifar10:${d}`, { split: 'test' })).rejects.toThrow(/batches\.meta\.txt lists 2 class names/);
  });
});
