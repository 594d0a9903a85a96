import { checkNumber } from '../errors.js';
import { tf } from '../tensor/tf.js';
import type { ForwardContext } from './context.js';
import { Module } from './module.js';

/** x · mask / (1 − rate), with a Bernoulli(1 − rate) mask of `maskShape` broadcast over x, seeded from the context. */
function keepScaled(x: tf.Tensor, maskShape: number[], rate: number, ctx: ForwardContext): tf.Tensor {
  const seed = ctx.rng.seed();
  return tf.tidy(() => {
    const keep = tf.step(tf.sub(tf.randomUniform(maskShape, 0, 1, 'float32', seed), rate));
    return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
  });
}

/**
 * Inverted dropout: in train mode zeroes each element with probability `rate` and
 * scales the rest by 1/(1 − rate). The mask's seed comes from the context's Rng,
 * so it changes every call yet repeats for the same seed.
 */
export class Dropout extends Module {
  constructor(readonly rate: number) {
    super();
    checkNumber('rate', rate, 0, 1 - Number.EPSILON);
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (!ctx.training || this.rate === 0) return x;
    return keepScaled(x, x.shape, this.rate, ctx);
  }
}

/**
 * Stochastic depth (Huang et al. 2016; timm's DropPath): in train mode drops a
 * whole residual branch per sample with probability `rate`, scaling survivors by
 * 1/(1 − rate). Identity in eval mode.
 */
export class DropPath extends Module {
  constructor(readonly rate: number) {
    super();
    checkNumber('rate', rate, 0, 1 - Number.EPSILON);
  }

  forward(x: tf.Tensor, ctx: ForwardContext): tf.Tensor {
    if (!ctx.training || this.rate === 0) return x;
    return keepScaled(x, [x.shape[0], ...new Array<number>(x.rank - 1).fill(1)], this.rate, ctx);
  }
}

/** The linear stochastic-depth schedule of DeiT/timm: block i of n gets rate · i/(n − 1). */
export function dropPathSchedule(rate: number, depth: number): number[] {
  checkNumber('dropPathRate', rate, 0, 1 - Number.EPSILON);
  if (depth <= 1) return new Array<number>(Math.max(depth, 0)).fill(depth === 1 ? 0 : rate);
  return Array.from({ length: depth }, (_, i) => (rate * i) / (depth - 1));
}
