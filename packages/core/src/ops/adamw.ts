import { checkInteger, checkNumber, InvalidArgumentError } from '../errors.js';
import { tf } from '../tensor/tf.js';
import { WASM_BYTES_BASE64 } from './kernels/adamw.wasm.js';
import { simdKernel } from './simd-kernel.js';

/*
 * One AdamW step for one parameter tensor (Loshchilov & Hutter 2019, Alg. 2, in
 * torch.optim.AdamW's arrangement: decoupled decay p ← p·(1 − lr·λ) before the
 * adaptive step, bias corrections 1 − β1^t and 1 − β2^t as in torch's
 * `_single_tensor_adamw`). On wasm it is one SIMD128 pass (kernels/adamw.wat) instead
 * of about ten tfjs kernels; elsewhere the same arithmetic as tfjs ops. Both compute
 * the same float32 operations in the same order, so they agree to the bit.
 */

export const WASM_ADAMW_KERNEL = 'TesseraAdamW';

export interface AdamWStep {
  /** Learning rate of this step. */
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Decoupled weight decay λ for this tensor (0: exempt, as timm exempts norms and biases). */
  readonly weightDecay: number;
  /** 1-based step count t, for the bias corrections. */
  readonly step: number;
}

/** The updated parameter and moments; new tensors owned by the caller. */
export interface AdamWUpdate {
  readonly param: tf.Tensor;
  readonly m: tf.Tensor;
  readonly v: tf.Tensor;
}

interface AdamWExports {
  adamw(p: number, g: number, m: number, v: number, pOut: number, mOut: number, vOut: number, n: number, decay: number, b1: number, omb1: number, b2: number, omb2: number, sqrtBias2: number, eps: number, stepSize: number): void;
}

/** The step's scalars as the composite rounds them (each a float32 scalar operand). */
interface Scalars {
  readonly decay: number | null;
  readonly b1: number;
  readonly omb1: number;
  readonly b2: number;
  readonly omb2: number;
  readonly sqrtBias2: number;
  readonly eps: number;
  readonly stepSize: number;
}

const kernel = simdKernel<AdamWExports>(WASM_BYTES_BASE64, [
  {
    kernelName: WASM_ADAMW_KERNEL,
    run: (k, heap, { param, grad, m, v }, attrs) => {
      const s = attrs as unknown as Scalars;
      const shape = param!.shape;
      const pOut = heap.makeOutput(shape);
      const mOut = heap.makeOutput(shape);
      const vOut = heap.makeOutput(shape);
      // Offsets are read after makeOutput: allocating may grow the heap.
      k.adamw(
        heap.offsetOf(param!), heap.offsetOf(grad!), heap.offsetOf(m!), heap.offsetOf(v!),
        heap.offsetOf(pOut), heap.offsetOf(mOut), heap.offsetOf(vOut), tf.util.sizeFromShape(shape),
        s.decay ?? 1, s.b1, s.omb1, s.b2, s.omb2, s.sqrtBias2, s.eps, s.stepSize,
      );
      return [pOut, mOut, vOut];
    },
  },
]);

/** Whether the SIMD AdamW kernel serves the current backend (exposed for tests and benchmarks). */
export function wasmAdamWActive(): boolean {
  return kernel.active();
}

/**
 * One AdamW update of `param` from its gradient and moments. Returns new tensors
 * (the caller assigns them to its variables and disposes them); the inputs are not modified.
 */
export function adamwUpdate(param: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, step: AdamWStep): AdamWUpdate {
  for (const [name, t] of [['grad', grad], ['m', m], ['v', v]] as const) {
    if (!tf.util.arraysEqual(t.shape, param.shape)) {
      throw new InvalidArgumentError(`adamwUpdate ${name}.shape`, t.shape, `the parameter's shape [${param.shape.join(', ')}]`);
    }
  }
  for (const [name, t] of [['param', param], ['grad', grad], ['m', m], ['v', v]] as const) {
    if (t.dtype !== 'float32') throw new InvalidArgumentError(`adamwUpdate ${name}.dtype`, t.dtype, 'float32');
  }
  const { lr, beta1: b1, beta2: b2, eps, weightDecay, step: t } = step;
  checkInteger('adamwUpdate step', t, 1);
  checkNumber('adamwUpdate lr', lr, 0, Number.MAX_VALUE);
  // β < 1: the bias correction 1 − β^t divides.
  checkNumber('adamwUpdate beta1', b1, 0, 1 - Number.EPSILON);
  checkNumber('adamwUpdate beta2', b2, 0, 1 - Number.EPSILON);
  checkNumber('adamwUpdate eps', eps, Number.MIN_VALUE, Number.MAX_VALUE);
  checkNumber('adamwUpdate weightDecay', weightDecay, 0, Number.MAX_VALUE);
  const s: Scalars = {
    decay: weightDecay > 0 ? 1 - lr * weightDecay : null,
    b1,
    omb1: 1 - b1,
    b2,
    omb2: 1 - b2,
    sqrtBias2: Math.sqrt(1 - b2 ** t),
    eps,
    stepSize: lr / (1 - b1 ** t),
  };
  if (param.size > 0 && wasmAdamWActive()) {
    const [p, mNew, vNew] = tf.engine().runKernel(WASM_ADAMW_KERNEL, { param, grad, m, v } as unknown as tf.NamedTensorMap, s as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { param: p!, m: mNew!, v: vNew! };
  }
  return tf.tidy(() => {
    const decayed = s.decay === null ? param : tf.mul(param, s.decay);
    const mNew = tf.add(tf.mul(m, s.b1), tf.mul(grad, s.omb1));
    const vNew = tf.add(tf.mul(v, s.b2), tf.mul(tf.square(grad), s.omb2));
    const denom = tf.add(tf.div(tf.sqrt(vNew), s.sqrtBias2), s.eps);
    return { param: tf.sub(decayed, tf.mul(tf.div(mNew, denom), s.stepSize)), m: mNew, v: vNew };
  });
}
