import { adamwUpdate, tf, type Parameter } from '@tessera/core';

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
}

/** A non-trainable variable of zeros shaped like `like` (tf.variable keeps its own reference, so the initial tensor is freed). */
function zeroVariable(like: tf.Tensor): tf.Variable {
  const zeros = tf.zerosLike(like);
  const variable = tf.variable(zeros, false);
  zeros.dispose();
  return variable;
}

/**
 * AdamW (Loshchilov & Hutter 2019, Alg. 2) in PyTorch's arrangement: the decay
 * p ← p − lr·λ·p is decoupled from the adaptive step and applied only to
 * parameters whose `weightDecay` flag is set (timm exempts norms, biases,
 * position embeddings and class tokens). Written out rather than taken from
 * tf.train so the flags are honoured and the moments can be checkpointed; each
 * tensor's step is core's adamwUpdate (one SIMD pass on wasm).
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Optimizer steps taken (PyTorch's `state['step']`), for the bias corrections. */
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    private readonly params: ReadonlyArray<readonly [string, Parameter]>,
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.05;
    for (const [name, p] of params) {
      this.m.set(name, zeroVariable(p.variable));
      this.v.set(name, zeroVariable(p.variable));
    }
  }

  /** Applies one update with `grads` keyed by variable name (tf.variableGrads' result). */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    for (const [name, p] of this.params) {
      const g = grads[p.variable.name];
      if (!g) continue;
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      const next = adamwUpdate(p.variable, g, m, v, {
        lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: p.weightDecay ? this.weightDecay : 0,
        step: this.step,
      });
      m.assign(next.m);
      v.assign(next.v);
      p.variable.assign(next.param);
      tf.dispose([next.param, next.m, next.v]);
    }
  }

  /** The moments as `exp_avg.<name>` / `exp_avg_sq.<name>` (PyTorch's state keys), for a safetensors file. */
  stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, t] of this.m) out[`exp_avg.${name}`] = t;
    for (const [name, t] of this.v) out[`exp_avg_sq.${name}`] = t;
    return out;
  }

  loadStateTensors(tensors: Record<string, tf.Tensor>, step: number): void {
    for (const [prefix, table] of [['exp_avg', this.m], ['exp_avg_sq', this.v]] as const) {
      for (const [name, variable] of table) {
        const t = tensors[`${prefix}.${name}`];
        if (!t) throw new Error(`optimizer state lacks ${prefix}.${name}`);
        variable.assign(t);
      }
    }
    this.step = step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (PyTorch's
 * clip_grad_norm_: coefficient maxNorm / (norm + 1e-6), capped at 1). Returns the
 * norm before clipping and the (possibly new) gradients; replaced tensors are disposed.
 */
export async function clipGradNorm(grads: Record<string, tf.Tensor>, maxNorm: number | undefined): Promise<{ norm: number; grads: Record<string, tf.Tensor> }> {
  // Read asynchronously: webgpu in Node has no synchronous readback.
  const normTensor = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))));
  const norm = (await normTensor.data())[0]!;
  normTensor.dispose();
  return { norm, grads: clipToNorm(grads, norm, maxNorm) };
}

/**
 * clip_grad_norm_'s scaling for gradients whose global norm is already known (the
 * data-parallel trainer computes it while summing the workers' gradients, and every
 * replica scales by that one value). Replaced tensors are disposed.
 */
export function clipToNorm(grads: Record<string, tf.Tensor>, norm: number, maxNorm: number | undefined): Record<string, tf.Tensor> {
  if (maxNorm === undefined || !Number.isFinite(norm) || norm <= maxNorm) return grads;
  const coef = maxNorm / (norm + 1e-6);
  const clipped: Record<string, tf.Tensor> = {};
  for (const [name, g] of Object.entries(grads)) {
    clipped[name] = tf.mul(g, coef);
    g.dispose();
  }
  return clipped;
}
