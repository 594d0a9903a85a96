import { InvalidArgumentError } from '../errors.js';
import type { tf } from '../tensor/tf.js';
import type { ForwardContext } from './context.js';
import { Module } from './module.js';

/** A step with parameters: any module whose `apply` maps one tensor to one tensor. */
export interface SequentialModule extends Module {
  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor;
}

/** A parameterless step (an activation): it occupies an index but owns no state. */
export type SequentialFunction = (x: tf.Tensor, ctx: ForwardContext) => tf.Tensor;

export type SequentialStep = SequentialModule | SequentialFunction;

/**
 * PyTorch's nn.Sequential: steps applied in order, each module named by its index.
 * A parameterless step (GELU between convolutions) keeps its index without owning
 * a state-dict entry, so the indices after it stay PyTorch's: FAN's
 * `proj.0.0.weight` … `proj.2.0.weight` with GELUs at 1 and 3 (models/fan.py
 * ConvPatchEmbed), UniFormer's `proj.4.weight`.
 */
export class Sequential extends Module {
  private readonly steps: SequentialStep[] = [];

  constructor(steps: Iterable<SequentialStep> = []) {
    super();
    for (const step of steps) this.push(step);
  }

  push(step: SequentialStep): void {
    if (step instanceof Module) this.addModule(String(this.steps.length), step);
    else if (typeof step !== 'function') throw new InvalidArgumentError(`steps[${this.steps.length}]`, step, 'a Module or a function of one tensor');
    this.steps.push(step);
  }

  get length(): number {
    return this.steps.length;
  }

  /** The step at PyTorch index `index`. */
  at(index: number): SequentialStep {
    const step = this.steps[index];
    if (!step) throw new InvalidArgumentError('index', index, `an integer in [0, ${this.steps.length - 1}]`);
    return step;
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    let y = x;
    for (const step of this.steps) {
      const next = step instanceof Module ? step.forward(y, ctx) : step(y, ctx);
      // Intermediates are the caller's to free (inside its tf.tidy); the input is not ours to dispose.
      y = next;
    }
    return y;
  }
}
