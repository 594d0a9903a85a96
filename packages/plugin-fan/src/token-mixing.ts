import { checkInteger, Dropout, InvalidArgumentError, Linear, Module, scaledDotProductAttention, tf, type ForwardContext, type Rng } from '@tessera/core';

export interface TokenMixingOptions {
  readonly numHeads: number;
  readonly qkvBias?: boolean;
  readonly attnDrop?: number;
  readonly projDrop?: number;
}

/**
 * FAN's spatial self-attention (papers.md §3.2; models/fan.py TokenMixing): separate q
 * and kv projections (names q, kv, proj), scale head_dim^-0.5. The official class
 * accepts sr_ratio, sharpen_attn, linear and emlp and uses none of them.
 */
export class TokenMixing extends Module {
  readonly q: Linear;
  readonly kv: Linear;
  readonly proj: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  private readonly attnDrop: Dropout;
  private readonly projDrop: Dropout;

  constructor(
    readonly dim: number,
    rng: Rng,
    options: TokenMixingOptions,
  ) {
    super();
    this.numHeads = checkInteger('numHeads', options.numHeads, 1);
    if (dim % this.numHeads !== 0) throw new InvalidArgumentError('numHeads', this.numHeads, `a divisor of the width ${dim}`);
    this.headDim = dim / this.numHeads;
    const bias = options.qkvBias ?? false;
    this.q = this.addModule('q', new Linear(dim, dim, rng, { bias }));
    this.kv = this.addModule('kv', new Linear(dim, 2 * dim, rng, { bias }));
    this.attnDrop = new Dropout(options.attnDrop ?? 0);
    this.proj = this.addModule('proj', new Linear(dim, dim, rng));
    this.projDrop = new Dropout(options.projDrop ?? 0);
  }

  forward(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    const d = this.headDim;
    return tf.tidy(() => {
      const q = tf.transpose(tf.reshape(this.q.forward(x), [b, n, h, d]), [0, 2, 1, 3]) as tf.Tensor4D;
      // kv's channels are ordered (k|v, head, d), as the official reshape(B, N, 2, h, d) reads them.
      const kv = tf.transpose(tf.reshape(this.kv.forward(x), [b, n, 2, h, d]), [2, 0, 3, 1, 4]);
      const [k, v] = tf.unstack(kv, 0) as [tf.Tensor4D, tf.Tensor4D];
      const { output } = scaledDotProductAttention(q, k, v, this.headDim ** -0.5, { module: this.attnDrop, ctx });
      return this.projDrop.forward(this.proj.forward(tf.reshape(tf.transpose(output, [0, 2, 1, 3]), [b, n, c])), ctx) as tf.Tensor3D;
    });
  }
}
