import { InvalidArgumentError, TesseraError } from '../errors.js';
import type { VisionModel } from '../models/vision-model.js';
import type { Augmentation, Batch, ModelOutputs, OutputName } from '../plugin/types.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';

function checkSteps(steps: readonly Augmentation[]): void {
  if (!Array.isArray(steps) || steps.length === 0) throw new InvalidArgumentError('augmentations', steps, 'a non-empty list of augmentations');
  steps.forEach((step, i) => {
    if (!step || typeof step.sample !== 'function' || typeof step.apply !== 'function') {
      throw new InvalidArgumentError(`augmentations[${i}]`, step, 'an Augmentation (an object with sample and apply)');
    }
    // A step after the one that rewrites targets from the model's outputs would have its label change overwritten.
    if (step.afterForward && i !== steps.length - 1) {
      throw new InvalidArgumentError(
        `augmentations[${i}]`,
        step.name,
        `an augmentation that replaces targets after the forward pass (${step.name}) as the last step only, because it rebuilds the final targets and would discard the label changes of later steps`,
      );
    }
  });
}

function union(steps: readonly Augmentation[]): OutputName[] {
  return [...new Set(steps.flatMap((s) => s.requiresOutputs))];
}

function flatten(augmentations: Augmentation | readonly Augmentation[]): Augmentation[] {
  const list = Array.isArray(augmentations) ? augmentations : [augmentations as Augmentation];
  return list.flatMap((a) => (a instanceof AugmentationChain ? a.steps : [a]));
}

/** Runs steps in order, disposing every intermediate that is neither the input nor the result. */
function runSteps(steps: readonly Augmentation[], batch: Batch, params: readonly unknown[], keepInputOfLast: boolean): { output: Batch; lastInput: Batch } {
  const owned = new Set<tf.Tensor>();
  let current = batch;
  let lastInput = batch;
  steps.forEach((step, i) => {
    if (i === steps.length - 1) lastInput = current;
    const next = step.apply(current, params[i]);
    const keep = (t: tf.Tensor) => t === next.images || t === next.targets || (keepInputOfLast && i === steps.length - 1 && (t === current.images || t === current.targets));
    for (const t of [current.images, current.targets]) {
      if (owned.has(t) && !keep(t)) {
        t.dispose();
        owned.delete(t);
      }
    }
    for (const t of [next.images, next.targets]) if (t !== batch.images && t !== batch.targets) owned.add(t);
    current = next;
  });
  return { output: current, lastInput };
}

/**
 * Several augmentations applied in order as one: parameters are sampled for every
 * step (in order, from the same Rng), then each step's `apply` takes the previous
 * step's batch. At most one step may rewrite targets after the forward pass, and it
 * must come last.
 */
export class AugmentationChain implements Augmentation<unknown[]> {
  readonly steps: readonly Augmentation[];
  readonly name: string;
  readonly requiresOutputs: readonly OutputName[];
  readonly afterForward?: (batch: Batch, params: unknown[], outputs: ModelOutputs) => tf.Tensor2D;
  /** Targets `apply` returned → the batch it was given, for callers that hand `afterForward` the augmented batch. */
  private readonly inputs = new WeakMap<tf.Tensor, Batch>();

  constructor(steps: readonly Augmentation[]) {
    checkSteps(steps);
    this.steps = flatten(steps);
    this.name = this.steps.map((s) => s.name).join('+');
    this.requiresOutputs = union(this.steps);
    const last = this.steps[this.steps.length - 1]!;
    if (last.afterForward) {
      // The chain hands afterForward its own input; the last step needs the batch it was applied to, so the prefix is replayed.
      this.afterForward = (given, params, outputs) => {
        const batch = this.inputs.get(given.targets) ?? given;
        const prefix = this.steps.slice(0, -1);
        if (prefix.length === 0) return last.afterForward!(batch, params[0], outputs);
        const { output } = runSteps(prefix, batch, params, false);
        try {
          return last.afterForward!(output, params[prefix.length], outputs);
        } finally {
          for (const t of new Set([output.images, output.targets])) if (t !== batch.images && t !== batch.targets) t.dispose();
        }
      };
    }
  }

  checkModel(model: VisionModel): void {
    for (const step of this.steps) step.checkModel(model);
  }

  sample(batchSize: number, rng: Rng): unknown[] {
    return this.steps.map((s) => s.sample(batchSize, rng));
  }

  apply(batch: Batch, params: unknown[]): Batch {
    const { output } = runSteps(this.steps, batch, params, false);
    this.inputs.set(output.targets, batch);
    return output;
  }
}

/** Chains augmentations into one (see AugmentationChain). */
export function chainAugmentations(steps: readonly Augmentation[]): AugmentationChain {
  return new AugmentationChain(steps);
}

/**
 * Checks that `model` can serve every augmentation (TransMix refuses a model without
 * class-token attention here, not at the first batch) and returns them as one.
 */
export function attachAugmentations(model: VisionModel, augmentations: Augmentation | readonly Augmentation[]): Augmentation {
  const chain = new AugmentationChain(Array.isArray(augmentations) ? augmentations : [augmentations as Augmentation]);
  chain.checkModel(model);
  return chain.steps.length === 1 ? chain.steps[0]! : chain;
}

/**
 * A batch ready for the forward pass and the means to build its training targets.
 * It owns the tensors it made (never the caller's input batch): call `dispose()`.
 */
export interface AugmentedBatch {
  /** Images for the model and the targets before any post-forward rewrite. */
  readonly batch: Batch;
  /** The sampled parameters, one entry per step, for logging and replay. */
  readonly params: readonly unknown[];
  /** Outputs to request from `model.forward` so that `targets` can be built. */
  readonly requiresOutputs: readonly OutputName[];
  /** The final training targets (a new tensor the caller owns), using the model's outputs where a step needs them. */
  targets(outputs: ModelOutputs): tf.Tensor2D;
  dispose(): void;
}

/**
 * The training-target pipeline in one call: samples every augmentation's parameters
 * from `rng`, applies them in order and returns the model input; after the forward
 * pass, `targets(outputs)` gives the targets for the loss:
 *
 *   const aug = applyAugmentations(augs, { images, targets: oneHot(labels, k) }, rng);
 *   const loss = optimizer.minimize(() => {
 *     const out = model.forward(aug.batch.images, { training: true, outputs: aug.requiresOutputs });
 *     return softTargetCrossEntropy(out.logits, aug.targets(out));
 *   }, true);
 *   aug.dispose();
 */
export function applyAugmentations(augmentations: Augmentation | readonly Augmentation[], batch: Batch, rng: Rng): AugmentedBatch {
  const steps = flatten(augmentations);
  checkSteps(steps);
  const params = steps.map((s) => s.sample(batch.images.shape[0], rng));
  const last = steps[steps.length - 1]!;
  const hooked = last.afterForward ? last : undefined;
  const { output, lastInput } = runSteps(steps, batch, params, hooked !== undefined);
  const owned = new Set<tf.Tensor>();
  for (const t of [output.images, output.targets, ...(hooked ? [lastInput.images, lastInput.targets] : [])]) {
    if (t !== batch.images && t !== batch.targets) owned.add(t);
  }
  const requiresOutputs = union(steps);
  let disposed = false;
  return {
    batch: output,
    params,
    requiresOutputs,
    targets(outputs: ModelOutputs): tf.Tensor2D {
      if (disposed) throw new TesseraError('this augmented batch was disposed; apply the augmentations to the next batch');
      for (const name of requiresOutputs) {
        if (outputs[name] === undefined) {
          throw new InvalidArgumentError(
            `outputs.${name}`,
            undefined,
            `the ${name} output that ${steps.filter((s) => s.requiresOutputs.includes(name)).map((s) => s.name).join(', ')} needs: call model.forward(images, {outputs: augmented.requiresOutputs})`,
          );
        }
      }
      if (!hooked) return output.targets.clone();
      return hooked.afterForward!(lastInput, params[steps.length - 1], outputs);
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      for (const t of owned) t.dispose();
    },
  };
}
