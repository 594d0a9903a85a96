import { checkInteger, checkNumber, LayerNorm, Linear, Mlp, Module, scaledDotProductAttention, tf, type ForwardContext, type Rng } from '@tessera/core';

/** Single-head attention whose output width differs from its input width (T2T's `attn`: names qkv, proj). */
class TokenAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;

  constructor(
    dim: number,
    readonly outDim: number,
    readonly scale: number,
    rng: Rng,
    qkvBias: boolean,
  ) {
    super();
    this.qkv = this.addModule('qkv', new Linear(dim, 3 * outDim, rng, { bias: qkvBias }));
    this.proj = this.addModule('proj', new Linear(outDim, outDim, rng));
  }

  /** v + proj(softmax(q·kᵀ·scale)·v): the skip goes through v because the width changes. */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, n] = x.shape;
      const e = this.outDim;
      const [q, k, v] = tf.split(this.qkv.forward(x), 3, -1).map((t) => tf.reshape(t, [b, 1, n, e]) as tf.Tensor4D) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const { output } = scaledDotProductAttention(q, k, v, this.scale);
      const values = tf.reshape(v, [b, n, e]);
      return tf.add(values, this.proj.forward(tf.reshape(output, [b, n, e]))) as tf.Tensor3D;
    });
  }
}

export interface TokenTransformerOptions {
  readonly mlpRatio?: number;
  readonly qkvBias?: boolean;
  /** Overrides the official scale, dim^-0.5 of the *input* width (147 or 576), not of the output width. */
  readonly qkScale?: number;
}

/**
 * T2T-ViT's Token_transformer (the `t2t_vit_t_*` models, §3.1): LN over the
 * input width, single-head attention to the narrower output width with the skip
 * through v, then a residual MLP (LN, fc1, GELU, fc2). No dropout, as in the
 * official T2T module. State-dict names norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2.
 */
export class TokenTransformer extends Module {
  readonly norm1: LayerNorm;
  readonly attn: TokenAttention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(
    readonly dim: number,
    readonly outDim: number,
    rng: Rng,
    options: TokenTransformerOptions = {},
  ) {
    super();
    checkInteger('dim', dim, 1);
    checkInteger('outDim', outDim, 1);
    const mlpRatio = checkNumber('mlpRatio', options.mlpRatio ?? 1, Number.MIN_VALUE, Number.MAX_VALUE);
    const scale = checkNumber('qkScale', options.qkScale ?? dim ** -0.5, Number.MIN_VALUE, Number.MAX_VALUE);
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, rng, 1e-5));
    this.attn = this.addModule('attn', new TokenAttention(dim, outDim, scale, rng, options.qkvBias ?? false));
    this.norm2 = this.addModule('norm2', new LayerNorm(outDim, rng, 1e-5));
    this.mlp = this.addModule('mlp', new Mlp(outDim, Math.floor(outDim * mlpRatio), rng));
  }

  /** [B, N, dim] → [B, N, outDim]. */
  forward(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    return tf.tidy(() => {
      const h = this.attn.forward(this.norm1.forward(x) as tf.Tensor3D);
      return tf.add(h, this.mlp.forward(this.norm2.forward(h), ctx)) as tf.Tensor3D;
    });
  }
}
