import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '@tessera/core';
import { openDataset } from '../src/data/index.js';

const root = mkdtempSync(join(tmpdir(), 'tessera-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** RGBA pixels where pixel (y, x) is (r, g + 10 y, b + 10 x). */
function rgba(width: number, height: number, [r, g, b]: [number, number, number]): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      data[o] = r;
      data[o + 1] = g + 10 * y;
      data[o + 2] = b + 10 * x;
      data[o + 3] = 255;
    }
  }
  return data;
}

function png(width: number, height: number, colour: [number, number, number]): Buffer {
  const image = new PNG({ width, height });
  rgba(width, height, colour).copy(image.data);
  return PNG.sync.write(image);
}

function greyPng(width: number, height: number, value: number): Buffer {
  const image = new PNG({ width, height });
  image.data.fill(value);
  for (let p = 0; p < width * height; p++) image.data[4 * p + 3] = 255;
  return PNG.sync.write(image, { colorType: 0 });
}

function jpg(width: number, height: number, colour: [number, number, number]): Buffer {
  return jpeg.encode({ width, height, data: rgba(width, height, colour) }, 100).data;
}

function tree(name: string, files: Record<string, Buffer>): string {
  const d = join(root, name);
  rmSync(d, { recursive: true, force: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(d, path, '..'), { recursive: true });
    writeFileSync(join(d, path), content);
  }
  return d;
}

describe('folder:<dir>', () => {
  it('reads train/test class folders of PNG and JPEG files, sorted names as classes', async () => {
    const d = tree('splits', {
      'train/dog/a.png': png(6, 4, [200, 20, 30]),
      'train/dog/b.JPG': jpg(6, 4, [40, 100, 160]),
      'train/cat/c.png': png(6, 4, [1, 2, 3]),
      'train/cat/notes.txt': Buffer.from('not an image'),
      'test/dog/d.jpeg': jpg(6, 4, [90, 90, 90]),
    });
    const train = await openDataset(`folder:${d}`, { split: 'train' });
    expect(train.classNames).toEqual(['cat', 'dog']);
    expect([train.name, train.length, train.height, train.width, train.channels]).toEqual(['folder', 3, 4, 6, 3]);
    expect([0, 1, 2].map((i) => train.example(i).label)).toEqual([0, 1, 1]);
    // PNG is lossless: exact pixels at (y=3, x=5).
    const cat = train.example(0).pixels;
    expect(Array.from(cat.subarray((3 * 6 + 5) * 3, (3 * 6 + 5) * 3 + 3))).toEqual([1, 32, 53]);
    // JPEG at quality 100 on a smooth image: within a few levels.
    const dogJpeg = train.example(2).pixels;
    const expected = [40, 100 + 30, 160 + 50];
    dogJpeg.subarray((3 * 6 + 5) * 3, (3 * 6 + 5) * 3 + 3).forEach((v, c) => expect(Math.abs(v - (expected[c] as number))).toBeLessThanOrEqual(8));
    const test = await openDataset(`folder:${d}`, { split: 'test' });
    expect(test.classNames).toEqual(['cat', 'dog']);
    expect([test.length, test.example(0).label]).toEqual([1, 1]);
  });

  it('uses val/ when there is no test/, and refuses a tree without separate train/ and test/ (issue 9: it scored its own training images)', async () => {
    const withVal = tree('val', { 'train/a/x.png': png(2, 2, [0, 0, 0]), 'train/b/y.png': png(2, 2, [0, 0, 0]), 'val/b/z.png': png(2, 2, [9, 9, 9]) });
    const val = await openDataset(`folder:${withVal}`, { split: 'test' });
    expect([val.length, val.example(0).label, val.example(0).pixels[0]]).toEqual([1, 1, 9]);
    const flat = tree('flat', { 'a/x.png': png(2, 2, [0, 0, 0]), 'b/y.png': png(2, 2, [5, 0, 0]) });
    for (const split of ['train', 'test'] as const) {
      await expect(openDataset(`folder:${flat}`, { split })).rejects.toThrow(/needs separate training and test images, laid out as <dir>\/train\/<class>/);
    }
    const trainOnly = tree('trainonly', { 'train/a/x.png': png(2, 2, [0, 0, 0]) });
    await expect(openDataset(`folder:${trainOnly}`, { split: 'test' })).rejects.toThrow(/has train\/ but no test\/ or val\//);
  });

  it('resizes every image to imgSize, or to the first image size, and turns grey into RGB', async () => {
    const d = tree('sizes', { 'train/a/1.png': png(8, 8, [100, 100, 100]), 'train/a/2.png': greyPng(4, 4, 77), 'train/b/3.jpg': jpg(16, 12, [50, 60, 70]), 'test/a/1.png': png(8, 8, [0, 0, 0]) });
    const native = await openDataset(`folder:${d}`, { split: 'train' });
    expect([native.height, native.width]).toEqual([8, 8]);
    expect(Array.from(native.example(1).pixels.subarray(0, 6))).toEqual([77, 77, 77, 77, 77, 77]);
    const sized = await openDataset(`folder:${d}`, { split: 'train', imgSize: 5, size: 2 });
    expect([sized.height, sized.width, sized.length, sized.example(0).pixels.length]).toEqual([5, 5, 2, 75]);
    expect(sized.example(1).pixels.every((v) => v === 77)).toBe(true);
  });

  it('corrupt, truncated and mislabelled files fail naming the file', async () => {
    const good = png(4, 4, [1, 2, 3]);
    const truncated = tree('truncated', { 'train/a/ok.png': good, 'train/a/bad.png': good.subarray(0, good.length - 20), 'test/a/ok.png': good });
    const error = await openDataset(`folder:${truncated}`, { split: 'train' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect(String(error)).toMatch(/bad\.png is a corrupt or truncated PNG/);
    const fake = tree('fake', { 'train/a/x.jpg': Buffer.from('GIF89a........'), 'test/a/keep.txt': Buffer.from('') });
    await expect(openDataset(`folder:${fake}`, { split: 'train' })).rejects.toThrow(/x\.jpg is neither a PNG nor a JPEG/);
    const cutJpeg = jpg(16, 16, [10, 20, 30]);
    const badJpeg = tree('badjpeg', { 'train/a/x.jpg': cutJpeg.subarray(0, 40), 'test/a/keep.txt': Buffer.from('') });
    await expect(openDataset(`folder:${badJpeg}`, { split: 'train' })).rejects.toThrow(/x\.jpg is a corrupt or truncated JPEG/);
  });

  it('empty trees and classes missing from train are clear errors', async () => {
    const empty = tree('empty', { 'train/readme.txt': Buffer.from('hi'), 'test/readme.txt': Buffer.from('hi') });
    await expect(openDataset(`folder:${empty}`, { split: 'train' })).rejects.toThrow(/has no class sub-folders/);
    const noImages = tree('noimages', { 'train/a/readme.txt': Buffer.from('hi'), 'test/a/readme.txt': Buffer.from('hi') });
    await expect(openDataset(`folder:${noImages}`, { split: 'train' })).rejects.toThrow(/holds no \.png, \.jpg or \.jpeg files/);
    const extra = tree('extra', { 'train/a/x.png': png(2, 2, [0, 0, 0]), 'test/zebra/y.png': png(2, 2, [0, 0, 0]) });
    await expect(openDataset(`folder:${extra}`, { split: 'test' })).rejects.toThrow(/class folders zebra that .*train lacks/);
    await expect(openDataset(`folder:${join(root, 'missing')}`, { split: 'train' })).rejects.toThrow(/does not exist/);
  });
});
