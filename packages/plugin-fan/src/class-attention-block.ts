import {
  Block,
  ClassAttention,
  CompositionError,
  constant,
  DropPath,
  LayerNorm,
  layerScale,
  Mlp,
  tf,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type Rng,
  type TokenSpec,
} from '@tessera/core';

export interface FanClassAttentionOptions {
  readonly numHeads: number;
  readonly mlpRatio?: number;
  readonly qkvBias?: boolean;
  readonly dropRate?: number;
  readonly attnDropRate?: number;
  readonly dropPath?: number;
  readonly eta?: number;
  readonly normEps?: number;
  /** LN₂ over every token, replacing them (true in every released FAN); else over the class token only. */
  readonly tokensNorm?: boolean;
}

export function fanClassAttentionOutput(input: FeatureSpec, options: FanClassAttentionOptions): TokenSpec {
  if (input.layout !== 'tokens') throw new CompositionError(`fan_class_attention takes tokens, not ${input.layout}`);
  if (input.numPrefixTokens < 1) throw new CompositionError('fan_class_attention needs a class token leading the tokens; add a class_token stage before it');
  if (input.channels % options.numHeads !== 0) throw new CompositionError(`numHeads ${options.numHeads} does not divide the token width ${input.channels}`);
  return input;
}

/**
 * FAN's class-attention block, as the official code computes it, not as CaiT does
 * (papers.md §3.4; models/fan.py ClassAttentionBlock; NVlabs/FAN issue #19):
 *   u = LN₁(x);  x = x + DP(γ₁ ⊙ [CA(u); u_patches])   — the patches get their own normalised value added
 *   x = LN₂(x)                                         — tokens_norm: a replacement over all tokens, not a residual
 *   x = x + DP([γ₂ ⊙ MLP(x_cls); x_patches])           — the MLP acts on the class token only
 * Records the class token's attention [B, heads, 1, N] when the model asks (TransMix).
 */
export class FanClassAttentionBlock extends Block {
  readonly gamma1: tf.Variable;
  readonly gamma2: tf.Variable;
  readonly norm1: LayerNorm;
  readonly attn: ClassAttention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly tokensNorm: boolean;
  readonly dropPath: DropPath;

  constructor(input: TokenSpec, options: FanClassAttentionOptions, rng: Rng) {
    super(input, fanClassAttentionOutput(input, options));
    const dim = input.channels;
    const eta = options.eta ?? 1;
    const eps = options.normEps ?? 1e-6;
    this.gamma1 = this.addParameter('gamma1', constant(eta)([dim], rng));
    this.gamma2 = this.addParameter('gamma2', constant(eta)([dim], rng));
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, rng, eps));
    this.attn = this.addModule(
      'attn',
      new ClassAttention(dim, rng, { numHeads: options.numHeads, qkvBias: options.qkvBias ?? true, attnDrop: options.attnDropRate, projDrop: options.dropRate }),
    );
    this.dropPath = new DropPath(options.dropPath ?? 0);
    this.norm2 = this.addModule('norm2', new LayerNorm(dim, rng, eps));
    this.mlp = this.addModule('mlp', new Mlp(dim, Math.floor(dim * (options.mlpRatio ?? 4)), rng, { dropRate: options.dropRate }));
    this.tokensNorm = options.tokensNorm ?? true;
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'tokens' || x.numPrefixTokens < 1) throw new CompositionError('fan_class_attention expects tokens led by a class token');
    const [b, n, c] = x.tensor.shape;
    const record = ctx.captureAttention ? { grid: x.grid, numPrefixTokens: x.numPrefixTokens } : undefined;
    const tensor = tf.tidy(() => {
      const rest = (t: tf.Tensor) => tf.slice(t, [0, 1, 0], [b, n - 1, c]);
      const first = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [b, 1, c]);
      const u = this.norm1.forward(x.tensor);
      const attended = tf.concat([this.attn.forward(u as tf.Tensor3D, ctx, record), rest(u)], 1);
      const h = tf.add(x.tensor, this.dropPath.forward(layerScale(attended, this.gamma1 as tf.Tensor1D), ctx));
      const normed = this.tokensNorm ? this.norm2.forward(h) : tf.concat([this.norm2.forward(first(h)), rest(h)], 1);
      const cls = layerScale(this.mlp.forward(first(normed), ctx), this.gamma2 as tf.Tensor1D);
      return tf.add(normed, this.dropPath.forward(tf.concat([cls, rest(normed)], 1), ctx)) as tf.Tensor3D;
    });
    return { ...x, tensor };
  }
}
