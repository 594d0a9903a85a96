import { FormatError, InvalidArgumentError } from '@tessera/core';
import { InMemoryDataset, type DatasetSplit, type ImageDataset } from './dataset.js';
import { isDirectory, listDirectory, readMaybeGzip } from './files.js';
import { join } from 'node:path';
import { resizeAll } from './resize.js';
import { hostMemoryLimit } from '../resources.js';

export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

/** An IDX array of unsigned bytes: header 0x00 0x00 0x08 <ndims>, then ndims big-endian int32 sizes, then the data. */
export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

const UBYTE = 0x08;

/**
 * Decodes an IDX array. With `keepItems`, `bytes` may be a prefix of the file holding
 * the header and the first `keepItems` items (the rest was never read); `data` then
 * holds those items, and `dims` still says what the header declares.
 */
export function decodeIdx(bytes: Uint8Array, file: string, expectedDims: number, keepItems?: number): IdxArray {
  if (bytes.length < 4) throw new FormatError(`${file} is truncated: ${bytes.length} bytes, shorter than the 4-byte IDX magic number`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = ((bytes[0] as number) << 24) | ((bytes[1] as number) << 16) | ((bytes[2] as number) << 8) | (bytes[3] as number);
    throw new FormatError(`${file} is not an IDX file: magic number 0x${(magic >>> 0).toString(16).padStart(8, '0')} does not start with two zero bytes`);
  }
  if (bytes[2] !== UBYTE) throw new FormatError(`${file}: IDX data type 0x${(bytes[2] as number).toString(16)} is not supported; expected 0x08 (unsigned byte)`);
  const ndims = bytes[3] as number;
  if (ndims !== expectedDims) {
    const expectedMagic = 0x800 + expectedDims;
    throw new FormatError(`${file}: IDX magic number ${0x800 + ndims} means ${ndims} dimensions; expected ${expectedMagic} (${expectedDims} dimensions)`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) throw new FormatError(`${file} is truncated: ${bytes.length} bytes, shorter than its ${headerBytes}-byte IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const itemSize = dims.slice(1).reduce((a, b) => a * b, 1);
  const expected = keepItems === undefined ? dims.reduce((a, b) => a * b, 1) : Math.min(keepItems, dims[0]!) * itemSize;
  const actual = keepItems === undefined ? bytes.length - headerBytes : Math.min(bytes.length - headerBytes, expected);
  if (actual < expected) {
    throw new FormatError(`${file} is truncated: header says ${dims.join('x')} = ${expected} data bytes but only ${actual} follow the header`);
  }
  if (actual > expected) {
    throw new FormatError(`${file} has ${actual - expected} bytes after the ${dims.join('x')} data its header declares`);
  }
  return { dims, data: bytes.subarray(headerBytes, headerBytes + expected) };
}

/** The dimensions an IDX header declares (magic checked), from its first 4 + 4·ndims bytes. */
function decodeIdxHeader(bytes: Uint8Array, file: string, expectedDims: number): number[] {
  // decodeIdx checks the magic number before the length, so a wrong file is named as such even when short.
  return [...decodeIdx(bytes.subarray(0, 4 + 4 * expectedDims), file, expectedDims, 0).dims];
}

async function findIdx(dir: string, names: readonly string[], stem: string, kind: 'idx3' | 'idx1'): Promise<string> {
  // Distributions spell the files `train-images-idx3-ubyte` or `train-images.idx3-ubyte`, gzipped or not.
  const candidates = [`${stem}-${kind}-ubyte`, `${stem}.${kind}-ubyte`].flatMap((base) => [base, `${base}.gz`]);
  const found = candidates.find((name) => names.includes(name));
  if (found === undefined) {
    throw new FormatError(`${dir} has no ${candidates[0]} (looked for ${candidates.join(', ')})`);
  }
  return join(dir, found);
}

/** MNIST-format directory (MNIST, Fashion-MNIST): train-* and t10k-* idx files, gzip accepted. */
export async function openIdxDataset(
  kind: 'mnist' | 'fashion-mnist',
  dir: string,
  split: DatasetSplit,
  imgSize?: number,
  size?: number,
): Promise<ImageDataset> {
  if (!(await isDirectory(dir))) throw new InvalidArgumentError('dataset', `${kind}:${dir}`, `${kind}:<directory holding the idx files>, but the directory does not exist`);
  const names = await listDirectory(dir);
  const stem = split === 'train' ? 'train' : 't10k';
  const imagesFile = await findIdx(dir, names, `${stem}-images`, 'idx3');
  const labelsFile = await findIdx(dir, names, `${stem}-labels`, 'idx1');
  // The headers first: they say how many bytes the examples wanted need, and only those are read (or inflated).
  const declared = decodeIdxHeader((await readMaybeGzip(imagesFile, 16)).bytes, imagesFile, 3);
  const [declaredCount, declaredRows, declaredCols] = declared as [number, number, number];
  const want = size === undefined ? declaredCount : Math.min(size, declaredCount);
  const limit = hostMemoryLimit();
  if (want * declaredRows * declaredCols > limit.bytes) {
    throw new FormatError(`${imagesFile} declares ${declaredCount} images of ${declaredRows}x${declaredCols}; ${want} of them need ${want * declaredRows * declaredCols} bytes, more than ${limit.what}`);
  }
  // One byte past the data when reading everything, so trailing bytes are noticed.
  const extra = want === declaredCount ? 1 : 0;
  const images = decodeIdx((await readMaybeGzip(imagesFile, 16 + want * declaredRows * declaredCols + extra)).bytes, imagesFile, 3, want === declaredCount ? undefined : want);
  const labels = decodeIdx((await readMaybeGzip(labelsFile, 8 + want + extra)).bytes, labelsFile, 1, want === declaredCount ? undefined : want);
  const [count, rows, cols] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) {
    throw new FormatError(`${imagesFile} holds ${count} images but ${labelsFile} holds ${labels.dims[0]} labels; they must match`);
  }
  if (rows === 0 || cols === 0) throw new FormatError(`${imagesFile}: image size ${rows}x${cols} is empty`);
  const classNames = kind === 'mnist' ? MNIST_CLASSES : FASHION_MNIST_CLASSES;
  for (let i = 0; i < labels.data.length; i++) {
    const label = labels.data[i] as number;
    if (label >= classNames.length) {
      throw new FormatError(`${labelsFile}: label ${i} is ${label}; labels must be in [0, ${classNames.length - 1}]`);
    }
  }
  const keep = want;
  const side = imgSize;
  const pixels = resizeAll(images.data.subarray(0, keep * rows * cols), keep, rows, cols, 1, side ?? rows, side ?? cols);
  return new InMemoryDataset(kind, classNames, side ?? rows, side ?? cols, 1, pixels, labels.data.subarray(0, keep));
}
