import type { BackendChoice } from '@tessera/core';
import type { ModelRef } from './model.js';

/** One augmentation as named on the command line: `mixup` or `mixup:mixupAlpha=0.8`. */
export interface AugmentSpec {
  readonly name: string;
  readonly options: Record<string, unknown>;
}

/** Everything that determines a training run; saved in config.json and in every checkpoint. */
export interface TrainConfig {
  readonly model: ModelRef;
  readonly plugins: readonly string[];
  readonly data: string;
  /** Examples per split for datasets that are generated (synthetic) or to cap a real one. */
  readonly trainSize?: number;
  readonly testSize?: number;
  readonly imgSize: number;
  readonly epochs: number;
  /** Stop after this many optimizer steps (smoke runs); the schedule still spans `epochs`. */
  readonly steps?: number;
  readonly batchSize: number;
  readonly evalBatchSize: number;
  readonly lr: number;
  readonly minLr: number;
  readonly warmupEpochs: number;
  readonly weightDecay: number;
  readonly smoothing: number;
  readonly clipGrad?: number;
  readonly dropPath: number;
  readonly ema?: number;
  readonly augment: readonly AugmentSpec[];
  /** Random-crop padding in pixels (0: off). */
  readonly cropPadding: number;
  readonly flip: boolean;
  readonly seed: number;
  readonly backend: BackendChoice;
  readonly out: string;
  /**
   * FlexiViT training: one patch size per step, drawn uniformly from this list with a generator
   * seeded by (seed, step). `true`: the defaults for the image size (resolved and saved at the start).
   */
  readonly patchSizes?: readonly number[] | true;
  /** Distil from this run folder's model (KL to its probabilities at T = 1); the student starts from its weights. */
  readonly teacher?: string;
}

/** The defaults of `tessera train`: a DeiT-style recipe scaled to small runs. */
export const TRAIN_DEFAULTS = {
  data: 'synthetic',
  epochs: 10,
  batchSize: 64,
  evalBatchSize: 128,
  lr: 1e-3,
  minLr: 1e-5,
  warmupEpochs: 1,
  weightDecay: 0.05,
  smoothing: 0.1,
  dropPath: 0,
  cropPadding: 0,
  flip: false,
  seed: 0,
  backend: 'auto' as BackendChoice,
} as const;
