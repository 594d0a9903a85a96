export { checkExampleIndex, InMemoryDataset, type DatasetSplit, type ImageDataset, type OpenDatasetOptions } from './dataset.js';
export { checkDatasetSize, DATASET_SPECS, openDataset } from './open.js';
export { renderSynthetic, SYNTHETIC_CACHE_LIMIT_BYTES, SYNTHETIC_CLASSES, SYNTHETIC_DEFAULT_IMG_SIZE, SYNTHETIC_DEFAULT_SIZE, SyntheticDataset } from './synthetic.js';
export { CIFAR10_CLASSES, decodeCifarBatch, openCifar10 } from './cifar10.js';
export { decodeIdx, FASHION_MNIST_CLASSES, MNIST_CLASSES, openIdxDataset, type IdxArray } from './idx.js';
export { decodeImage, openImageFolder } from './folder.js';
export { readFileBounded, readMaybeGzip, type BoundedRead } from './files.js';
export { Resizer, resizeAll } from './resize.js';
export { BatchLoader, type LoaderOptions, type LoaderState } from './loader.js';
