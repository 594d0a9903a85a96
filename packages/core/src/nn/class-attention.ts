import { checkInteger, checkNumber, InvalidArgumentError } from '../errors.js';
import type { Grid } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { stopGradient } from '../ops/gradient.js';
import { scaledDotProductAttention } from './attention.js';
import type { ForwardContext } from './context.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

export interface ClassAttentionOptions {
  readonly numHeads: number;
  readonly qkvBias?: boolean;
  /** Overrides head_dim^-0.5. */
  readonly qkScale?: number;
  readonly attnDrop?: number;
  readonly projDrop?: number;
}

/**
 * Class attention (CaiT, Touvron et al. 2021, §3 Eq. 2–3; timm's `ClassAttn`, used
 * as-is by FAN): only the class token (token 0) asks, every token including itself
 * answers. Separate q, k and v projections (names q, k, v, proj), so checkpoints
 * with a fused `qkv` are split on load (FAN's checkpoint_filter_fn).
 */
export class ClassAttention extends Module {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly proj: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  readonly scale: number;
  private readonly attnDrop: Dropout;
  private readonly projDrop: Dropout;

  constructor(
    readonly dim: number,
    rng: Rng,
    options: ClassAttentionOptions,
  ) {
    super();
    checkInteger('dim', dim, 1);
    this.numHeads = checkInteger('numHeads', options.numHeads, 1);
    if (dim % this.numHeads !== 0) throw new InvalidArgumentError('numHeads', this.numHeads, `a divisor of the width ${dim}`);
    this.headDim = dim / this.numHeads;
    this.scale = options.qkScale ?? this.headDim ** -0.5;
    checkNumber('qkScale', this.scale, Number.MIN_VALUE, Number.MAX_VALUE);
    const bias = options.qkvBias ?? false;
    this.q = this.addModule('q', new Linear(dim, dim, rng, { bias }));
    this.k = this.addModule('k', new Linear(dim, dim, rng, { bias }));
    this.v = this.addModule('v', new Linear(dim, dim, rng, { bias }));
    this.attnDrop = new Dropout(options.attnDrop ?? 0);
    this.proj = this.addModule('proj', new Linear(dim, dim, rng));
    this.projDrop = new Dropout(options.projDrop ?? 0);
  }

  /**
   * x [B, N, C] with the class token first → the class token's update [B, 1, C].
   * With `record`, the probabilities [B, heads, 1, N] go to the context, cut from the gradient.
   */
  forward(x: tf.Tensor3D, ctx: ForwardContext, record?: { grid: Grid; numPrefixTokens: number }): tf.Tensor3D {
    const [b, n, c] = x.shape;
    if (x.rank !== 3 || c !== this.dim) throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, `tokens [B, N, ${this.dim}]`);
    const h = this.numHeads;
    const d = this.headDim;
    return tf.tidy(() => {
      const heads = (t: tf.Tensor, rows: number) => tf.transpose(tf.reshape(t, [b, rows, h, d]), [0, 2, 1, 3]) as tf.Tensor4D;
      const cls = tf.slice(x, [0, 0, 0], [b, 1, c]);
      const q = heads(this.q.forward(cls), 1);
      const k = heads(this.k.forward(x), n);
      const v = heads(this.v.forward(x), n);
      const { output, probs } = scaledDotProductAttention(q, k, v, this.scale, { module: this.attnDrop, ctx });
      if (record) ctx.recordAttention({ probs: tf.keep(stopGradient(probs)) as tf.Tensor4D, ...record });
      const merged = tf.reshape(tf.transpose(output, [0, 2, 1, 3]), [b, 1, c]);
      return this.projDrop.forward(this.proj.forward(merged), ctx) as tf.Tensor3D;
    });
  }
}
