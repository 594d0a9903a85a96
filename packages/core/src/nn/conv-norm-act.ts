import { checkInteger, InvalidArgumentError } from '../errors.js';
import type { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';
import { gelu } from './activation.js';
import type { ForwardContext } from './context.js';
import { Conv2d } from './conv.js';
import { Module } from './module.js';
import { BatchNorm2d } from './norm.js';
import { Sequential } from './sequential.js';

export type ConvNormActivation = 'gelu' | 'relu' | 'none';
export type ConvNormKind = 'batch' | 'none';

export interface ConvNormActOptions {
  /** Output channels of each convolution, in order; the last is the stem's width. */
  readonly channels: readonly number[];
  readonly kernelSize?: number;
  readonly stride?: number;
  /** Symmetric zero padding; default kernelSize // 2 (same-size output at stride 1). */
  readonly padding?: number;
  /** Convolution bias (UniFormer's stems keep it in front of BatchNorm). */
  readonly bias?: boolean;
  readonly norm?: ConvNormKind;
  readonly normEps?: number;
  /** Activation between convolutions (after each one's norm, except the last). */
  readonly activation?: ConvNormActivation;
  /** Also apply the activation after the last convolution's norm. */
  readonly finalActivation?: boolean;
}

const ACTIVATIONS: Record<Exclude<ConvNormActivation, 'none'>, (x: tf.Tensor) => tf.Tensor> = { gelu, relu: (x) => tf.relu(x) };

/**
 * A stack of convolution → norm → activation steps, held under `proj` with
 * nn.Sequential's indices: UniFormer's conv stem (`head_embedding`, uniformer.py
 * L141-157) is conv 3×3 s2 (proj.0) → BN (proj.1) → GELU (proj.2) → conv 3×3 s2
 * (proj.3) → BN (proj.4), and its `middle_embedding` between stages is one conv → BN.
 * NHWC in, NHWC out; the grid is read from the input, so any size works.
 */
export class ConvNormAct extends Module {
  readonly proj: Sequential;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly outChannels: number;

  constructor(
    readonly inChannels: number,
    rng: Rng,
    options: ConvNormActOptions,
  ) {
    super();
    checkInteger('inChannels', inChannels, 1);
    if (!Array.isArray(options.channels) || options.channels.length === 0) {
      throw new InvalidArgumentError('channels', options.channels, 'a non-empty list of output channel counts');
    }
    options.channels.forEach((c, i) => checkInteger(`channels[${i}]`, c, 1));
    this.kernelSize = checkInteger('kernelSize', options.kernelSize ?? 3, 1);
    this.stride = checkInteger('stride', options.stride ?? 2, 1);
    this.padding = checkInteger('padding', options.padding ?? Math.floor(this.kernelSize / 2), 0);
    const norm = options.norm ?? 'batch';
    const activation = options.activation ?? 'gelu';
    if (norm !== 'batch' && norm !== 'none') throw new InvalidArgumentError('norm', norm, "'batch' or 'none'");
    if (activation !== 'none' && !(activation in ACTIVATIONS)) throw new InvalidArgumentError('activation', activation, "'gelu', 'relu' or 'none'");
    this.proj = this.addModule('proj', new Sequential());
    let c = inChannels;
    options.channels.forEach((out, i) => {
      this.proj.push(new Conv2d(c, out, this.kernelSize, rng, { stride: this.stride, padding: this.padding, bias: options.bias ?? true }));
      if (norm === 'batch') this.proj.push(new BatchNorm2d(out, rng, options.normEps ?? 1e-5));
      const last = i === options.channels.length - 1;
      // A parameterless step keeps its index, so the next convolution is proj.3 as in PyTorch.
      if (activation !== 'none' && (!last || options.finalActivation)) this.proj.push(ACTIVATIONS[activation]);
      c = out;
    });
    this.outChannels = c;
  }

  /** Output grid for an input grid (each convolution's floor((n + 2p − k) / s) + 1). */
  outputSize(height: number, width: number): [number, number] {
    let size: [number, number] = [height, width];
    for (let i = 0; i < this.proj.length; i++) {
      const step = this.proj.at(i);
      if (step instanceof Conv2d) size = step.outputSize(size[0], size[1]);
    }
    return size;
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => this.proj.forward(x, ctx) as tf.Tensor4D);
  }
}
