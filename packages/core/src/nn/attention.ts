import { checkInteger, checkNumber, InvalidArgumentError } from '../errors.js';
import type { Grid } from '../tensor/layout.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import type { ForwardContext } from './context.js';
import { batchMatMul } from '../ops/batch-matmul.js';
import { stopGradient } from '../ops/gradient.js';
import { wasmHeadsToTokens, wasmTokensToHeads } from '../ops/wasm-attention-heads.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/**
 * softmax(q·kᵀ · scale) · v for q [B, H, Nq, d], k and v [B, H, Nk, d].
 * Returns the output [B, H, Nq, d] and the attention probabilities [B, H, Nq, Nk]
 * (after softmax, before dropout), whose rows sum to 1.
 */
export function scaledDotProductAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  scale: number,
  dropout?: { module: Dropout; ctx: ForwardContext },
): { output: tf.Tensor4D; probs: tf.Tensor4D } {
  return tf.tidy(() => {
    // batchMatMul rather than tf.matMul: tfjs-wasm runs batched products in a scalar loop (ops/wasm-batch-matmul.ts).
    const logits = batchMatMul(q, k, false, true, scale);
    const probs = tf.softmax(logits) as tf.Tensor4D;
    const dropped = dropout ? dropout.module.forward(probs, dropout.ctx) : probs;
    return { output: batchMatMul(dropped, v) as tf.Tensor4D, probs };
  });
}

export interface AttentionOptions {
  readonly numHeads: number;
  readonly qkvBias?: boolean;
  /** Overrides head_dim^-0.5 (T2T-ViT's released checkpoints need embed_dim^-0.5). */
  readonly qkScale?: number;
  readonly attnDrop?: number;
  readonly projDrop?: number;
}

/** Multi-head self-attention with a fused qkv projection (timm's Attention; names qkv, proj). */
export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  readonly scale: number;
  private readonly attnDrop: Dropout;
  private readonly projDrop: Dropout;

  constructor(
    readonly dim: number,
    rng: Rng,
    options: AttentionOptions,
  ) {
    super();
    this.numHeads = checkInteger('numHeads', options.numHeads, 1);
    if (dim % this.numHeads !== 0) throw new InvalidArgumentError('numHeads', this.numHeads, `a divisor of the width ${dim}`);
    this.headDim = dim / this.numHeads;
    this.scale = options.qkScale ?? this.headDim ** -0.5;
    checkNumber('qkScale', this.scale, Number.MIN_VALUE, Number.MAX_VALUE);
    this.qkv = this.addModule('qkv', new Linear(dim, dim * 3, rng, { bias: options.qkvBias ?? true }));
    this.attnDrop = new Dropout(options.attnDrop ?? 0);
    this.proj = this.addModule('proj', new Linear(dim, dim, rng));
    this.projDrop = new Dropout(options.projDrop ?? 0);
  }

  /**
   * x [B, N, C] → [B, N, C]. When `record` is given the probabilities are handed
   * to the context (cut from the gradient), for augmentations that read them.
   */
  forward(x: tf.Tensor3D, ctx: ForwardContext, record?: { grid: Grid; numPrefixTokens: number }): tf.Tensor3D {
    const [b, n, c] = x.shape;
    if (c !== this.dim) throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, `a width of ${this.dim}`);
    const h = this.numHeads;
    const d = this.headDim;
    return tf.tidy(() => {
      // The fused projection's channels are ordered (qkv, head, d) as in timm. On wasm
      // one block-copy kernel writes q, k and v head-major (ops/wasm-attention-heads.ts);
      // elsewhere two 4-D transposes ([B,N,3,C] → [3,B,N,C] → [3B,H,N,d]) and a split,
      // a third of what one 5-D transpose and an unstack cost (measured).
      const qkv = this.qkv.forward(x) as tf.Tensor3D;
      const [q, k, v] = (wasmTokensToHeads(qkv, 3, h) ?? this.splitHeads(qkv)) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const { output, probs } = scaledDotProductAttention(q, k, v, this.scale, { module: this.attnDrop, ctx });
      // Kept past this scope: the context owns the record until the model hands it out.
      if (record) ctx.recordAttention({ probs: tf.keep(stopGradient(probs)) as tf.Tensor4D, ...record });
      const merged = wasmHeadsToTokens([output]) ?? tf.reshape(tf.transpose(output, [0, 2, 1, 3]), [b, n, c]);
      return this.projDrop.forward(this.proj.forward(merged), ctx) as tf.Tensor3D;
    });
  }

  /** qkv [B, N, 3C] → q, k, v [B, H, N, d] with tfjs ops. */
  private splitHeads(qkv: tf.Tensor3D): tf.Tensor4D[] {
    const [b, n, c3] = qkv.shape;
    const c = c3 / 3;
    const qkvFirst = tf.transpose(tf.reshape(qkv, [b, n, 3, c]), [2, 0, 1, 3]);
    const heads = tf.transpose(tf.reshape(qkvFirst, [3 * b, n, this.numHeads, this.headDim]), [0, 2, 1, 3]);
    return tf.split(heads, 3, 0).map((t) => tf.reshape(t, [b, this.numHeads, n, this.headDim]) as tf.Tensor4D);
  }
}
