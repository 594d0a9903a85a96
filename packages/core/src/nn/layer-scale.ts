import { checkInteger, checkNumber } from '../errors.js';
import { layerScale } from '../ops/layer-scale.js';
import type { Rng } from '../tensor/random.js';
import type { tf } from '../tensor/tf.js';
import { constant } from './init.js';
import { Module } from './module.js';

/**
 * A learned per-channel scale γ on a residual branch (CaiT §2.2; timm's
 * `layers/layer_scale.py`, parameter `gamma`). Blocks whose checkpoints store γ
 * directly under their own name (FAN's `gamma1`, ConvNeXt's `gamma`) register the
 * parameter themselves with `constant(initValue)` and call `layerScale`.
 */
export class LayerScale extends Module {
  readonly gamma: tf.Variable;

  constructor(
    readonly channels: number,
    rng: Rng,
    /** 1e-5 in timm's ViTs, 1e-6 in ConvNeXt and UniFormer-LS, 1 in FAN. */
    readonly initValue = 1e-5,
  ) {
    super();
    checkInteger('channels', channels, 1);
    checkNumber('initValue', initValue, -Number.MAX_VALUE, Number.MAX_VALUE);
    this.gamma = this.addParameter('gamma', constant(initValue)([channels], rng));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return layerScale(x, this.gamma as tf.Tensor1D);
  }
}
