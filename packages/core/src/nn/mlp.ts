import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { gelu } from './activation.js';
import type { ForwardContext } from './context.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

export interface MlpOptions {
  readonly outFeatures?: number;
  readonly dropRate?: number;
  readonly activation?: (x: tf.Tensor) => tf.Tensor;
}

/** The transformer feed-forward block: fc1 → GELU → dropout → fc2 → dropout (timm's Mlp). */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly drop: Dropout;
  private readonly activation: (x: tf.Tensor) => tf.Tensor;

  constructor(inFeatures: number, hiddenFeatures: number, rng: Rng, options: MlpOptions = {}) {
    super();
    this.fc1 = this.addModule('fc1', new Linear(inFeatures, hiddenFeatures, rng));
    this.fc2 = this.addModule('fc2', new Linear(hiddenFeatures, options.outFeatures ?? inFeatures, rng));
    this.drop = new Dropout(options.dropRate ?? 0);
    this.activation = options.activation ?? gelu;
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return tf.tidy(() => {
      const h = this.drop.forward(this.activation(this.fc1.forward(x)), ctx);
      return this.drop.forward(this.fc2.forward(h), ctx);
    });
  }
}
