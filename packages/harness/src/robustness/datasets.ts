import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, InvalidArgumentError, Rng } from '@tessera/core';
import { checkExampleIndex, type ImageDataset } from '../data/index.js';
import { corruptImage, imageSeed, type CorruptionName, ALL_CORRUPTIONS } from './corruptions/index.js';
import type { TableName } from './params.js';

/** `limit` examples of `dataset` chosen by a seeded shuffle (all of them, in order, without a limit). */
export function subsetIndices(length: number, limit: number | undefined, seed: number): Int32Array {
  const all = Int32Array.from({ length }, (_, i) => i);
  if (limit === undefined || limit >= length) return all;
  const rng = new Rng(seed ^ 0x11a17);
  for (let i = 0; i < limit; i++) {
    const j = i + rng.int(length - i);
    const t = all[i]!;
    all[i] = all[j]!;
    all[j] = t;
  }
  return all.slice(0, limit).sort();
}

/** The examples of `base` at `indices`, in that order. */
export class SubsetDataset implements ImageDataset {
  readonly name: string;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  readonly length: number;

  constructor(
    readonly base: ImageDataset,
    readonly indices: Int32Array,
  ) {
    this.name = base.name;
    this.numClasses = base.numClasses;
    this.classNames = base.classNames;
    this.height = base.height;
    this.width = base.width;
    this.channels = base.channels;
    this.length = indices.length;
  }

  example(i: number): { pixels: Uint8Array; label: number } {
    checkExampleIndex(this, i);
    return this.base.example(this.indices[i]!);
  }
}

/** The seed of one (corruption, severity) pass; image i then uses imageSeed(passSeed, i). */
export function passSeed(seed: number, corruption: CorruptionName, severity: number): number {
  return imageSeed(seed, ALL_CORRUPTIONS.indexOf(corruption) * 8 + severity);
}

/**
 * `base` with one corruption at one severity applied on the fly, stored back as
 * 8-bit pixels as the released datasets are. Example i is corrupted with the seed
 * of its index in `base`'s source (`sourceIndex(i)`), so an image gets the same
 * corruption whatever subset it is drawn in.
 */
export class CorruptedDataset implements ImageDataset {
  readonly name: string;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  readonly length: number;
  private readonly seed: number;

  constructor(
    private readonly base: ImageDataset,
    readonly corruption: CorruptionName,
    readonly severity: number,
    options: { seed: number; table?: TableName; sourceIndex?: (i: number) => number },
  ) {
    this.name = `${base.name}+${corruption}-${severity}`;
    this.numClasses = base.numClasses;
    this.classNames = base.classNames;
    this.height = base.height;
    this.width = base.width;
    this.channels = base.channels;
    this.length = base.length;
    this.seed = passSeed(options.seed, corruption, severity);
    this.table = options.table;
    this.sourceIndex = options.sourceIndex ?? ((i) => i);
  }

  private readonly table: TableName | undefined;
  private readonly sourceIndex: (i: number) => number;

  example(i: number): { pixels: Uint8Array; label: number } {
    const { pixels, label } = this.base.example(i);
    return { pixels: corruptPixels(pixels, this.height, this.width, this.channels, this.corruption, this.severity, imageSeed(this.seed, this.sourceIndex(i)), this.table), label };
  }
}

/** Corrupts one 8-bit HWC image (1 or 3 channels) and rounds back to 8 bits. */
export function corruptPixels(pixels: Uint8Array, height: number, width: number, channels: 1 | 3, corruption: CorruptionName, severity: number, seed: number, table?: TableName): Uint8Array {
  const n = height * width;
  const rgb = new Float32Array(n * 3);
  if (channels === 3) for (let i = 0; i < rgb.length; i++) rgb[i] = pixels[i]! / 255;
  else for (let p = 0; p < n; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = pixels[p]! / 255;
  const out = corruptImage({ height, width, data: rgb }, corruption, severity, { seed, ...(table ? { table } : {}) }).data;
  const result = new Uint8Array(n * channels);
  if (channels === 3) for (let i = 0; i < result.length; i++) result[i] = Math.round(out[i]! * 255);
  else for (let p = 0; p < n; p++) result[p] = Math.round((0.299 * out[3 * p]! + 0.587 * out[3 * p + 1]! + 0.114 * out[3 * p + 2]!) * 255);
  return result;
}

/** The header of a NumPy .npy file: dtype, shape, and where the data starts. */
export interface NpyHeader {
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
  readonly dataOffset: number;
}

/** Parses the .npy header (format versions 1-3) from the file's first bytes. */
export function parseNpyHeader(bytes: Uint8Array, path = '.npy file'): NpyHeader {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new FormatError(`${path}: not a NumPy .npy file (bad magic)`);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start + headerLength) throw new FormatError(`${path}: truncated .npy header`);
  const text = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new FormatError(`${path}: unreadable .npy header ${JSON.stringify(text.trim())}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  return { descr, fortranOrder: fortran === 'True', shape, dataOffset: start + headerLength };
}

function readNpyHeaderFile(path: string): NpyHeader {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(4096);
    const read = readSync(fd, head, 0, head.length, 0);
    return parseNpyHeader(head.subarray(0, read), path);
  } finally {
    closeSync(fd);
  }
}

const CIFAR10_C_IMAGES = 10_000;

/**
 * The released CIFAR-10-C (Hendrycks & Dietterich; Zenodo 2535967): one
 * `<corruption>.npy` of 50 000 uint8 32×32×3 images per corruption (the 10 000 test
 * images at severity 1, then 2, … 5) and `labels.npy`. Images are read from disk as needed.
 */
export class Cifar10C {
  readonly labels: Uint8Array;
  private readonly headers = new Map<CorruptionName, NpyHeader>();

  constructor(readonly dir: string) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InvalidArgumentError('--data', `cifar10c:${dir}`, 'cifar10c:<dir> with the released CIFAR-10-C .npy files');
    const labelsPath = join(dir, 'labels.npy');
    if (!existsSync(labelsPath)) throw new InvalidArgumentError('--data', `cifar10c:${dir}`, `a CIFAR-10-C folder (missing ${labelsPath})`);
    const header = readNpyHeaderFile(labelsPath);
    if (!['|u1', '<i8', '<i4'].includes(header.descr) || header.shape.length !== 1 || header.shape[0]! < CIFAR10_C_IMAGES) throw new FormatError(`${labelsPath}: expected a 1-D integer array of at least ${CIFAR10_C_IMAGES} labels, got ${header.descr} ${JSON.stringify(header.shape)}`);
    const size = header.descr === '|u1' ? 1 : header.descr === '<i4' ? 4 : 8;
    const raw = new Uint8Array(CIFAR10_C_IMAGES * size);
    const fd = openSync(labelsPath, 'r');
    try {
      readSync(fd, raw, 0, raw.length, header.dataOffset);
    } finally {
      closeSync(fd);
    }
    const view = new DataView(raw.buffer);
    this.labels = Uint8Array.from({ length: CIFAR10_C_IMAGES }, (_, i) => (size === 1 ? raw[i]! : size === 4 ? view.getInt32(i * 4, true) : Number(view.getBigInt64(i * 8, true))));
  }

  private header(corruption: CorruptionName): NpyHeader {
    let header = this.headers.get(corruption);
    if (!header) {
      const path = join(this.dir, `${corruption}.npy`);
      if (!existsSync(path)) throw new InvalidArgumentError('--corruptions', corruption, `a corruption with a file in ${this.dir} (missing ${corruption}.npy)`);
      header = readNpyHeaderFile(path);
      const [n, h, w, c] = header.shape;
      if (header.descr !== '|u1' || header.fortranOrder || header.shape.length !== 4 || n! < 5 * CIFAR10_C_IMAGES || h !== 32 || w !== 32 || c !== 3) {
        throw new FormatError(`${path}: expected uint8 [50000, 32, 32, 3] in C order, got ${header.descr} ${JSON.stringify(header.shape)}`);
      }
      this.headers.set(corruption, header);
    }
    return header;
  }

  /** The images of one corruption and severity at the given test indices (0..9999). */
  dataset(corruption: CorruptionName, severity: number, indices: Int32Array, classNames: readonly string[]): ImageDataset {
    const header = this.header(corruption);
    const path = join(this.dir, `${corruption}.npy`);
    const bytes = 32 * 32 * 3;
    const labels = this.labels;
    return {
      name: `cifar10c:${corruption}-${severity}`,
      numClasses: classNames.length,
      classNames,
      height: 32,
      width: 32,
      channels: 3,
      length: indices.length,
      example(i: number) {
        checkExampleIndex(this, i);
        const index = indices[i]!;
        const pixels = new Uint8Array(bytes);
        const fd = openSync(path, 'r');
        try {
          readSync(fd, pixels, 0, bytes, header.dataOffset + ((severity - 1) * CIFAR10_C_IMAGES + index) * bytes);
        } finally {
          closeSync(fd);
        }
        return { pixels, label: labels[index]! };
      },
    };
  }
}
