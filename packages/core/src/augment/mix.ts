import { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';
import { parseModelOptions } from '../compose/options.js';
import type { Augmentation, AugmentationDefinition, Batch, OutputName } from '../plugin/types.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { checkTargets } from './targets.js';

/**
 * Options of Mixup/CutMix with timm's names and meaning (`timm.data.Mixup`):
 * mixing happens with probability `prob`; when both alphas are positive CutMix is
 * chosen with probability `switchProb`; λ ~ Beta(α, α).
 */
export const mixupOptions = z
  .object({
    /** Mixup's Beta(α, α); 0 turns Mixup off. */
    mixupAlpha: z.number().min(0).default(1),
    /** CutMix's Beta(α, α); 0 turns CutMix off. */
    cutmixAlpha: z.number().min(0).default(0),
    /** Probability that a batch (or pair, or element) is mixed at all. */
    prob: z.number().min(0).max(1).default(1),
    /** Probability of CutMix instead of Mixup when both alphas are positive. */
    switchProb: z.number().min(0).max(1).default(0.5),
    /** 'batch': one λ (and box) per batch; 'pair': per pair (i, B−1−i); 'elem': per image. */
    mode: z.enum(['batch', 'pair', 'elem']).default('batch'),
    /** Recompute λ from the box area left after clipping at the image border (timm's correct_lam). */
    correctLambda: z.boolean().default(true),
    /** ε of the label smoothing applied to the targets before mixing (timm's train.py default 0.1). */
    labelSmoothing: z.number().min(0).lt(1).default(0.1),
  })
  .strict()
  .refine((o) => o.mixupAlpha > 0 || o.cutmixAlpha > 0, { message: 'at least one of mixupAlpha and cutmixAlpha must be > 0', path: ['mixupAlpha'] });

export type MixupOptions = z.output<typeof mixupOptions>;
export type MixupOptionsInput = z.input<typeof mixupOptions>;
export type MixMode = MixupOptions['mode'];
export type MixKind = 'none' | 'mixup' | 'cutmix';

/**
 * One mixing decision as drawn from the Rng. `lambda` is the Beta draw (weight of
 * the image's own content, before box correction); a CutMix box centre is stored as
 * fractions of the image size, so the same parameters replay at any resolution.
 */
export interface MixSample {
  readonly kind: MixKind;
  readonly lambda: number;
  readonly center?: { readonly y: number; readonly x: number };
}

/** A batch's mixing parameters: one sample per batch, per pair (first half) or per image. */
export interface MixParams {
  readonly mode: MixMode;
  readonly batchSize: number;
  readonly samples: readonly MixSample[];
}

/** A pasted box: rows [top, bottom), columns [left, right), already clipped to the image. */
export interface MixBox {
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}

/** A mixing decision on a concrete image size: λ (corrected for clipping) and the box for CutMix. */
export interface ResolvedMix {
  readonly kind: MixKind;
  /** Weight of the image's own label; its partner (the reversed batch) gets 1 − λ. */
  readonly lambda: number;
  readonly box?: MixBox;
}

/**
 * timm's `rand_bbox`: a box of side int(H·√(1−λ)) × int(W·√(1−λ)) around the
 * centre, with half-sides cut//2 on each side, clipped to the image.
 */
export function cutmixBox(height: number, width: number, lambda: number, center: { y: number; x: number }): MixBox {
  const ratio = Math.sqrt(1 - lambda);
  const cutH = Math.floor(height * ratio);
  const cutW = Math.floor(width * ratio);
  const cy = Math.min(height - 1, Math.floor(center.y * height));
  const cx = Math.min(width - 1, Math.floor(center.x * width));
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return {
    top: clip(cy - Math.floor(cutH / 2), height),
    bottom: clip(cy + Math.floor(cutH / 2), height),
    left: clip(cx - Math.floor(cutW / 2), width),
    right: clip(cx + Math.floor(cutW / 2), width),
  };
}

/** Fraction of the image a box covers. */
export function boxArea(box: MixBox, height: number, width: number): number {
  return ((box.bottom - box.top) * (box.right - box.left)) / (height * width);
}

function checkEvenBatch(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 2 || batchSize % 2 !== 0) {
    throw new InvalidArgumentError(
      'batchSize',
      batchSize,
      'an even number >= 2: Mixup/CutMix pairs image i with image B-1-i of the reversed batch (as timm does), so every image needs a partner; drop the last odd sample',
    );
  }
}

/**
 * Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) with timm's semantics:
 * each image is mixed with its partner in the reversed batch; CutMix pastes the
 * partner's box and (with `correctLambda`) relabels by the clipped box area;
 * targets are smoothed, then mixed λ·ỹ + (1 − λ)·flip(ỹ).
 */
export class Mixup implements Augmentation<MixParams> {
  readonly requiresOutputs: readonly OutputName[] = [];
  readonly options: MixupOptions;

  constructor(
    options: MixupOptionsInput = {},
    readonly name = 'mixup',
  ) {
    this.options = parseModelOptions(mixupOptions, name, options);
  }

  checkModel(): void {}

  private drawSample(rng: Rng): MixSample {
    const o = this.options;
    if (!(rng.uniform() < o.prob)) return { kind: 'none', lambda: 1 };
    const cut = o.mixupAlpha > 0 && o.cutmixAlpha > 0 ? rng.uniform() < o.switchProb : o.cutmixAlpha > 0;
    const alpha = cut ? o.cutmixAlpha : o.mixupAlpha;
    const lambda = rng.beta(alpha, alpha);
    if (lambda === 1) return { kind: 'none', lambda: 1 };
    if (!cut) return { kind: 'mixup', lambda };
    return { kind: 'cutmix', lambda, center: { y: rng.uniform(), x: rng.uniform() } };
  }

  sample(batchSize: number, rng: Rng): MixParams {
    checkEvenBatch(batchSize);
    const count = this.options.mode === 'batch' ? 1 : this.options.mode === 'pair' ? batchSize / 2 : batchSize;
    return { mode: this.options.mode, batchSize, samples: Array.from({ length: count }, () => this.drawSample(rng)) };
  }

  /** The decision of one sample on an H×W image. */
  resolveSample(sample: MixSample, height: number, width: number): ResolvedMix {
    if (sample.kind !== 'cutmix') return { kind: sample.kind, lambda: sample.kind === 'none' ? 1 : sample.lambda };
    const box = cutmixBox(height, width, sample.lambda, sample.center ?? { y: 0.5, x: 0.5 });
    const lambda = this.options.correctLambda ? 1 - boxArea(box, height, width) : sample.lambda;
    return { kind: 'cutmix', lambda, box };
  }

  /** The decision for every image of the batch (row i pairs with row B−1−i). */
  resolve(params: MixParams, height: number, width: number): ResolvedMix[] {
    const resolved = params.samples.map((s) => this.resolveSample(s, height, width));
    const b = params.batchSize;
    return Array.from({ length: b }, (_, i) => {
      if (params.mode === 'batch') return resolved[0]!;
      if (params.mode === 'pair') return resolved[i < b / 2 ? i : b - 1 - i]!;
      return resolved[i]!;
    });
  }

  /** Smoothed targets mixed with the reversed batch by each row's λ: λ·ỹ + (1 − λ)·flip(ỹ). */
  mixTargets(targets: tf.Tensor2D, params: MixParams, height: number, width: number): tf.Tensor2D {
    checkTargets(targets, params.batchSize);
    const lambdas = this.resolve(params, height, width).map((r) => r.lambda);
    const eps = this.options.labelSmoothing;
    const k = targets.shape[1];
    return tf.tidy(() => {
      const smoothed = eps > 0 ? tf.add(tf.mul(targets, 1 - eps), eps / k) : targets;
      const lam = tf.tensor2d(lambdas, [lambdas.length, 1]);
      return tf.add(tf.mul(smoothed, lam), tf.mul(tf.reverse(smoothed, 0), tf.sub(1, lam))) as tf.Tensor2D;
    });
  }

  private checkBatch(batch: Batch, params: MixParams): void {
    const images = batch.images;
    if (images.rank !== 4 || images.dtype !== 'float32') {
      throw new InvalidArgumentError('images', `a ${images.dtype} tensor of shape [${images.shape.join(', ')}]`, 'a float32 NHWC batch [B, H, W, C]');
    }
    checkEvenBatch(images.shape[0]);
    if (images.shape[0] !== params.batchSize) {
      throw new InvalidArgumentError('images', `a batch of ${images.shape[0]}`, `the ${params.batchSize} images the parameters were sampled for`);
    }
    checkTargets(batch.targets, params.batchSize);
  }

  apply(batch: Batch, params: MixParams): Batch {
    this.checkBatch(batch, params);
    const [, height, width] = batch.images.shape;
    const perRow = params.mode === 'batch' ? [this.resolveSample(params.samples[0]!, height, width)] : this.resolve(params, height, width);
    const targets = this.mixTargets(batch.targets, params, height, width);
    if (perRow.every((r) => r.kind === 'none')) return { images: batch.images, targets };
    const images = tf.tidy((): tf.Tensor4D => {
      const x = batch.images;
      const partner = tf.reverse(x, 0);
      const rows = perRow.length;
      // Own-content weight per row: λ for Mixup, 1 for CutMix (its outside pixels stay untouched) and unmixed rows.
      const keep = perRow.map((r) => (r.kind === 'mixup' ? r.lambda : 1));
      const blended = perRow.some((r) => r.kind === 'mixup')
        ? (tf.add(tf.mul(x, tf.tensor4d(keep, [rows, 1, 1, 1])), tf.mul(partner, tf.tensor4d(keep.map((v) => 1 - v), [rows, 1, 1, 1]))) as tf.Tensor4D)
        : x;
      if (!perRow.some((r) => r.kind === 'cutmix')) return blended;
      const inRows = new Uint8Array(rows * height);
      const inCols = new Uint8Array(rows * width);
      perRow.forEach((r, s) => {
        if (!r.box) return;
        for (let h = r.box.top; h < r.box.bottom; h++) inRows[s * height + h] = 1;
        for (let w = r.box.left; w < r.box.right; w++) inCols[s * width + w] = 1;
      });
      const inBox = tf.logicalAnd(tf.tensor4d(inRows, [rows, height, 1, 1], 'bool'), tf.tensor4d(inCols, [rows, 1, width, 1], 'bool'));
      return tf.where(inBox, partner, blended) as tf.Tensor4D;
    });
    return { images, targets };
  }
}

const cutmixOptions = z
  .object({
    cutmixAlpha: z.number().positive().default(1),
    prob: z.number().min(0).max(1).default(1),
    mode: z.enum(['batch', 'pair', 'elem']).default('batch'),
    correctLambda: z.boolean().default(true),
    labelSmoothing: z.number().min(0).lt(1).default(0.1),
  })
  .strict();

export type CutmixOptionsInput = z.input<typeof cutmixOptions>;

/** CutMix alone: the `mixup` augmentation with mixupAlpha 0 and cutmixAlpha 1 by default. */
export function cutmix(options: CutmixOptionsInput = {}): Mixup {
  const o = parseModelOptions(cutmixOptions, 'cutmix', options);
  return new Mixup({ ...o, mixupAlpha: 0 }, 'cutmix');
}

/** Mixup and/or CutMix with timm's options (registered by core as `mixup`). */
export const mixupDefinition: AugmentationDefinition<MixupOptions> = {
  description: "Mixup / CutMix with timm's semantics: pairs each image with the reversed batch, λ ~ Beta(α, α), box clipped with λ corrected, smoothed targets",
  smoothsLabels: true,
  options: mixupOptions,
  // The defaults (Mixup alone); Mixup or CutMix per element with the switch always taken, unsmoothed (targets are exact box areas);
  // per pair, half the batches mixed, CutMix half the time without the λ correction.
  examples: [
    {},
    { mixupAlpha: 0.8, cutmixAlpha: 1, switchProb: 1, mode: 'elem', labelSmoothing: 0 },
    { mixupAlpha: 0.2, cutmixAlpha: 1, switchProb: 0.5, prob: 0.5, mode: 'pair', correctLambda: false, labelSmoothing: 0.2 },
  ],
  create: (options) => new Mixup(options, 'mixup'),
};

/** CutMix alone (registered by core as `cutmix`). */
export const cutmixDefinition: AugmentationDefinition<z.output<typeof cutmixOptions>> = {
  description: 'CutMix with timm semantics (the mixup augmentation with mixupAlpha 0, cutmixAlpha 1)',
  smoothsLabels: true,
  options: cutmixOptions,
  // The defaults; per-element boxes without the λ correction or smoothing; per pair with a skewed Beta and half the pairs mixed.
  examples: [{}, { mode: 'elem', correctLambda: false, labelSmoothing: 0 }, { cutmixAlpha: 0.3, prob: 0.5, mode: 'pair' }],
  create: (options) => cutmix(options),
};
