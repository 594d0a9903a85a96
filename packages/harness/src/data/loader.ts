import { checkInteger, InvalidArgumentError, Rng, tf, type RngState } from '@tessera/core';
import type { ImageDataset } from './dataset.js';
import { hash2 } from './hash.js';
import { Resizer } from './resize.js';

export interface LoaderOptions {
  batchSize: number;
  shuffle: boolean;
  /** The loader forks its own stream from this at construction (advancing it by one draw); `restore` leaves it untouched. */
  rng: Rng;
  /** Drop the last, smaller batch of an epoch (default false). */
  dropLast?: boolean;
  /** Model input [height, width]; images of another size are resized bilinearly. */
  targetSize: [number, number];
  /** Model input channels: grey images are repeated to RGB, RGB images turned to luma (ITU-R BT.601) for 1. */
  channels: 1 | 3;
  /** Per-channel normalisation after scaling pixels to [0, 1]: (x - mean) / std. Length `channels` (or 1, shared). */
  mean: readonly number[];
  std: readonly number[];
  /** Train-time random crop: pad by `padding` zero pixels on every side, then crop back to targetSize at a random offset. */
  randomCrop?: { padding: number };
  /** Train-time horizontal flip with probability 1/2. */
  randomFlip?: boolean;
}

/** Everything needed to continue a loader exactly where it was: rng is the stream at the start of `epoch`. */
export interface LoaderState {
  epoch: number;
  /** batches already returned in this epoch */
  position: number;
  rng: RngState;
}

const LUMA = [0.299, 0.587, 0.114] as const;

function checkStats(name: string, values: readonly number[], channels: number, positive: boolean): number[] {
  if (!Array.isArray(values) || (values.length !== channels && values.length !== 1) || !values.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0))) {
    throw new InvalidArgumentError(name, values, `${channels === 1 ? '1 finite number' : `1 or ${channels} finite numbers`}${positive ? ' > 0' : ''} (one per model input channel)`);
  }
  return Array.from({ length: channels }, (_, c) => (values.length === 1 ? values[0] : values[c]) as number);
}

/**
 * Turns an ImageDataset into normalised NHWC float32 batches. All randomness (the
 * per-epoch order, crop offsets, flips) derives from one seeded stream: an epoch's
 * order comes from the stream's state at the epoch start and each batch's
 * augmentation from a seed derived from (epoch stream, batch index), so a loader
 * restored from `getState()` returns the same batches bit for bit.
 */
export class BatchLoader {
  readonly batchesPerEpoch: number;
  private readonly batchSize: number;
  private readonly targetH: number;
  private readonly targetW: number;
  private readonly channels: 1 | 3;
  private readonly scale: Float64Array;
  private readonly offset: Float64Array;
  private readonly padding: number;
  private readonly flip: boolean;
  private readonly resizers = new Map<string, Resizer>();
  private resized = new Float32Array(0);

  private epoch: number;
  private position: number;
  private epochStart!: RngState;
  private order!: Int32Array;
  private batchSeed = 0;
  private nextEpochStart!: RngState;

  /** `resumeFrom` is how `restore` continues a saved loader; leave it out otherwise. */
  constructor(
    private readonly dataset: ImageDataset,
    private readonly options: LoaderOptions,
    resumeFrom?: LoaderState,
  ) {
    if (dataset === null || typeof dataset !== 'object' || typeof dataset.example !== 'function') {
      throw new InvalidArgumentError('dataset', dataset, 'an ImageDataset (from openDataset)');
    }
    if (dataset.length < 1) throw new InvalidArgumentError('dataset', dataset.name, 'a dataset with at least one example');
    this.batchSize = checkInteger('batchSize', options.batchSize, 1);
    if (!Array.isArray(options.targetSize) || options.targetSize.length !== 2) {
      throw new InvalidArgumentError('targetSize', options.targetSize, '[height, width], two positive integers');
    }
    this.targetH = checkInteger('targetSize[0]', options.targetSize[0], 1, 4096);
    this.targetW = checkInteger('targetSize[1]', options.targetSize[1], 1, 4096);
    if (options.channels !== 1 && options.channels !== 3) throw new InvalidArgumentError('channels', options.channels, '1 or 3');
    this.channels = options.channels;
    if (!(options.rng instanceof Rng) && resumeFrom === undefined) throw new InvalidArgumentError('rng', options.rng, 'an Rng from @tessera/core');
    const mean = checkStats('mean', options.mean, this.channels, false);
    const std = checkStats('std', options.std, this.channels, true);
    this.scale = Float64Array.from(std, (s) => 1 / (255 * s));
    this.offset = Float64Array.from(mean, (m, c) => -m / (std[c] as number));
    this.padding = options.randomCrop === undefined ? 0 : checkInteger('randomCrop.padding', options.randomCrop?.padding, 0, 4096);
    this.flip = options.randomFlip === true;
    const full = Math.floor(dataset.length / this.batchSize);
    this.batchesPerEpoch = options.dropLast === true ? full : Math.ceil(dataset.length / this.batchSize);
    if (this.batchesPerEpoch === 0) {
      throw new InvalidArgumentError('batchSize', options.batchSize, `at most ${dataset.length} (the dataset size) when dropLast is set, or an epoch has no batches`);
    }

    if (resumeFrom === undefined) {
      this.epoch = 0;
      this.position = 0;
      this.startEpoch(options.rng.fork().getState());
    } else {
      this.epoch = checkInteger('state.epoch', resumeFrom?.epoch, 0);
      this.position = checkInteger('state.position', resumeFrom.position, 0, this.batchesPerEpoch);
      this.startEpoch(Rng.fromState(resumeFrom.rng).getState());
    }
  }

  /** A loader that continues from `state` (from `getState()` of a loader over the same dataset and options). */
  static restore(dataset: ImageDataset, options: LoaderOptions, state: LoaderState): BatchLoader {
    if (state === null || typeof state !== 'object') throw new InvalidArgumentError('state', state, 'a LoaderState {epoch, position, rng}');
    return new BatchLoader(dataset, options, state);
  }

  getState(): LoaderState {
    return { epoch: this.epoch, position: this.position, rng: { algorithm: this.epochStart.algorithm, state: [...this.epochStart.state] } };
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  nextEpoch(): void {
    this.epoch += 1;
    this.position = 0;
    this.startEpoch(this.nextEpochStart);
  }

  private startEpoch(state: RngState): void {
    this.epochStart = state;
    const rng = Rng.fromState(state);
    const n = this.dataset.length;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (this.options.shuffle) {
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = order[i] as number;
        order[i] = order[j] as number;
        order[j] = t;
      }
    }
    this.order = order;
    this.batchSeed = rng.uint32();
    this.nextEpochStart = rng.getState();
  }

  /** The next batch of the current epoch, or null at the epoch end (then call nextEpoch()). The caller disposes `images`. */
  next(): { images: tf.Tensor4D; labels: Int32Array } | null {
    if (this.position >= this.batchesPerEpoch) return null;
    const start = this.position * this.batchSize;
    const count = Math.min(this.batchSize, this.dataset.length - start);
    const rng = new Rng(hash2(this.batchSeed, this.position) | 0);
    const { targetH: H, targetW: W, channels: C } = this;
    const per = H * W * C;
    const values = new Float32Array(count * per);
    const labels = new Int32Array(count);
    for (let b = 0; b < count; b++) {
      const { pixels, label } = this.dataset.example(this.order[start + b] as number);
      labels[b] = label;
      const dy = this.padding > 0 ? rng.int(2 * this.padding + 1) - this.padding : 0;
      const dx = this.padding > 0 ? rng.int(2 * this.padding + 1) - this.padding : 0;
      const flip = this.flip && rng.uniform() < 0.5;
      this.writeExample(pixels, values, b * per, dy, dx, flip);
    }
    this.position += 1;
    return { images: tf.tensor4d(values, [count, H, W, C], 'float32'), labels };
  }

  /** Resize, convert channels, crop (offset dy, dx, zero outside), flip, normalise: one example into `out` at `base`. */
  private writeExample(pixels: Uint8Array, out: Float32Array, base: number, dy: number, dx: number, flip: boolean): void {
    const { targetH: H, targetW: W, channels: C, scale, offset } = this;
    const inC = this.dataset.channels;
    const expected = this.dataset.height * this.dataset.width * inC;
    if (pixels.length !== expected) {
      throw new InvalidArgumentError('dataset example', `${pixels.length} bytes`, `${expected} bytes (${this.dataset.height}x${this.dataset.width}x${inC}) from dataset ${this.dataset.name}`);
    }
    let src: ArrayLike<number> = pixels;
    if (this.dataset.height !== H || this.dataset.width !== W) {
      const key = `${this.dataset.height}x${this.dataset.width}`;
      let resizer = this.resizers.get(key);
      if (resizer === undefined) {
        resizer = new Resizer(this.dataset.height, this.dataset.width, H, W, inC);
        this.resizers.set(key, resizer);
        this.resized = new Float32Array(H * W * inC);
      }
      resizer.resize(pixels, this.resized);
      src = this.resized;
    }
    for (let y = 0; y < H; y++) {
      const sy = y + dy;
      const rowOut = base + y * W * C;
      for (let x = 0; x < W; x++) {
        const sx = (flip ? W - 1 - x : x) + dx;
        const o = rowOut + x * C;
        if (sy < 0 || sy >= H || sx < 0 || sx >= W) {
          // Zero padding happens in pixel space (as torchvision pads before ToTensor/Normalize).
          for (let c = 0; c < C; c++) out[o + c] = offset[c] as number;
          continue;
        }
        const i = (sy * W + sx) * inC;
        if (inC === C) {
          for (let c = 0; c < C; c++) out[o + c] = (src[i + c] as number) * (scale[c] as number) + (offset[c] as number);
        } else if (inC === 1) {
          const v = src[i] as number;
          for (let c = 0; c < C; c++) out[o + c] = v * (scale[c] as number) + (offset[c] as number);
        } else {
          const v = LUMA[0] * (src[i] as number) + LUMA[1] * (src[i + 1] as number) + LUMA[2] * (src[i + 2] as number);
          out[o] = v * (scale[0] as number) + (offset[0] as number);
        }
      }
    }
  }
}
