import { checkInteger } from '../errors.js';
import { linear } from '../ops/linear.js';
import type { Rng } from '../tensor/random.js';
import type { tf } from '../tensor/tf.js';
import { truncNormal, zeros, type Initializer } from './init.js';
import { Module } from './module.js';

export interface LinearOptions {
  readonly bias?: boolean;
  /** Weight initialiser; timm's ViTs use a truncated normal with std 0.02 (the default). */
  readonly weightInit?: Initializer;
  /** 'conv1x1' when the PyTorch module is a 1×1 nn.Conv2d ([out, in, 1, 1] in checkpoints). Default 'linear'. */
  readonly torchLayout?: 'linear' | 'conv1x1';
}

/** y = x·W + b. `weight` is stored [in, out]; PyTorch's [out, in] is converted on load. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    options: LinearOptions = {},
  ) {
    super();
    checkInteger('inFeatures', inFeatures, 1);
    checkInteger('outFeatures', outFeatures, 1);
    const init = options.weightInit ?? truncNormal(0.02);
    this.weight = this.addParameter('weight', init([inFeatures, outFeatures], rng), { torchLayout: options.torchLayout ?? 'linear' });
    this.bias = options.bias === false ? null : this.addParameter('bias', zeros([outFeatures], rng), { weightDecay: false });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D | null);
  }
}
