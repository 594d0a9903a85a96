import { join } from 'node:path';
import { FormatError, InvalidArgumentError } from '@tessera/core';
import { InMemoryDataset, type DatasetSplit, type ImageDataset } from './dataset.js';
import { findByStem, isDirectory, listDirectory, readFileBounded, readMaybeGzip } from './files.js';
import { resizeAll } from './resize.js';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

/** CIFAR-10 binary version: each record is <1 label byte><1024 R><1024 G><1024 B>, planes row-major 32x32. */
const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

const BATCH_SUFFIXES = ['', '.bin', '.bin.gz', '.gz'] as const;

/** An official batch holds 10,000 records; a file (or its gunzipped content) with more than this is refused, not read on. */
export const MAX_RECORDS_PER_FILE = 60_000;

async function classNamesFrom(dir: string, names: readonly string[]): Promise<readonly string[]> {
  if (!names.includes('batches.meta.txt')) return CIFAR10_CLASSES;
  const text = new TextDecoder().decode(await readFileBounded(join(dir, 'batches.meta.txt'), 64 * 1024, 'class-name list')).split(/\r?\n/).map((line) => line.trim()).filter((line) => line.length > 0);
  if (text.length !== 10) {
    throw new FormatError(`${join(dir, 'batches.meta.txt')} lists ${text.length} class names; CIFAR-10 has 10, one per line`);
  }
  return text;
}

/** Splits one batch file into HWC uint8 pixels and labels, checking its size and label range. */
export function decodeCifarBatch(bytes: Uint8Array, file: string, numClasses: number): { pixels: Uint8Array; labels: Uint8Array } {
  if (bytes.length === 0) throw new FormatError(`${file} is empty: a CIFAR-10 binary batch holds records of ${RECORD} bytes`);
  if (bytes.length % RECORD !== 0) {
    const whole = Math.floor(bytes.length / RECORD);
    throw new FormatError(
      `${file} is truncated or not a CIFAR-10 binary batch: ${bytes.length} bytes is ${whole} records of ${RECORD} bytes plus ${bytes.length - whole * RECORD} stray bytes`,
    );
  }
  const count = bytes.length / RECORD;
  const labels = new Uint8Array(count);
  const pixels = new Uint8Array(count * 3 * PLANE);
  for (let r = 0; r < count; r++) {
    const base = r * RECORD;
    const label = bytes[base] as number;
    if (label >= numClasses) {
      throw new FormatError(`${file}: record ${r} (byte offset ${base}) has label ${label}; labels must be in [0, ${numClasses - 1}]`);
    }
    labels[r] = label;
    const out = r * 3 * PLANE;
    for (let p = 0; p < PLANE; p++) {
      pixels[out + 3 * p] = bytes[base + 1 + p] as number;
      pixels[out + 3 * p + 1] = bytes[base + 1 + PLANE + p] as number;
      pixels[out + 3 * p + 2] = bytes[base + 1 + 2 * PLANE + p] as number;
    }
  }
  return { pixels, labels };
}

/**
 * Reads the CIFAR-10 binary batches in `dir`: data_batch_1..5 for train, test_batch
 * for test. A batch may be gzipped and may carry an infix (`data_batch_1.first4000.bin.gz`);
 * partial batches are fine, the record count is the byte length / 3073.
 */
export async function openCifar10(dir: string, split: DatasetSplit, imgSize?: number, size?: number): Promise<ImageDataset> {
  if (!(await isDirectory(dir))) throw new InvalidArgumentError('dataset', `cifar10:${dir}`, 'cifar10:<directory holding data_batch_1..5 and test_batch>, but the directory does not exist');
  const names = await listDirectory(dir);
  const stems = split === 'train' ? ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5'] : ['test_batch'];
  const files = stems.map((stem) => findByStem(names, dir, stem, BATCH_SUFFIXES)).filter((f): f is string => f !== undefined);
  if (files.length === 0) {
    throw new InvalidArgumentError(
      'dataset',
      `cifar10:${dir}`,
      `a directory holding ${stems.join(', ')} (optionally .bin, .bin.gz or gzipped) for the ${split} split; it contains ${names.length === 0 ? 'nothing' : names.join(', ')}`,
    );
  }
  const classNames = await classNamesFrom(dir, names);
  const parts: { pixels: Uint8Array; labels: Uint8Array }[] = [];
  let total = 0;
  for (const file of files) {
    if (size !== undefined && total >= size) break;
    // Only the records still needed are read (and inflated): --train-size 8 reads 8 records of a 50,000-record file.
    const wanted = size === undefined ? MAX_RECORDS_PER_FILE : Math.min(size - total, MAX_RECORDS_PER_FILE);
    const { bytes, truncated } = await readMaybeGzip(file, wanted * RECORD);
    if (truncated && size === undefined) {
      throw new FormatError(`${file} holds more than ${MAX_RECORDS_PER_FILE} records (${MAX_RECORDS_PER_FILE * RECORD} bytes); a CIFAR-10 batch holds 10000. Is it a gzip bomb or another format?`);
    }
    const part = decodeCifarBatch(bytes, file, classNames.length);
    parts.push(part);
    total += part.labels.length;
  }
  const count = size === undefined ? total : Math.min(size, total);
  const pixels = new Uint8Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const part of parts) {
    const take = Math.min(part.labels.length, count - at);
    labels.set(part.labels.subarray(0, take), at);
    pixels.set(part.pixels.subarray(0, take * 3 * PLANE), at * 3 * PLANE);
    at += take;
  }
  const side = imgSize ?? SIDE;
  return new InMemoryDataset('cifar10', classNames, side, side, 3, resizeAll(pixels, count, SIDE, SIDE, 3, side, side), labels);
}
