import { batchMatMul, checkInteger, checkNumber, Dropout, InvalidArgumentError, gelu, LayerNorm, Linear, linear, Module, tf, type ForwardContext, type Rng } from '@tessera/core';

/** Stabiliser of the performer's normalisation, as in the official token_performer.py. */
const PERFORMER_EPS = 1e-8;

/**
 * A matrix with orthonormal rows (rows ≤ cols) or columns (rows > cols), drawn as
 * PyTorch's `nn.init.orthogonal_` does: Gram–Schmidt (QR with a positive R
 * diagonal) of a Gaussian matrix, from our Rng.
 */
export function orthogonalMatrix(rows: number, cols: number, rng: Rng): Float64Array {
  checkInteger('rows', rows, 1);
  checkInteger('cols', cols, 1);
  // Orthonormalise `count` vectors of length `len`; vector i lives at i·len.
  const count = Math.min(rows, cols);
  const len = Math.max(rows, cols);
  const v = new Float64Array(count * len);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let t = 0; t < len; t++) dot += v[i * len + t]! * v[j * len + t]!;
      for (let t = 0; t < len; t++) v[i * len + t] = v[i * len + t]! - dot * v[j * len + t]!;
    }
    let norm = 0;
    for (let t = 0; t < len; t++) norm += v[i * len + t]! ** 2;
    norm = Math.sqrt(norm);
    for (let t = 0; t < len; t++) v[i * len + t] = v[i * len + t]! / norm;
  }
  if (rows <= cols) return v;
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < count; i++) for (let t = 0; t < len; t++) out[t * cols + i] = v[i * len + t]!;
  return out;
}

/** The performer's MLP, an nn.Sequential in the official code: state-dict names `0` and `2`. */
class SequentialMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly drop: Dropout;

  constructor(dim: number, rng: Rng, dropRate: number) {
    super();
    this.fc1 = this.addModule('0', new Linear(dim, dim, rng));
    this.fc2 = this.addModule('2', new Linear(dim, dim, rng));
    this.drop = new Dropout(dropRate);
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    return this.drop.forward(this.fc2.forward(gelu(this.fc1.forward(x))), ctx);
  }
}

export interface TokenPerformerOptions {
  /** Random features per output channel: m = ⌊outDim · kernelRatio⌋ (0.5 in T2T-ViT). */
  readonly kernelRatio?: number;
  /** Dropout after the projection and after the MLP; hard-coded to 0.1 in the official code. */
  readonly dropRate?: number;
}

/** What the random-feature attention computes before its projection, for inspection and tests. */
export interface PerformerAttention {
  /** v [B, N, outDim]: the values averaged, and the skip connection. */
  readonly values: tf.Tensor3D;
  /** Σ_s κ(q_t, k_s) v_s / Σ_s κ(q_t, k_s) [B, N, outDim], a convex combination of the values. */
  readonly output: tf.Tensor3D;
  readonly queryFeatures: tf.Tensor3D;
  readonly keyFeatures: tf.Tensor3D;
}

/**
 * T2T-ViT's Token_performer (§3.1 with Performer attention, Choromanski et al.
 * 2021): LN, a single-head linear-time attention with positive random features
 * φ(x) = exp(w·x − ‖x‖²/2)/√m, whose fixed projection `w` [m, outDim] (orthogonal
 * rows scaled by √m) is a frozen parameter stored in checkpoints. The input width
 * differs from the output width, so the skip connection goes through v; then a
 * residual MLP. State-dict names kqv, proj, norm1, norm2, mlp.0, mlp.2, w.
 */
export class TokenPerformer extends Module {
  readonly kqv: Linear;
  readonly proj: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly mlp: SequentialMlp;
  readonly w: tf.Variable;
  readonly numFeatures: number;
  private readonly drop: Dropout;

  constructor(
    readonly dim: number,
    readonly outDim: number,
    rng: Rng,
    options: TokenPerformerOptions = {},
  ) {
    super();
    checkInteger('dim', dim, 1);
    checkInteger('outDim', outDim, 1);
    const kernelRatio = checkNumber('kernelRatio', options.kernelRatio ?? 0.5, Number.MIN_VALUE, Number.MAX_VALUE);
    this.numFeatures = Math.floor(outDim * kernelRatio);
    if (this.numFeatures < 1) {
      throw new InvalidArgumentError('kernelRatio', kernelRatio, `at least ${1 / outDim} so that ⌊${outDim}·kernelRatio⌋ >= 1 random feature`);
    }
    const dropRate = options.dropRate ?? 0.1;
    this.kqv = this.addModule('kqv', new Linear(dim, 3 * outDim, rng));
    this.drop = new Dropout(dropRate);
    this.proj = this.addModule('proj', new Linear(outDim, outDim, rng));
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, rng, 1e-5));
    this.norm2 = this.addModule('norm2', new LayerNorm(outDim, rng, 1e-5));
    this.mlp = this.addModule('mlp', new SequentialMlp(outDim, rng, dropRate));
    const m = this.numFeatures;
    const w = orthogonalMatrix(m, outDim, rng).map((v) => v * Math.sqrt(m));
    this.w = this.addParameter('w', tf.tensor2d(Float32Array.from(w), [m, outDim]), { trainable: false, weightDecay: false });
  }

  /** Positive random features φ(x) = exp(w·x − ‖x‖²/2)/√m: [B, N, outDim] → [B, N, m]. */
  randomFeatures(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const projected = linear(x, tf.transpose(this.w) as tf.Tensor2D);
      const halfSquaredNorm = tf.div(tf.sum(tf.square(x), -1, true), 2);
      return tf.div(tf.exp(tf.sub(projected, halfSquaredNorm)), Math.sqrt(this.numFeatures)) as tf.Tensor3D;
    });
  }

  /**
   * The attention on normalised tokens [B, N, dim], before projection and skip:
   * y_t = φ(q_t)·(Σ_s φ(k_s) v_sᵀ) / (φ(q_t)·Σ_s φ(k_s) + ε), linear in N.
   */
  attend(x: tf.Tensor3D): PerformerAttention {
    return tf.tidy(() => {
      const kqv = this.kqv.forward(x);
      // The official split order is k, q, v.
      const [k, q, v] = tf.split(kqv, 3, -1) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
      const kp = this.randomFeatures(k);
      const qp = this.randomFeatures(q);
      const normaliser = tf.sum(tf.mul(qp, tf.sum(kp, 1, true)), -1, true);
      // Core's batchMatMul: tfjs-wasm runs batched products in a scalar loop, forward and backward.
      const kv = batchMatMul(v, kp, true); // Σ_s v_s φ(k_s)ᵀ: [B, e, m]
      const numerator = batchMatMul(qp, kv, false, true); // [B, N, e]
      const output = tf.div(numerator, tf.add(normaliser, PERFORMER_EPS)) as tf.Tensor3D;
      return { values: v, output, queryFeatures: qp, keyFeatures: kp };
    });
  }

  /** [B, N, dim] → [B, N, outDim]. */
  forward(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    return tf.tidy(() => {
      const { values, output } = this.attend(this.norm1.forward(x) as tf.Tensor3D);
      const h = tf.add(values, this.drop.forward(this.proj.forward(output), ctx));
      return tf.add(h, this.mlp.forward(this.norm2.forward(h), ctx)) as tf.Tensor3D;
    });
  }
}
