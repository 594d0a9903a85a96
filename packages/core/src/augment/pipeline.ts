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
  });
  // Post-forward steps form the tail of the chain: a plain step after one would have its label change overwritten.
  const first = steps.findIndex((s) => s?.afterForward);
  if (first < 0) return;
  steps.slice(first).forEach((step, k) => {
    if (!step.afterForward) {
      throw new InvalidArgumentError(
        `augmentations[${first + k}]`,
        step.name,
        `a step that also rewrites the targets after the forward pass, or a place before ${steps[first]!.name}: post-forward steps (${steps
          .filter((s) => s.afterForward)
          .map((s) => s.name)
          .join(', ')}) come last, because each rebuilds the targets and would discard the label changes of a plain step after it`,
      );
    }
  });
}

/** Index of the first step that rewrites targets after the forward pass (the post-forward tail starts there), or -1. */
function firstPostForward(steps: readonly Augmentation[]): number {
  return steps.findIndex((s) => s.afterForward);
}

/**
 * The post-forward tail in order: step i gets the batch its `apply` received, its
 * parameters, the model's outputs and the targets of the step before (for the
 * first, `targets`), and returns the next targets. Intermediate targets are freed;
 * the result is a new tensor unless a step hands back what it got.
 */
function runPostForward(steps: readonly Augmentation[], inputs: readonly Batch[], params: readonly unknown[], outputs: ModelOutputs, targets: tf.Tensor2D): tf.Tensor2D {
  const first = firstPostForward(steps);
  // Tensors that belong to a batch (the caller's or the chain's) are freed by their owner, never here.
  const batchTensors = new Set<tf.Tensor>([targets, ...inputs.flatMap((b) => [b.images, b.targets])]);
  let current = targets;
  for (let i = first; i < steps.length; i++) {
    const next = steps[i]!.afterForward!(inputs[i]!, params[i], outputs, current);
    if (!batchTensors.has(current) && current !== next) current.dispose();
    current = next;
  }
  return current;
}

function union(steps: readonly Augmentation[]): OutputName[] {
  return [...new Set(steps.flatMap((s) => s.requiresOutputs))];
}

function flatten(augmentations: Augmentation | readonly Augmentation[]): Augmentation[] {
  const list = Array.isArray(augmentations) ? augmentations : [augmentations as Augmentation];
  return list.flatMap((a) => (a instanceof AugmentationChain ? a.steps : [a]));
}

/**
 * Runs steps in order, disposing every intermediate that is neither the input nor
 * the result, except the inputs of the steps from `keepInputsFrom` on (what their
 * `afterForward` will need). `inputs[i]` is the batch step i received.
 */
function runSteps(steps: readonly Augmentation[], batch: Batch, params: readonly unknown[], keepInputsFrom = steps.length): { output: Batch; inputs: Batch[] } {
  const owned = new Set<tf.Tensor>();
  const kept = new Set<tf.Tensor>();
  const inputs: Batch[] = [];
  let current = batch;
  steps.forEach((step, i) => {
    inputs.push(current);
    if (i >= keepInputsFrom) for (const t of [current.images, current.targets]) kept.add(t);
    const next = step.apply(current, params[i]);
    for (const t of [current.images, current.targets]) {
      if (owned.has(t) && !kept.has(t) && t !== next.images && t !== next.targets) {
        t.dispose();
        owned.delete(t);
      }
    }
    for (const t of [next.images, next.targets]) if (t !== batch.images && t !== batch.targets) owned.add(t);
    current = next;
  });
  return { output: current, inputs };
}

/** Frees what runSteps made: every tensor of `made` that is not one of the caller's batch. */
function disposeMade(batch: Batch, made: readonly Batch[]): void {
  for (const t of new Set(made.flatMap((b) => [b.images, b.targets]))) if (t !== batch.images && t !== batch.targets && !t.isDisposed) t.dispose();
}

/**
 * Several augmentations applied in order as one: parameters are sampled for every
 * step (in order, from the same Rng), then each step's `apply` takes the previous
 * step's batch. Steps that rewrite targets after the forward pass (TransMix,
 * distillation) come last and chain in order, each taking the targets of the one
 * before.
 */
export class AugmentationChain implements Augmentation<unknown[]> {
  readonly steps: readonly Augmentation[];
  readonly name: string;
  readonly requiresOutputs: readonly OutputName[];
  readonly afterForward?: (batch: Batch, params: unknown[], outputs: ModelOutputs, targets?: tf.Tensor2D) => tf.Tensor2D;
  /** Targets `apply` returned → the batch it was given, for callers that hand `afterForward` the augmented batch. */
  private readonly inputs = new WeakMap<tf.Tensor, Batch>();

  constructor(steps: readonly Augmentation[]) {
    checkSteps(steps);
    this.steps = flatten(steps);
    this.name = this.steps.map((s) => s.name).join('+');
    this.requiresOutputs = union(this.steps);
    const first = firstPostForward(this.steps);
    if (first >= 0) {
      // The chain hands afterForward its own input; each post-forward step needs the batch it was applied to, so the steps are replayed.
      this.afterForward = (given, params, outputs, targets) => {
        const batch = this.inputs.get(given.targets) ?? given;
        const { output, inputs } = runSteps(this.steps, batch, params, first);
        try {
          const result = runPostForward(this.steps, inputs, params, outputs, targets ?? output.targets);
          const made = new Set([...inputs, output].flatMap((b) => [b.images, b.targets]));
          return made.has(result) || result === targets ? result.clone() : result;
        } finally {
          disposeMade(batch, [...inputs, output]);
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
    const { output } = runSteps(this.steps, batch, params);
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
  const first = firstPostForward(steps);
  const { output, inputs } = runSteps(steps, batch, params, first < 0 ? steps.length : first);
  const owned = new Set<tf.Tensor>();
  for (const b of [output, ...(first < 0 ? [] : inputs.slice(first))]) {
    for (const t of [b.images, b.targets]) if (t !== batch.images && t !== batch.targets) owned.add(t);
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
      if (first < 0) return output.targets.clone();
      const result = runPostForward(steps, inputs, params, outputs, output.targets);
      return owned.has(result) || result === batch.targets ? result.clone() : result;
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      for (const t of owned) t.dispose();
    },
  };
}
