import { expect } from 'vitest';
import { expectRelClose } from './rel-close.js';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Class-token attention recomputed from its definition (TransMix §3.2; timm's Attention), from a model's
 * state dict in PyTorch names and layouts (`torchStateDict(model)`), independently of the model's code:
 *
 *   x₀ = [cls; tokens] + pos_embed
 *   x_{i+1} = x_i + proj(attn_i(LN1_i(x_i))), then + fc2(GELU(fc1(LN2_i(·))))  for every block but the last
 *   A = softmax(q·kᵀ·scale) with q, k from the last block's LN1 → qkv, per head
 *   result = A[:, :, 0, prefix:]: the class token's row, prefix columns dropped → [B, heads, patches]
 *
 * Plain tf ops in float32 on the active backend. Besides `expected` it returns two wrong answers a faulty
 * model could give (the class row of the block before the last, and the first patch token's row of the last
 * block), so a test can show its tolerance tells them apart.
 */
export interface ClsAttentionReference {
  readonly expected: Float32Array;
  readonly previousBlock: Float32Array;
  readonly patchRow: Float32Array;
  readonly shape: [number, number, number];
}

export interface ClsAttentionArgs {
  /** PyTorch names and layouts: linear weights [out, in]. */
  readonly state: Record<string, tf.Tensor>;
  /** The stem's tokens [B, patches, D], before the class token. */
  readonly tokens: tf.Tensor3D;
  /** Keys of the class token [1, 1, D] and of the position embedding [1, 1 + patches, D] (null: none). */
  readonly clsToken: string;
  readonly posEmbed: string | null;
  /** State-dict prefixes of the backbone's blocks in order, e.g. ['blocks.0.', 'blocks.1.']. */
  readonly blocks: readonly string[];
  readonly numHeads: number;
  /** q·kᵀ scale: head_dim^-0.5 unless the model says otherwise. */
  readonly scale: number;
  readonly normEps: number;
}

function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), weight), bias);
}

/** x·Wᵀ + b with W in PyTorch's [out, in] layout. */
function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const [b, n, c] = x.shape as [number, number, number];
  const y = tf.reshape(tf.matMul(tf.reshape(x, [b * n, c]), weight, false, true), [b, n, weight.shape[0]!]);
  return bias ? tf.add(y, bias) : y;
}

/** Exact GELU, 0.5·x·(1 + erf(x/√2)). */
const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));

function need(state: Record<string, tf.Tensor>, key: string): tf.Tensor {
  const t = state[key];
  if (!t) throw new Error(`state dict has no ${key}; keys: ${Object.keys(state).slice(0, 12).join(', ')}…`);
  return t;
}

/** Attention probabilities [B, h, N, N] of one block on x. */
function attentionProbs(state: Record<string, tf.Tensor>, prefix: string, x: tf.Tensor, args: ClsAttentionArgs): tf.Tensor4D {
  const [b, n, c] = x.shape as [number, number, number];
  const h = args.numHeads;
  const normed = layerNorm(x, need(state, `${prefix}norm1.weight`), need(state, `${prefix}norm1.bias`), args.normEps);
  const qkv = linear(normed, need(state, `${prefix}attn.qkv.weight`), state[`${prefix}attn.qkv.bias`]);
  // timm's channel order (qkv, head, head_dim).
  const split = tf.transpose(tf.reshape(qkv, [b, n, 3, h, c / h]), [2, 0, 3, 1, 4]);
  const [q, k] = tf.unstack(split).slice(0, 2) as [tf.Tensor4D, tf.Tensor4D];
  return tf.softmax(tf.mul(tf.matMul(q, k, false, true), args.scale)) as tf.Tensor4D;
}

function block(state: Record<string, tf.Tensor>, prefix: string, x: tf.Tensor, args: ClsAttentionArgs, eps2 = args.normEps): tf.Tensor {
  const [b, n, c] = x.shape as [number, number, number];
  const h = args.numHeads;
  const probs = attentionProbs(state, prefix, x, args);
  const normed = layerNorm(x, need(state, `${prefix}norm1.weight`), need(state, `${prefix}norm1.bias`), args.normEps);
  const qkv = linear(normed, need(state, `${prefix}attn.qkv.weight`), state[`${prefix}attn.qkv.bias`]);
  const v = tf.unstack(tf.transpose(tf.reshape(qkv, [b, n, 3, h, c / h]), [2, 0, 3, 1, 4]))[2]!;
  const mixed = tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [b, n, c]);
  const x1 = tf.add(x, linear(mixed, need(state, `${prefix}attn.proj.weight`), need(state, `${prefix}attn.proj.bias`)));
  const normed2 = layerNorm(x1, need(state, `${prefix}norm2.weight`), need(state, `${prefix}norm2.bias`), eps2);
  const hidden = gelu(linear(normed2, need(state, `${prefix}mlp.fc1.weight`), need(state, `${prefix}mlp.fc1.bias`)));
  return tf.add(x1, linear(hidden, need(state, `${prefix}mlp.fc2.weight`), need(state, `${prefix}mlp.fc2.bias`)));
}

export function referenceClsAttention(args: ClsAttentionArgs): ClsAttentionReference {
  if (args.blocks.length < 2) throw new Error('referenceClsAttention needs at least two blocks (to offer the previous block as a wrong answer)');
  return tf.tidy(() => {
    const { state, tokens } = args;
    const b = tokens.shape[0];
    const cls = tf.tile(need(state, args.clsToken), [b, 1, 1]);
    let x: tf.Tensor = tf.concat([cls, tokens], 1);
    if (args.posEmbed) x = tf.add(x, need(state, args.posEmbed));
    let previous: tf.Tensor4D | undefined;
    args.blocks.forEach((prefix, i) => {
      if (i === args.blocks.length - 2) previous = attentionProbs(state, prefix, x, args);
      if (i < args.blocks.length - 1) x = block(state, prefix, x, args);
    });
    const last = attentionProbs(state, args.blocks[args.blocks.length - 1]!, x, args);
    const [, h, n] = last.shape;
    const row = (p: tf.Tensor4D, r: number) => tf.slice(p, [0, 0, r, 1], [b, h, 1, n - 1]).dataSync() as Float32Array;
    return { expected: row(last, 0), previousBlock: row(previous!, 0), patchRow: row(last, 1), shape: [b, h, n - 1] as [number, number, number] };
  });
}

/**
 * A copy of `state` whose blocks' qkv weights are drawn N(0, 1/D) (seeded), so that q·kᵀ·scale has unit spread
 * and the attention rows are far from uniform: with timm's 0.02 init every row is nearly 1/N and a wrong block
 * or row would differ from the right one by little. The caller disposes the new tensors (`replaced`).
 */
export function sharpenAttention(state: Record<string, tf.Tensor>, blocks: readonly string[], seed: number): { state: Record<string, tf.Tensor>; replaced: tf.Tensor[] } {
  const out = { ...state };
  const replaced: tf.Tensor[] = [];
  blocks.forEach((prefix, i) => {
    const key = `${prefix}attn.qkv.weight`;
    const w = need(state, key);
    const t = tf.randomNormal(w.shape, 0, 1 / Math.sqrt(w.shape[1]!), 'float32', seed + i);
    out[key] = t;
    replaced.push(t);
  });
  return { state: out, replaced };
}

/**
 * The keys `referenceClsAttention` needs, found by the official suffixes in state-dict order: the class token,
 * the position embedding (or null) and every block with a fused `attn.qkv` (stem layers named otherwise, such as
 * T2T's performer `kqv`, are not blocks). Robust to where a spec puts its stages.
 */
export function backboneKeys(state: Record<string, tf.Tensor>): { clsToken: string; posEmbed: string | null; blocks: string[] } {
  const keys = Object.keys(state);
  const clsToken = keys.find((k) => /(^|\.)cls_token$/.test(k));
  if (!clsToken) throw new Error('no cls_token in the state dict');
  const posEmbed = keys.find((k) => /(^|\.)pos_embed$/.test(k)) ?? null;
  const blocks = keys.filter((k) => k.endsWith('attn.qkv.weight')).map((k) => k.slice(0, -'attn.qkv.weight'.length));
  return { clsToken, posEmbed, blocks };
}

/**
 * A patch embedding (a convolution whose stride equals its kernel) written as what it is: each p×p patch,
 * flattened in PyTorch's (channel, row, column) order, times the OIHW kernel flattened to [D, C·p·p], plus bias.
 * images NHWC [B, H, W, C] → tokens [B, (H/p)·(W/p), D], row-major over the grid.
 */
export function patchTokens(images: tf.Tensor4D, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, hh, ww, c] = images.shape;
    const [d, , p] = weight.shape as [number, number, number, number];
    const gh = Math.floor(hh / p);
    const gw = Math.floor(ww / p);
    const cropped = tf.slice(images, [0, 0, 0, 0], [b, gh * p, gw * p, c]);
    const patches = tf.reshape(tf.transpose(tf.reshape(cropped, [b, gh, p, gw, p, c]), [0, 1, 3, 5, 2, 4]), [b, gh * gw, c * p * p]);
    return linear(patches, tf.reshape(weight, [d, c * p * p]), bias) as tf.Tensor3D;
  });
}

/** Largest |a_i − b_i|. */
function maxAbsGap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/**
 * The model's clsAttention equals the definition at 1e-5 (float32 attention probabilities, both sides recomputing the
 * same few blocks in a different op order), and the definition differs from the two likely faults (the block before the
 * last, a patch token's row) by at least 1e-3, so the tolerance cannot hide them.
 */
export function expectClsAttentionMatches(actual: { shape: number[]; values: ArrayLike<number> }, reference: ClsAttentionReference, what: string): void {
  expect(actual.shape, `${what}: shape`).toEqual(reference.shape);
  expectRelClose(actual.values, reference.expected, `${what}: clsAttention vs softmax(q·kᵀ·scale) of the last block`, 1e-5);
  expect(maxAbsGap(reference.previousBlock, reference.expected), `${what}: the block before the last attends differently`).toBeGreaterThan(1e-3);
  expect(maxAbsGap(reference.patchRow, reference.expected), `${what}: a patch token's row differs from the class row`).toBeGreaterThan(1e-3);
}

/**
 * The whole pre-norm ViT backbone and head from the same state dict: every block, the final LayerNorm on the class
 * token, then the linear head → logits [B, classes]. `eps` sets each group of LayerNorms apart (norm1 of every block,
 * norm2 of every block, the final norm), so a test can show a fixture tells each group's eps apart.
 */
export function referenceLogits(
  args: ClsAttentionArgs & { readonly norm: string; readonly head: string; readonly eps: { readonly norm1: number; readonly norm2: number; readonly final: number } },
): Float32Array {
  return tf.tidy(() => {
    const { state, tokens } = args;
    const b = tokens.shape[0];
    const perBlock = { ...args, normEps: args.eps.norm1 };
    let x: tf.Tensor = tf.concat([tf.tile(need(state, args.clsToken), [b, 1, 1]), tokens], 1);
    if (args.posEmbed) x = tf.add(x, need(state, args.posEmbed));
    for (const prefix of args.blocks) x = block(state, prefix, x, perBlock, args.eps.norm2);
    const cls = tf.slice(x, [0, 0, 0], [b, 1, x.shape[2]!]);
    const normed = layerNorm(cls, need(state, `${args.norm}.weight`), need(state, `${args.norm}.bias`), args.eps.final);
    return tf.reshape(linear(normed, need(state, `${args.head}.weight`), need(state, `${args.head}.bias`)), [b, -1]).dataSync() as Float32Array;
  });
}

/**
 * A copy of `state` whose residual stream has a per-token spread of ~1e-3 everywhere: whatever writes into it (the
 * stem's last projection, class token, position embedding, each block's attention projection and MLP output) is
 * scaled by 1e-3. Every LayerNorm then sees variance ~1e-6, where eps 1e-6 and 1e-5 give outputs apart by O(1).
 */
export function shrinkResidualStream(state: Record<string, tf.Tensor>, writers: readonly string[]): { state: Record<string, tf.Tensor>; replaced: tf.Tensor[] } {
  const out = { ...state };
  const replaced: tf.Tensor[] = [];
  for (const key of Object.keys(state)) {
    if (!writers.some((w) => key === w || key.endsWith(`.${w}`) || key.startsWith(`${w}.`))) continue;
    const t = tf.mul(state[key]!, 1e-3);
    out[key] = t;
    replaced.push(t);
  }
  return { state: out, replaced };
}
