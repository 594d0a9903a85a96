import { InvalidArgumentError, stopGradient, tf } from '@tessera/core';

/**
 * λ_attn per sample (TransMix Eq. 5): the class token's attention mass on the
 * tokens inside the box over its mass on all patch tokens, with the attention
 * averaged over heads. The attention is cut from the gradient, so λ is a constant
 * of the loss. A sample whose patch attention is all zero (underflow) falls back to
 * `fallback` (λ_area) instead of 0/0.
 *
 * @param attention [B, heads, N] or [B, N] class-token attention over the N patch tokens
 * @param mask      N values in {0, 1}, row-major over the same token grid
 */
export function attentionLambda(attention: tf.Tensor3D | tf.Tensor2D, mask: Float32Array, fallback: number): tf.Tensor1D {
  const n = attention.shape[attention.rank - 1]!;
  if ((attention.rank !== 2 && attention.rank !== 3) || n !== mask.length) {
    throw new InvalidArgumentError(
      'attention',
      `a tensor of shape [${attention.shape.join(', ')}]`,
      `[B, heads, ${mask.length}] or [B, ${mask.length}]: one value per token of the grid the box mask covers`,
    );
  }
  return tf.tidy(() => {
    const detached = stopGradient(attention);
    const perToken = (detached.rank === 3 ? tf.mean(detached, 1) : detached) as tf.Tensor2D;
    const inside = tf.sum(tf.mul(perToken, tf.tensor1d(mask)), 1);
    const total = tf.sum(perToken, 1);
    // Every op here must have a gradient function, even though none reaches the attention: tfjs walks the whole tape.
    const hasMass = tf.sign(total);
    const ratio = tf.div(inside, tf.add(total, tf.sub(1, hasMass)));
    const lambda = tf.add(tf.mul(hasMass, ratio), tf.mul(tf.sub(1, hasMass), fallback));
    // Summation order can put `inside` a rounding error above `total`.
    return tf.clipByValue(lambda, 0, 1) as tf.Tensor1D;
  });
}
