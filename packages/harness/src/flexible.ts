import { InvalidArgumentError, type StageOverrides, type VisionModel } from '@tessera/core';
import type { ImageDataset } from './data/index.js';
import { evaluate } from './evaluate.js';
import type { EvalReplicas } from './parallel/parallel-eval.js';
import { defaultPatchSizes } from './train/patch-sizes.js';

interface PlannedStage {
  readonly stage: string;
  readonly path: string;
  readonly definition: { readonly supports: { readonly overridable: readonly string[] } };
}

/**
 * The stages whose block declares `patchSize` overridable per call (FlexiViT's
 * flexible patch embedding, or any block that says so), read from the blocks'
 * declarations, never from a plugin import or an option schema. A stage without a
 * name (FlexiViT's stem sits at the top level of the state dict) is addressed by its
 * spec path ('stem').
 */
export function patchSizeStages(model: VisionModel): string[] {
  const plan = (model as VisionModel & { plan?: readonly PlannedStage[] }).plan ?? [];
  return [...new Set(plan.filter((p) => p.definition.supports.overridable.includes('patchSize')).map((p) => p.stage || p.path))];
}

/** The overrides that run every patch-size stage at `patchSize` for one call. */
export function patchSizeOverrides(stages: readonly string[], patchSize: number): StageOverrides {
  return Object.fromEntries(stages.map((stage) => [stage, { patchSize }]));
}

/**
 * The patch sizes for `--patch-sizes`: the given list, or (flag without a list) the
 * defaults for the image size. Refused, naming the flag, when the model has no block
 * whose patch size may change per call.
 */
export function resolvePatchSizes(model: VisionModel, requested: readonly number[] | true, imgSize: number): { sizes: number[]; stages: string[] } {
  const stages = patchSizeStages(model);
  if (!stages.length) {
    throw new InvalidArgumentError(
      '--patch-sizes',
      requested === true ? '(default)' : requested.join(','),
      `a model with a block that declares patchSize overridable per call (e.g. flexi_patch_embed, flexivit_* from @tessera/plugin-flexivit); ${model.config.name} has none`,
    );
  }
  const sizes = requested === true ? defaultPatchSizes(imgSize) : [...requested];
  const tooBig = sizes.filter((p) => p > imgSize);
  if (tooBig.length) throw new InvalidArgumentError('--patch-sizes', sizes.join(','), `patch sizes of at most the image size ${imgSize} (not ${tooBig.join(', ')})`);
  return { sizes, stages };
}

/** Accuracy and speed at one patch size. */
export interface PatchSizeMetrics {
  readonly patchSize: number;
  /** Patch tokens per image at this size: (H/p)·(W/p). */
  readonly tokens: number;
  readonly top1: number;
  readonly top5: number;
  readonly loss: number;
  readonly imagesPerSecond: number;
}

/** Evaluates the whole split once per patch size (FlexiViT's accuracy/speed trade-off, the paper's Figure 1). */
export async function evaluatePatchSizes(
  model: VisionModel,
  dataset: ImageDataset,
  batchSize: number,
  sizes: readonly number[],
  stages: readonly string[],
  replicas?: EvalReplicas,
): Promise<PatchSizeMetrics[]> {
  const [h, w] = model.config.inputSize;
  const out: PatchSizeMetrics[] = [];
  for (const patchSize of sizes) {
    const m = await evaluate(model, dataset, batchSize, patchSizeOverrides(stages, patchSize), replicas);
    out.push({ patchSize, tokens: Math.floor(h / patchSize) * Math.floor(w / patchSize), top1: m.top1, top5: m.top5, loss: m.loss, imagesPerSecond: m.imagesPerSecond });
  }
  return out;
}
