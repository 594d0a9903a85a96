import type { z } from 'zod';
import type { ForwardContext } from '../nn/context.js';
import { Module } from '../nn/module.js';
import type { FeatureSpec, Features, Layout } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import type { tf } from '../tensor/tf.js';
import type { VisionModel } from '../models/vision-model.js';
import type { ModelSpecInput } from '../compose/spec.js';
import type { ComposedModel } from '../compose/composed-model.js';

/**
 * A module that can stand in a composed model: it takes features in one layout and
 * hands features on, and knows both shapes before any tensor exists.
 */
export abstract class Block extends Module {
  constructor(
    readonly inputSpec: FeatureSpec,
    readonly outputSpec: FeatureSpec,
  ) {
    super();
  }

  abstract forward(x: Features, ctx: ForwardContext): Features;
}

/**
 * Where a block may stand in a spec: the `stem` (images in), a `stage` (the body),
 * a `transition` between stages (a downsampling embedding such as UniFormer's
 * `patch_embed2`, listed in `stages`), or the `head` (logits out).
 */
export type BlockPosition = 'stem' | 'stage' | 'transition' | 'head';

/** What a block declares about itself; core and the harness read this, never the option schema's internals. */
export interface BlockSupports {
  readonly positions: readonly BlockPosition[];
  /** Takes a `dropPath` rate option, which the model's `dropPathRate` schedule fills in. */
  readonly dropPath: boolean;
  /** Records self-attention [B, heads, N, N] ('self') or class attention [B, heads, 1, N] ('class') when the context asks. */
  readonly attention: false | 'self' | 'class';
  /** Reads its token grid from the features it receives, so the grid may change from call to call. */
  readonly dynamicGrid: boolean;
  /** Options a forward call may change through `overrides` (e.g. FlexiViT's patchSize). */
  readonly overridable: readonly string[];
}

/**
 * What a plugin contributes for composition: a factory for one kind of block.
 * `outputSpec` must throw (with the reason) for inputs the block cannot take; it
 * runs before any tensor is made, so an impossible spec fails at once.
 */
export interface BlockDefinition<Options = Record<string, unknown>> {
  readonly description: string;
  readonly supports: BlockSupports;
  /** Input layouts the block accepts; the composer converts image ↔ tokens where it can. */
  readonly accepts: readonly Layout[];
  /** Schema of the options (a strict object); errors name the path of the bad option. */
  readonly options: z.ZodType<Options>;
  /** Small, fast option sets that build on a small input (tests, property checks, `tessera check`). */
  readonly examples: readonly Record<string, unknown>[];
  outputSpec(input: FeatureSpec, options: Options): FeatureSpec;
  create(input: FeatureSpec, options: Options, rng: Rng): Block;
}

/** Options every named model accepts, in the manner of timm's create_model kwargs. */
export interface ModelOptions {
  readonly numClasses?: number;
  /** Square input size, or [height, width]. */
  readonly imgSize?: number | readonly [number, number];
  readonly inChannels?: number;
  readonly dropRate?: number;
  readonly dropPathRate?: number;
  /** Seed of the deterministic initialisation. */
  readonly seed?: number;
  readonly [option: string]: unknown;
}

/**
 * A named model configuration (timm's registered model functions): it yields the
 * spec that the one builder, `composeModel`, turns into a `ComposedModel`.
 */
export interface ModelDefinition {
  readonly description: string;
  /** Paper or source the configuration comes from. */
  readonly paper?: string;
  /** The full spec for these options; a bad option is an InvalidArgumentError naming it. */
  spec(options: ModelOptions): ModelSpecInput;
  /**
   * timm's checkpoint_filter_fn: an official state dict (PyTorch names and layouts)
   * → this model's (e.g. a position embedding resized to the model's grid). The
   * caller's tensors are not disposed; new tensors it returns are the caller's to free.
   */
  checkpointFilter?(stateDict: Record<string, tf.Tensor>, model: ComposedModel): Record<string, tf.Tensor>;
}

/** The preprocessing and head facts that ship with a model (timm's pretrained cfg). */
export interface ModelDefaults {
  readonly inputSize: readonly [number, number, number];
  readonly numClasses: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly interpolation: 'bilinear' | 'bicubic';
  readonly cropPct: number;
  /** State-dict prefix of the classifier, for head replacement. */
  readonly classifier: string;
}

/** A batch as augmentations see it: NHWC images and float targets [B, classes] (one-hot or soft). */
export interface Batch {
  readonly images: tf.Tensor4D;
  readonly targets: tf.Tensor2D;
}

/** What the forward pass hands to an augmentation's `afterForward`. */
export interface ModelOutputs {
  readonly logits: tf.Tensor2D;
  readonly clsAttention?: ClsAttention;
}

/**
 * The last attention block's class-token row over the patch tokens, after softmax,
 * cut from the gradient: probs [B, heads, h·w] on `grid` (row-major).
 */
export interface ClsAttention {
  readonly probs: tf.Tensor3D;
  readonly grid: { readonly height: number; readonly width: number };
}

/** Named outputs a model can produce on request. */
export type OutputName = 'clsAttention';

/**
 * A batch transform. Parameters are sampled once per batch from a seeded Rng (so
 * they can be logged and replayed), then applied to images and targets. An
 * augmentation that needs the model's outputs (TransMix reads the class-token
 * attention) lists them in `requiresOutputs` and replaces the targets in
 * `afterForward`.
 */
export interface Augmentation<Params = unknown> {
  readonly name: string;
  readonly requiresOutputs: readonly OutputName[];
  /** Throws, saying why, when the model cannot serve this augmentation. Called when it is attached, not at the first batch. */
  checkModel(model: VisionModel): void;
  sample(batchSize: number, rng: Rng): Params;
  apply(batch: Batch, params: Params): Batch;
  /**
   * The targets after the forward pass. `batch` is the batch `apply` received
   * (before this augmentation), so the targets can be rebuilt from the unmixed
   * labels (TransMix); `targets` are the targets of the step before: the targets
   * the pre-forward chain produced for the first post-forward step, the previous
   * post-forward step's result after that (a distillation step reads or replaces
   * them). Returns a new tensor; the ones it was given stay the caller's.
   */
  afterForward?(batch: Batch, params: Params, outputs: ModelOutputs, targets?: tf.Tensor2D): tf.Tensor2D;
}

export interface AugmentationDefinition<Options = Record<string, unknown>> {
  readonly description: string;
  /**
   * True when the augmentation takes a `labelSmoothing` option and smooths the
   * targets itself (Mixup smooths before mixing, as timm), so a trainer hands it
   * one-hot targets and passes its smoothing through that option.
   */
  readonly smoothsLabels?: boolean;
  readonly options: z.ZodType<Options>;
  /**
   * Small option sets that exercise the options (a switch probability of 1, no
   * smoothing, another mixing mode), each accepted by `options`; `tessera check`,
   * `@tessera/conformance`'s `pluginSuite` and the property tests run the
   * augmentation with each of them. Optional, unlike a block's `examples`, so that
   * plugins written before core 1.x declared it still register: absent means `[{}]`
   * (the defaults only; see `augmentationExamples`). `use()` refuses a plugin whose
   * examples are not objects its options accept.
   */
  readonly examples?: readonly Record<string, unknown>[];
  create(options: Options): Augmentation;
}

/**
 * A plugin is a plain value: who it is, which core versions it works with, and what
 * it contributes. Register it with `use(plugin)`.
 */
export interface TesseraPlugin {
  readonly name: string;
  readonly version: string;
  /** Semver range of @tessera/core versions the plugin supports, e.g. "^1.0.0" (the core major the plugin is built for; see the core README, "Versions"). */
  readonly coreRange: string;
  readonly blocks?: Readonly<Record<string, BlockDefinition<any>>>;
  readonly models?: Readonly<Record<string, ModelDefinition>>;
  readonly augmentations?: Readonly<Record<string, AugmentationDefinition<any>>>;
}
