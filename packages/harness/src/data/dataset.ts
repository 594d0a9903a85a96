import { InvalidArgumentError } from '@tessera/core';

/** A labelled image classification dataset with random access to uint8 pixels. */
export interface ImageDataset {
  /** e.g. 'synthetic', 'cifar10', 'mnist', 'fashion-mnist', 'folder' */
  readonly name: string;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  readonly length: number;
  /**
   * uint8 pixels in HWC order (length height*width*channels) and the integer label
   * of example i. The pixel array may be a view into the dataset's storage: read it,
   * do not modify it.
   */
  example(i: number): { pixels: Uint8Array; label: number };
}

export type DatasetSplit = 'train' | 'test';

export interface OpenDatasetOptions {
  split: DatasetSplit;
  /** Square side the images are stored at (resized bilinearly at load when it differs from the files). */
  imgSize?: number;
  /** Seed of generated datasets (synthetic). */
  seed?: number;
  /** synthetic: number of examples to generate; file datasets: keep at most the first `size` examples. */
  size?: number;
}

export function checkExampleIndex(dataset: ImageDataset, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= dataset.length) {
    throw new InvalidArgumentError('example index', i, `an integer in [0, ${dataset.length - 1}] (dataset ${dataset.name} has ${dataset.length} examples)`);
  }
}

/** Every decoded dataset: one contiguous uint8 buffer of HWC images and one label array. */
export class InMemoryDataset implements ImageDataset {
  readonly numClasses: number;
  readonly length: number;
  private readonly imageBytes: number;

  constructor(
    readonly name: string,
    readonly classNames: readonly string[],
    readonly height: number,
    readonly width: number,
    readonly channels: 1 | 3,
    private readonly pixels: Uint8Array,
    private readonly labels: Uint8Array | Int32Array,
  ) {
    this.numClasses = classNames.length;
    this.length = labels.length;
    this.imageBytes = height * width * channels;
    if (pixels.length !== this.length * this.imageBytes) {
      throw new Error(`internal: ${name} holds ${pixels.length} pixel bytes for ${this.length} images of ${this.imageBytes} bytes`);
    }
  }

  example(i: number): { pixels: Uint8Array; label: number } {
    checkExampleIndex(this, i);
    const start = i * this.imageBytes;
    return { pixels: this.pixels.subarray(start, start + this.imageBytes), label: this.labels[i] as number };
  }
}
