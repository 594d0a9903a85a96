import { checkInteger, InvalidArgumentError } from '../errors.js';
import { conv2d } from '../ops/conv.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { uniformFanIn, zeros, type Initializer } from './init.js';
import { Module } from './module.js';

type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  readonly stride?: Pair;
  /** Symmetric zero padding per axis, as PyTorch's `padding`. */
  readonly padding?: Pair;
  readonly dilation?: Pair;
  /** 1: dense; in channels: depthwise; anything dividing both channel counts: grouped. */
  readonly groups?: number;
  readonly bias?: boolean;
  readonly weightInit?: Initializer;
}

function pair(name: string, v: Pair, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  checkInteger(`${name}[0]`, p[0], min);
  checkInteger(`${name}[1]`, p[1], min);
  return p;
}

/** Output length of a convolution along one axis: floor((L + 2p − d·(k−1) − 1) / s) + 1. */
export function convOutputSize(length: number, kernel: number, stride: number, padding: number, dilation = 1): number {
  return Math.floor((length + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * PyTorch's nn.Conv2d on NHWC batches. The kernel is stored HWIO
 * [kh, kw, in/groups, out]; PyTorch's OIHW [out, in/groups, kh, kw] is converted on load.
 */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    rng: Rng,
    options: Conv2dOptions = {},
  ) {
    super();
    checkInteger('inChannels', inChannels, 1);
    checkInteger('outChannels', outChannels, 1);
    this.kernelSize = pair('kernelSize', kernelSize, 1);
    this.stride = pair('stride', options.stride ?? 1, 1);
    this.padding = pair('padding', options.padding ?? 0, 0);
    this.dilation = pair('dilation', options.dilation ?? 1, 1);
    this.groups = checkInteger('groups', options.groups ?? 1, 1);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new InvalidArgumentError('groups', this.groups, `a divisor of both inChannels (${inChannels}) and outChannels (${outChannels})`);
    }
    const [kh, kw] = this.kernelSize;
    const inPerGroup = inChannels / this.groups;
    const init = options.weightInit ?? uniformFanIn(inPerGroup * kh * kw);
    this.weight = this.addParameter('weight', init([kh, kw, inPerGroup, outChannels], rng), { torchLayout: 'conv2d' });
    this.bias = options.bias === false ? null : this.addParameter('bias', (options.weightInit ? zeros : uniformFanIn(inPerGroup * kh * kw))([outChannels], rng), { weightDecay: false });
  }

  outputSize(height: number, width: number): [number, number] {
    return [
      convOutputSize(height, this.kernelSize[0], this.stride[0], this.padding[0], this.dilation[0]),
      convOutputSize(width, this.kernelSize[1], this.stride[1], this.padding[1], this.dilation[1]),
    ];
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, `an NHWC batch with ${this.inChannels} channels`);
    }
    const y = conv2d(x, this.weight as tf.Tensor4D, {
      stride: this.stride,
      padding: [
        [this.padding[0], this.padding[0]],
        [this.padding[1], this.padding[1]],
      ],
      dilation: this.dilation,
      groups: this.groups,
    });
    if (!this.bias) return y;
    const out = tf.add(y, this.bias) as tf.Tensor4D;
    y.dispose();
    return out;
  }
}
