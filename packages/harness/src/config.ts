import { BACKENDS, z, type BackendChoice } from '@tessera/core';
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
  /** Data-parallel worker threads, each with a replica on its own wasm instance (absent: 1, this thread only). */
  readonly workers?: number;
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

const positiveInt = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const finite = z.number().finite();

/** TrainConfig as a schema: what a checkpoint.json or config.json must hold to be trusted. */
export const trainConfigSchema = z
  .object({
    model: z.object({ name: z.string().min(1), spec: z.record(z.string(), z.unknown()).optional() }).strict(),
    plugins: z.array(z.string()),
    data: z.string().min(1),
    trainSize: positiveInt.optional(),
    testSize: positiveInt.optional(),
    imgSize: z.number().int().min(1).max(4096),
    epochs: positiveInt,
    steps: positiveInt.optional(),
    batchSize: positiveInt,
    evalBatchSize: positiveInt,
    lr: finite.positive(),
    minLr: finite.min(0),
    warmupEpochs: finite.min(0),
    weightDecay: finite.min(0),
    smoothing: finite.min(0).lt(1),
    clipGrad: finite.positive().optional(),
    dropPath: finite.min(0).lt(1),
    ema: finite.min(0).lt(1).optional(),
    augment: z.array(z.object({ name: z.string().min(1), options: z.record(z.string(), z.unknown()) }).strict()),
    cropPadding: z.number().int().min(0).max(4096),
    flip: z.boolean(),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    backend: z.enum(BACKENDS),
    out: z.string().min(1),
    patchSizes: z.union([z.literal(true), z.array(positiveInt).min(1)]).optional(),
    teacher: z.string().min(1).optional(),
    workers: z.number().int().min(1).max(1024).optional(),
  })
  .strict()
  .refine((c) => c.minLr <= c.lr, { message: 'minLr must not exceed lr', path: ['minLr'] });
