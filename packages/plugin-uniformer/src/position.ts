import { Conv2d, type Rng, tf } from '@tessera/core';

/**
 * UniFormer's dynamic position embedding (DPE, paper §3.2; `pos_embed` in
 * uniformer.py L86/L108): a depthwise 3×3 convolution with bias, zero-padded so the
 * grid keeps its size, added as a residual in front of every block. Position is
 * inferred from the zero padding at the borders, so any grid size works.
 */
export class DynamicPositionEmbedding extends Conv2d {
  constructor(dim: number, rng: Rng) {
    super(dim, dim, 3, rng, { padding: 1, groups: dim });
  }

  /** x + DWConv3×3(x) on an NHWC batch. */
  embed(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.add(x, this.forward(x)) as tf.Tensor4D);
  }
}
