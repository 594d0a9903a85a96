import { checkInteger, checkNumber, InvalidArgumentError } from '../errors.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { batchNormInference, batchNormTraining } from '../ops/batch-norm.js';
import { layerNorm } from '../ops/layer-norm.js';
import type { ForwardContext } from './context.js';
import { ones, zeros } from './init.js';
import { Module } from './module.js';

/** LayerNorm over the last axis: (x − mean) / √(var + eps) · weight + bias, biased variance as PyTorch. */
export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly channels: number,
    rng: Rng,
    /** timm's ViTs use 1e-6; PyTorch's default (and T2T-ViT's) is 1e-5. */
    readonly eps = 1e-6,
  ) {
    super();
    checkInteger('channels', channels, 1);
    checkNumber('eps', eps, 0, 1);
    this.weight = this.addParameter('weight', ones([channels], rng), { weightDecay: false });
    this.bias = this.addParameter('bias', zeros([channels], rng), { weightDecay: false });
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (x.shape[x.rank - 1] !== this.channels) {
      throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, `a last axis of ${this.channels}`);
    }
    return layerNorm(x, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, this.eps);
  }
}

/**
 * BatchNorm2d on NHWC batches (PyTorch's nn.BatchNorm2d; names weight, bias,
 * running_mean, running_var, num_batches_tracked). The forward context decides the
 * mode, as it does for dropout: training normalises with the batch's statistics and
 * updates the running ones (momentum 0.1, unbiased variance for the running
 * estimate, as PyTorch); evaluation uses the running statistics.
 */
export class BatchNorm2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;

  constructor(
    readonly channels: number,
    rng: Rng,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    checkInteger('channels', channels, 1);
    checkNumber('eps', eps, 0, 1);
    checkNumber('momentum', momentum, 0, 1);
    this.weight = this.addParameter('weight', ones([channels], rng), { weightDecay: false });
    this.bias = this.addParameter('bias', zeros([channels], rng), { weightDecay: false });
    this.runningMean = this.addBuffer('running_mean', tf.zeros([channels]));
    this.runningVar = this.addBuffer('running_var', tf.ones([channels]));
    this.numBatchesTracked = this.addBuffer('num_batches_tracked', tf.scalar(0));
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.channels) {
      throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, `an NHWC batch with ${this.channels} channels`);
    }
    const [weight, bias] = [this.weight as tf.Tensor1D, this.bias as tf.Tensor1D];
    if (!ctx.training) return batchNormInference(x, weight, bias, this.runningMean as tf.Tensor1D, this.runningVar as tf.Tensor1D, this.eps);
    return batchNormTraining(x, weight, bias, this.eps, ({ mean, variance, count }) => {
      const unbiased = tf.mul(variance, count > 1 ? count / (count - 1) : 1);
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - this.momentum), tf.mul(mean, this.momentum)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - this.momentum), tf.mul(unbiased, this.momentum)));
      this.numBatchesTracked.assign(tf.add(this.numBatchesTracked, 1));
    });
  }
}
