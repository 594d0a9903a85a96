import { resolve } from 'node:path';
import { checkInteger, InvalidArgumentError } from '@tessera/core';
import { openCifar10 } from './cifar10.js';
import type { DatasetSplit, ImageDataset, OpenDatasetOptions } from './dataset.js';
import { openImageFolder } from './folder.js';
import { openIdxDataset } from './idx.js';
import { SYNTHETIC_CACHE_LIMIT_BYTES, SYNTHETIC_DEFAULT_IMG_SIZE, SYNTHETIC_DEFAULT_SIZE, SyntheticDataset } from './synthetic.js';
import { checkDatasetFits } from '../resources.js';

export const DATASET_SPECS = ['synthetic', 'cifar10:<dir>', 'mnist:<dir>', 'fashion-mnist:<dir>', 'folder:<dir>'] as const;

const SPLITS: readonly DatasetSplit[] = ['train', 'test'];

/** Examples per split of the file datasets as published, for the memory check before reading them. */
const PUBLISHED_SIZES: Record<string, { train: number; test: number; channels: 1 | 3; side: number }> = {
  cifar10: { train: 50_000, test: 10_000, channels: 3, side: 32 },
  mnist: { train: 60_000, test: 10_000, channels: 1, side: 28 },
  'fashion-mnist': { train: 60_000, test: 10_000, channels: 1, side: 28 },
};

/**
 * Refuses, before anything is read or generated, a split whose pixels (at the size
 * they are stored at) and loader index cannot fit in this process. `flag` names the
 * size option in the message (`--train-size`). Folder datasets are counted as they
 * are listed, image by image.
 */
export function checkDatasetSize(spec: string, options: OpenDatasetOptions, flag: string): void {
  const kind = spec === 'synthetic' ? 'synthetic' : spec.slice(0, Math.max(0, spec.indexOf(':')));
  if (kind === 'synthetic') {
    const side = options.imgSize ?? SYNTHETIC_DEFAULT_IMG_SIZE;
    const count = options.size ?? SYNTHETIC_DEFAULT_SIZE[options.split];
    checkDatasetFits({ flag, data: spec, count, imageBytes: side * side * 3, cachedAtMost: SYNTHETIC_CACHE_LIMIT_BYTES });
    return;
  }
  const published = PUBLISHED_SIZES[kind];
  if (!published) return;
  const side = options.imgSize ?? published.side;
  const count = Math.min(options.size ?? published[options.split], published[options.split]);
  checkDatasetFits({ flag, data: spec, count, imageBytes: side * side * published.channels });
}

/**
 * Opens a dataset by spec: 'synthetic' | 'cifar10:<dir>' | 'mnist:<dir>' |
 * 'fashion-mnist:<dir>' | 'folder:<dir>'. Errors name the spec or the file and what
 * is wrong with it.
 */
export async function openDataset(spec: string, options: OpenDatasetOptions): Promise<ImageDataset> {
  if (typeof spec !== 'string') throw new InvalidArgumentError('dataset', spec, `one of ${DATASET_SPECS.join(', ')}`);
  if (!SPLITS.includes(options?.split)) throw new InvalidArgumentError('split', options?.split, "'train' or 'test'");
  const { split } = options;
  const imgSize = options.imgSize === undefined ? undefined : checkInteger('imgSize', options.imgSize, 1, 4096);
  const size = options.size === undefined ? undefined : checkInteger('size', options.size, 1);
  if (spec === 'synthetic') {
    return new SyntheticDataset({ split, ...(imgSize !== undefined && { imgSize }), ...(options.seed !== undefined && { seed: options.seed }), ...(size !== undefined && { size }) });
  }
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const dir = colon < 0 ? '' : spec.slice(colon + 1);
  if (colon < 0 || dir.length === 0) {
    const known = ['cifar10', 'mnist', 'fashion-mnist', 'folder'].includes(kind);
    throw new InvalidArgumentError('dataset', spec, known ? `${kind}:<dir>, with the directory after the colon` : `one of ${DATASET_SPECS.join(', ')}`);
  }
  const path = resolve(dir);
  switch (kind) {
    case 'cifar10':
      return openCifar10(path, split, imgSize, size);
    case 'mnist':
    case 'fashion-mnist':
      return openIdxDataset(kind, path, split, imgSize, size);
    case 'folder':
      return openImageFolder(path, split, imgSize, size);
    default:
      throw new InvalidArgumentError('dataset', spec, `one of ${DATASET_SPECS.join(', ')}`);
  }
}
