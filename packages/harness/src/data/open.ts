import { resolve } from 'node:path';
import { checkInteger, InvalidArgumentError } from '@tessera/core';
import { openCifar10 } from './cifar10.js';
import type { DatasetSplit, ImageDataset, OpenDatasetOptions } from './dataset.js';
import { openImageFolder } from './folder.js';
import { openIdxDataset } from './idx.js';
import { SyntheticDataset } from './synthetic.js';

export const DATASET_SPECS = ['synthetic', 'cifar10:<dir>', 'mnist:<dir>', 'fashion-mnist:<dir>', 'folder:<dir>'] as const;

const SPLITS: readonly DatasetSplit[] = ['train', 'test'];

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
