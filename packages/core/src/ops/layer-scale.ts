import { InvalidArgumentError } from '../errors.js';
import { tf } from '../tensor/tf.js';
import { customGrad } from './gradient.js';

/*
 * x · γ with γ broadcast over the last axis. The gradient is written out so that
 * the backward pass keeps only x and γ (autodiff of a broadcasting tf.mul keeps
 * the same two, but reduces dγ through a reshape-and-sum of a tape-saved copy on
 * wasm); dγ is one column sum of dy·x, dx one broadcast product.
 */
const scaleOp = customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, gamma, save] = args as [tf.Tensor, tf.Tensor1D, tf.GradSaveFunc];
  save([x, gamma]);
  return {
    value: tf.mul(x, gamma),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, g] = saved as [tf.Tensor, tf.Tensor1D];
      const channels = g.shape[0];
      const dGamma = tf.sum(tf.mul(tf.reshape(dy, [-1, channels]), tf.reshape(xs, [-1, channels])), 0);
      return [tf.mul(dy, g), dGamma];
    },
  };
});

/** LayerScale (Touvron et al., CaiT §2.2): each channel of x [..., C] times its learned γ [C]. */
export function layerScale(x: tf.Tensor, gamma: tf.Tensor1D): tf.Tensor {
  if (gamma.rank !== 1 || x.shape[x.rank - 1] !== gamma.shape[0]) {
    throw new InvalidArgumentError('gamma', `tensor of shape [${gamma.shape.join(', ')}]`, `a vector of the input's last axis, ${x.shape[x.rank - 1]}`);
  }
  return scaleOp(x, gamma);
}
