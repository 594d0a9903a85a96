import { Conv2d, Dropout, gelu, Module, type ForwardContext, type Rng, tf } from '@tessera/core';

/**
 * The MLP of UniFormer's local blocks with 1×1 convolutions (CMlp, uniformer.py
 * L34-51): fc1 (C → hidden) → GELU → dropout → fc2 (hidden → C) → dropout, on an
 * NHWC grid. The 1×1 kernels load from PyTorch's [out, in, 1, 1].
 */
export class ConvMlp extends Module {
  readonly fc1: Conv2d;
  readonly fc2: Conv2d;
  private readonly drop: Dropout;

  constructor(dim: number, hidden: number, rng: Rng, dropRate = 0) {
    super();
    this.fc1 = this.addModule('fc1', new Conv2d(dim, hidden, 1, rng));
    this.fc2 = this.addModule('fc2', new Conv2d(hidden, dim, 1, rng));
    this.drop = new Dropout(dropRate);
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const h = this.drop.forward(gelu(this.fc1.forward(x)), ctx) as tf.Tensor4D;
      return this.drop.forward(this.fc2.forward(h), ctx) as tf.Tensor4D;
    });
  }
}
