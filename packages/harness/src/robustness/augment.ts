import { InvalidArgumentError, tf, z, type Augmentation, type AugmentationDefinition, type Batch, type Rng, type VisionModel } from '@tessera/core';
import { corruptImage, imageSeed, parseCorruptionList, parseSeverities, type CorruptionName } from './corruptions/index.js';
import type { TableName } from './params.js';

/**
 * Options of `--augment corrupt:...`. Lists use '+' because ',' separates
 * augmentations: `corrupt:corruptions=fog+contrast;severities=1-3;prob=0.5`.
 */
export const corruptOptions = z
  .object({
    /** 'all', 'common', 'extra' or names joined by '+'. */
    corruptions: z.string().default('common'),
    /** '1-5', '2', '1+3' (or a number). */
    severities: z.union([z.string(), z.number().int().min(1).max(5)]).default('1-5'),
    /** Probability that an image of the batch is corrupted. */
    prob: z.number().min(0).max(1).default(0.5),
    table: z.enum(['imagenet', 'cifar']).optional(),
  })
  .strict();

export type CorruptOptionsInput = z.input<typeof corruptOptions>;

interface CorruptParams {
  /** Per image: the corruption, severity and seed, or null to leave it clean. */
  readonly images: ReadonlyArray<{ corruption: CorruptionName; severity: number; seed: number } | null>;
}

/**
 * ImageNet-C corruptions as a training augmentation: each image is, with
 * probability `prob`, corrupted by a corruption and severity drawn uniformly from
 * the lists. Works on the normalised batch: undoes the model's mean/std, corrupts
 * in [0, 1], normalises again. Labels are unchanged.
 *
 * Hendrycks & Dietterich (and imagecorruptions' README) intend these corruptions
 * for testing only: a model trained on them no longer measures robustness to
 * *unseen* corruptions, so its ImageNet-C numbers are not comparable.
 */
export class CorruptAugmentation implements Augmentation<CorruptParams> {
  readonly name = 'corrupt';
  readonly requiresOutputs = [] as const;
  readonly corruptions: readonly CorruptionName[];
  readonly severities: readonly number[];
  readonly prob: number;
  readonly table: TableName | undefined;
  private mean: readonly number[] | undefined;
  private std: readonly number[] | undefined;

  constructor(options: z.output<typeof corruptOptions>) {
    this.corruptions = parseCorruptionList(options.corruptions.replaceAll('+', ','), 'corrupt option corruptions');
    this.severities = parseSeverities(String(options.severities).replaceAll('+', ','), 'corrupt option severities');
    this.prob = options.prob;
    this.table = options.table;
  }

  checkModel(model: VisionModel): void {
    const channels = model.config.inputSize[2];
    this.mean = model.config.mean;
    this.std = model.config.std;
    if (channels !== 1 && channels !== 3) throw new InvalidArgumentError('corrupt augmentation model channels', channels, '1 or 3 input channels');
  }

  sample(batchSize: number, rng: Rng): CorruptParams {
    const images = Array.from({ length: batchSize }, () => {
      if (rng.uniform() >= this.prob) return null;
      const corruption = this.corruptions[rng.int(this.corruptions.length)]!;
      const severity = this.severities[rng.int(this.severities.length)]!;
      return { corruption, severity, seed: rng.uint32() | 0 };
    });
    return { images };
  }

  apply(batch: Batch, params: CorruptParams): Batch {
    if (!this.mean || !this.std) throw new InvalidArgumentError('corrupt augmentation', 'not attached', 'checkModel(model) before apply (buildAugmentation does this)');
    if (params.images.every((p) => p === null)) return { images: batch.images.clone(), targets: batch.targets };
    const [n, h, w, c] = batch.images.shape;
    if (params.images.length !== n) throw new InvalidArgumentError('corrupt params', params.images.length, `one entry per image of the batch (${n})`);
    const values = batch.images.dataSync() as Float32Array;
    const out = Float32Array.from(values);
    const per = h * w;
    const mean = Array.from({ length: c }, (_, k) => this.mean![this.mean!.length === 1 ? 0 : k]!);
    const std = Array.from({ length: c }, (_, k) => this.std![this.std!.length === 1 ? 0 : k]!);
    params.images.forEach((p, i) => {
      if (!p) return;
      const rgb = new Float32Array(per * 3);
      for (let q = 0; q < per; q++) {
        for (let k = 0; k < 3; k++) {
          const ch = c === 3 ? k : 0;
          const v = values[(i * per + q) * c + ch]! * std[ch]! + mean[ch]!;
          rgb[q * 3 + k] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
      }
      const result = corruptImage({ height: h, width: w, data: rgb }, p.corruption, p.severity, { seed: imageSeed(p.seed, 0), ...(this.table ? { table: this.table } : {}) }).data;
      for (let q = 0; q < per; q++) {
        if (c === 3) for (let k = 0; k < 3; k++) out[(i * per + q) * 3 + k] = (result[q * 3 + k]! - mean[k]!) / std[k]!;
        else out[i * per + q] = (0.299 * result[q * 3]! + 0.587 * result[q * 3 + 1]! + 0.114 * result[q * 3 + 2]! - mean[0]!) / std[0]!;
      }
    });
    return { images: tf.tensor4d(out, [n, h, w, c], 'float32'), targets: batch.targets };
  }
}

export const corruptAugmentationDefinition: AugmentationDefinition<z.output<typeof corruptOptions>> = {
  description: 'ImageNet-C corruptions of a random share of the batch (testing corruptions: see the harness README before training on them)',
  options: corruptOptions,
  // The defaults; every image corrupted at the top severity by two of the extra corruptions, with CIFAR's table.
  examples: [{}, { corruptions: 'speckle_noise+saturate', severities: 5, prob: 1, table: 'cifar' }],
  create: (options) => new CorruptAugmentation(options),
};
