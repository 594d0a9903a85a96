import {
  boxArea,
  checkTargets,
  InvalidArgumentError,
  Mixup,
  parseModelOptions,
  tf,
  z,
  type Augmentation,
  type AugmentationDefinition,
  type Batch,
  type MixParams,
  type ModelOutputs,
  type OutputName,
  type Rng,
  type VisionModel,
} from '@tessera/core';
import { attentionLambda } from './attention-lambda.js';
import { boxMaskOnGrid } from './grid-mask.js';

/**
 * TransMix's options. The defaults are the official DeiT configuration
 * (`configs/deit_s_transmix.yaml` with `train.py`'s defaults): Mixup α 0.8, CutMix
 * α 1.0, switch probability 0.5, label smoothing 0.1, λ = (λ_area + λ_attn)/2.
 * The DeiT-B config sets switchProb 0.8; the DeiT-S config's hyphenated
 * `mixup-switch-prob` key does not reach argparse's `mixup_switch_prob`, so DeiT-S
 * most likely trained with 0.5.
 */
export const transmixOptions = z
  .object({
    mixupAlpha: z.number().min(0).default(0.8),
    /** Must be > 0: TransMix only changes the labels of CutMix batches. */
    cutmixAlpha: z.number().positive().default(1),
    /** Probability that a batch is mixed at all. */
    prob: z.number().min(0).max(1).default(1),
    /** Probability of CutMix instead of Mixup for a mixed batch. */
    switchProb: z.number().min(0).max(1).default(0.5),
    /** Recompute the area λ from the box clipped at the border (timm's correct_lam). */
    correctLambda: z.boolean().default(true),
    labelSmoothing: z.number().min(0).lt(1).default(0.1),
    /**
     * 'mean': λ = (λ_area + λ_attn)/2, what the official code trains with (paper §4.1,
     * confirmed in issue #7). 'attention': λ = λ_attn, the paper's Eq. 5 taken literally.
     */
    lambda: z.enum(['mean', 'attention']).default('mean'),
  })
  .strict();

export type TransmixOptions = z.output<typeof transmixOptions>;
export type TransmixOptionsInput = z.input<typeof transmixOptions>;

/**
 * TransMix (Chen et al., CVPR 2022): the images are mixed exactly as timm's
 * Mixup/CutMix (one λ and box per batch, partner = reversed batch); after the
 * forward pass the target of a CutMix batch is rebuilt with λ from the last
 * block's class-token attention: target = (1 − λ)·ỹ + λ·flip(ỹ), λ weighing the
 * pasted image. Mixup and unmixed batches keep timm's label.
 */
export class TransMix implements Augmentation<MixParams> {
  readonly name = 'transmix';
  readonly requiresOutputs: readonly OutputName[] = ['clsAttention'];
  readonly options: TransmixOptions;
  readonly mix: Mixup;
  /** Targets `apply` produced → the targets it was given, for callers that hand `afterForward` the mixed batch. */
  private readonly sources = new WeakMap<tf.Tensor, tf.Tensor2D>();

  constructor(options: TransmixOptionsInput = {}) {
    this.options = parseModelOptions(transmixOptions, 'transmix', options);
    const { lambda: _lambda, ...mixOptions } = this.options;
    this.mix = new Mixup({ ...mixOptions, mode: 'batch' }, 'transmix');
  }

  checkModel(model: VisionModel): void {
    if (model.availableOutputs.includes('clsAttention')) return;
    throw new InvalidArgumentError(
      'model',
      model.config.name,
      "a model that declares the 'clsAttention' output (model.availableOutputs includes 'clsAttention'). TransMix re-weights each CutMix label by the attention " +
        `the class token of the last attention block pays to the patches inside the pasted box; ${model.config.name} declares ` +
        `${model.availableOutputs.length ? `only ${model.availableOutputs.join(', ')}` : 'no outputs'}, because no class token feeds an attention block ` +
        "(e.g. average pooling without a class_token block). Put a class_token block before a transformer block, or train with the plain 'cutmix' or 'mixup' augmentation",
    );
  }

  sample(batchSize: number, rng: Rng): MixParams {
    return this.mix.sample(batchSize, rng);
  }

  /** The mixed images and timm's area-based targets (what a caller that skips `afterForward` trains on). */
  apply(batch: Batch, params: MixParams): Batch {
    const out = this.mix.apply(batch, params);
    this.sources.set(out.targets, batch.targets);
    return out;
  }

  /**
   * The TransMix targets. `batch` is the batch `apply` was given; the batch `apply`
   * returned is accepted too (its unmixed targets are looked up).
   */
  afterForward(batch: Batch, params: MixParams, outputs: ModelOutputs): tf.Tensor2D {
    const [b, height, width] = batch.images.shape;
    const targets = this.sources.get(batch.targets) ?? batch.targets;
    checkTargets(targets, params.batchSize);
    const [resolved] = this.mix.resolve(params, height, width);
    if (resolved?.kind !== 'cutmix' || !resolved.box) return this.mix.mixTargets(targets, params, height, width);
    const attention = outputs.clsAttention;
    if (!attention) {
      throw new InvalidArgumentError('outputs.clsAttention', undefined, "the class-token attention: call model.forward(images, {training: true, outputs: ['clsAttention']})");
    }
    const { probs, grid } = attention;
    if (probs.rank !== 3 || probs.shape[0] !== b || probs.shape[2] !== grid.height * grid.width) {
      throw new InvalidArgumentError(
        'outputs.clsAttention.probs',
        `a tensor of shape [${probs.shape.join(', ')}]`,
        `[${b}, heads, ${grid.height * grid.width}] for a batch of ${b} on a ${grid.height}x${grid.width} token grid`,
      );
    }
    const areaLambda = boxArea(resolved.box, height, width);
    const mask = boxMaskOnGrid(resolved.box, { height, width }, grid);
    const eps = this.options.labelSmoothing;
    const k = targets.shape[1];
    return tf.tidy(() => {
      const attnLambda = attentionLambda(probs, mask, areaLambda);
      const lambda = this.options.lambda === 'mean' ? tf.div(tf.add(attnLambda, areaLambda), 2) : attnLambda;
      const pasted = tf.reshape(lambda, [b, 1]);
      const smoothed = eps > 0 ? tf.add(tf.mul(targets, 1 - eps), eps / k) : targets;
      return tf.add(tf.mul(smoothed, tf.sub(1, pasted)), tf.mul(tf.reverse(smoothed, 0), pasted)) as tf.Tensor2D;
    });
  }
}

export const transmixDefinition: AugmentationDefinition<TransmixOptions> = {
  description:
    'TransMix: Mixup/CutMix (timm, batch mode) whose CutMix labels are re-weighted by the class-token attention inside the box, λ = (λ_area + λ_attn)/2',
  smoothsLabels: true,
  options: transmixOptions,
  // The official defaults; every batch CutMix with the paper's Eq. 5 λ (attention alone) and no smoothing, so the
  // attention re-weighting is always exercised; the DeiT-B switch probability with half the batches mixed, uncorrected λ.
  examples: [{}, { switchProb: 1, lambda: 'attention', labelSmoothing: 0 }, { switchProb: 0.8, prob: 0.5, correctLambda: false }],
  create: (options) => new TransMix(options),
};
