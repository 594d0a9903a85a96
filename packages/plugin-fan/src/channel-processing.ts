import { checkInteger, constant, Dropout, InvalidArgumentError, LayerNorm, Linear, Module, tf, type ForwardContext, type Grid, type Rng } from '@tessera/core';
import { FanMlp } from './fan-mlp.js';

/**
 * The channel gate of the paper's Eq. 7 as implemented (papers.md §3.3; models/fan.py
 * ChannelProcessing._gen_attn), for q and k as [B, h, d, N] (tokens last):
 * Q̃ = softmax of q over tokens, κ = mean over channels of softmax of k over tokens,
 * s[c] = Σₙ Q̃[c, n]·κ[n], α = σ(s) · τ. Returns α [B, h, d].
 */
export function channelGate(q: tf.Tensor4D, k: tf.Tensor4D, temperature: tf.Tensor): tf.Tensor3D {
  return tf.tidy(() => {
    const prototype = tf.mean(tf.softmax(k), 2, true); // κ: [B, h, 1, N], a probability vector over tokens
    const score = tf.sum(tf.mul(tf.softmax(q), prototype), 3); // [B, h, d]
    return tf.mul(tf.sigmoid(score), tf.reshape(temperature, [1, -1, 1])) as tf.Tensor3D;
  });
}

export interface ChannelProcessingOptions {
  readonly numHeads: number;
  readonly mlpHiddenDim: number;
  readonly qkvBias?: boolean;
  readonly attnDrop?: number;
  readonly dropRate?: number;
  /** LayerNorm eps of the value path: PyTorch's default 1e-5 in the official code, for FAN-ViT and FAN-Swin alike. */
  readonly normVEps?: number;
  /** FAN-ViT's value MLP adds its DWConv branch to fc1's output; FAN-Swin's does not. */
  readonly mlpResidual?: boolean;
}

/**
 * FAN's attentional channel processing (the paper's Eq. 7, papers.md §3.3): k = v = the
 * normalised input without projection; a per-channel gate from a token prototype
 * scales the value path LN_v(MLP_v(x)). Names temperature, mlp_v, norm_v, q.
 */
export class ChannelProcessing extends Module {
  readonly temperature: tf.Variable;
  readonly mlpV: FanMlp;
  readonly normV: LayerNorm;
  readonly q: Linear;
  readonly numHeads: number;
  private readonly attnDrop: Dropout;

  constructor(
    readonly dim: number,
    rng: Rng,
    options: ChannelProcessingOptions,
  ) {
    super();
    this.numHeads = checkInteger('numHeads', options.numHeads, 1);
    if (dim % this.numHeads !== 0) throw new InvalidArgumentError('numHeads', this.numHeads, `a divisor of the width ${dim}`);
    // τ is excluded from weight decay (ChannelProcessing.no_weight_decay).
    this.temperature = this.addParameter('temperature', constant(1)([this.numHeads, 1, 1], rng), { weightDecay: false });
    this.mlpV = this.addModule('mlp_v', new FanMlp(dim, options.mlpHiddenDim, rng, { residual: options.mlpResidual ?? true, dropRate: options.dropRate }));
    this.normV = this.addModule('norm_v', new LayerNorm(dim, rng, options.normVEps ?? 1e-5));
    this.q = this.addModule('q', new Linear(dim, dim, rng, { bias: options.qkvBias ?? false }));
    this.attnDrop = new Dropout(options.attnDrop ?? 0);
  }

  /** α [B, h, d] for x [B, N, C]. */
  gate(x: tf.Tensor3D): tf.Tensor3D {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    const tokensLast = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [b, n, h, c / h]), [0, 2, 3, 1]) as tf.Tensor4D;
    return tf.tidy(() => channelGate(tokensLast(this.q.forward(x)), tokensLast(x), this.temperature));
  }

  forward(x: tf.Tensor3D, grid: Grid, ctx: ForwardContext): tf.Tensor3D {
    const [b, n, c] = x.shape;
    if (x.rank !== 3 || c !== this.dim) throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, `tokens [B, N, ${this.dim}]`);
    const h = this.numHeads;
    return tf.tidy(() => {
      const alpha = this.attnDrop.forward(this.gate(x), ctx);
      const value = this.normV.forward(this.mlpV.forward(x, grid, ctx));
      // out[b, n, (h, c)] = α[b, h, c] · v[b, n, (h, c)]: the (head, channel) order is the channel order.
      return tf.mul(value, tf.reshape(alpha, [b, 1, c])) as tf.Tensor3D;
    });
  }
}
