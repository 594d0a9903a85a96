import type { Rng } from '../src/index.js';
import { tf } from '../src/index.js';

/** Values uniform in [-spread, spread) from an Rng, for inputs of gradient checks. */
export function uniformValues(shape: number[], rng: Rng, spread = 1): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.uniform() * 2 - 1) * spread;
  return out;
}

export type TensorFn = (...xs: tf.Tensor[]) => tf.Tensor;

/** f(xs) and the gradients of Σ f(xs)·r with respect to every input, on the active backend. */
export function valueAndGrads(f: TensorFn, inputs: Array<{ data: Float32Array; shape: number[] }>, r: Float32Array): Float32Array[] {
  return tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
    const y = f(...xs);
    const rt = tf.tensor(r, y.shape);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), rt)))(xs);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

/**
 * Runs f once outside any tf.tidy (inputs made and disposed here) and returns how many tensors it left behind
 * besides its result. The counts around `valueAndGrads` prove nothing about leaks: its tidy (and tf.grad's own
 * scope) frees whatever the op forgot, which a caller outside a tidy would keep forever.
 */
export function forwardLeak(f: TensorFn, inputs: Array<{ data: Float32Array; shape: number[] }>): number {
  const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
  const before = tf.memory().numTensors;
  const y = f(...xs);
  const left = tf.memory().numTensors - before - 1;
  tf.dispose([y, ...xs]);
  return left;
}

/** Kept for tests written before the shared helper existed; new tests import it from '@tessera/test-utils'. */
export { expectRelClose } from '@tessera/test-utils';
