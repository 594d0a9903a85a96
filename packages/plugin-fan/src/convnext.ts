import {
  Block,
  CompositionError,
  constant,
  Conv2d,
  convOutputSize,
  DropPath,
  gelu,
  LayerNorm,
  layerNorm,
  layerScale,
  Linear,
  Module,
  Sequential,
  tf,
  truncNormal,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type ImageSpec,
  type Rng,
} from '@tessera/core';

/**
 * ConvNeXt's LayerNorm2d over the channels of NHWC features. With `unbiased` it divides
 * by the Bessel-corrected variance, as the official LayerNorm2d does whenever its input
 * is not contiguous (its torch.var_mean fallback): in FAN-Hybrid that is every norm after
 * the stem's, because convolutions there return channels-last memory (measured on torch
 * 1.13; see test/fixtures/make_fixtures.py). Computed with the biased op:
 * (x−μ)/√(σ²·C/(C−1) + ε) = √((C−1)/C) · (x−μ)/√(σ² + ε·(C−1)/C).
 */
export class ChannelLayerNorm extends LayerNorm {
  constructor(
    channels: number,
    rng: Rng,
    readonly unbiased = false,
  ) {
    super(channels, rng, 1e-6);
  }

  override forward(x: tf.Tensor): tf.Tensor {
    const c = this.channels;
    if (!this.unbiased || c < 2) return super.forward(x);
    const shrink = (c - 1) / c;
    return tf.tidy(() => layerNorm(x, tf.mul(this.weight, Math.sqrt(shrink)) as tf.Tensor1D, this.bias as tf.Tensor1D, this.eps * shrink));
  }
}

// ConvNeXt's init (models/convnext_utils.py _init_weights): trunc normal std 0.02 for convolutions and linears, zero bias.
const convInit = truncNormal(0.02);

/** ConvNeXt's ConvMlp: two 1×1 convolutions (`fc1`, `fc2`, PyTorch [out, in, 1, 1]) with GELU between, as linear layers over channels. */
export class ConvMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(channels: number, hidden: number, rng: Rng) {
    super();
    this.fc1 = this.addModule('fc1', new Linear(channels, hidden, rng, { torchLayout: 'conv1x1' }));
    this.fc2 = this.addModule('fc2', new Linear(hidden, channels, rng, { torchLayout: 'conv1x1' }));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.fc2.forward(gelu(this.fc1.forward(x))) as tf.Tensor4D);
  }
}

/**
 * A ConvNeXt block (Liu et al. 2022; FAN's models/convnext_utils.py ConvNeXtBlock with
 * conv_mlp): x + DP(γ ⊙ fc2(GELU(fc1(LN(dw7×7(x)))))), LayerNorm over channels (eps 1e-6),
 * γ a LayerScale initialised to 1e-6. NHWC in and out.
 */
export class ConvNeXtBlock extends Module {
  readonly gamma: tf.Variable | null;
  readonly convDw: Conv2d;
  readonly norm: ChannelLayerNorm;
  readonly mlp: ConvMlp;
  private readonly dropPath: DropPath;

  constructor(
    readonly dim: number,
    rng: Rng,
    options: { lsInitValue?: number; mlpRatio?: number; dropPath?: number; unbiasedNorm?: boolean } = {},
  ) {
    super();
    const ls = options.lsInitValue ?? 1e-6;
    this.gamma = ls > 0 ? this.addParameter('gamma', constant(ls)([dim], rng)) : null;
    this.convDw = this.addModule('conv_dw', new Conv2d(dim, dim, 7, rng, { padding: 3, groups: dim, weightInit: convInit }));
    this.norm = this.addModule('norm', new ChannelLayerNorm(dim, rng, options.unbiasedNorm));
    this.mlp = this.addModule('mlp', new ConvMlp(dim, Math.floor(dim * (options.mlpRatio ?? 4)), rng));
    this.dropPath = new DropPath(options.dropPath ?? 0);
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor4D {
    return tf.tidy(() => {
      const branch = this.mlp.forward(this.norm.forward(this.convDw.forward(x)) as tf.Tensor4D);
      const scaled = this.gamma ? layerScale(branch, this.gamma as tf.Tensor1D) : branch;
      return tf.add(x, this.dropPath.forward(scaled, ctx)) as tf.Tensor4D;
    });
  }
}

export interface ConvNeXtStageOptions {
  readonly outChannels: number;
  readonly depth: number;
  /** Downsampling factor of the stage's first layer (1: no resolution change). */
  readonly stride?: number;
  readonly lsInitValue?: number;
  readonly mlpRatio?: number;
  /** Drop-path rate of each block, or one rate for all. */
  readonly dropPath?: number | readonly number[];
  /** Normalise with the unbiased variance, as FAN-Hybrid's LayerNorm2d does after the stem (see ChannelLayerNorm). */
  readonly unbiasedNorm?: boolean;
}

export function convNeXtStageOutput(input: FeatureSpec, options: ConvNeXtStageOptions): ImageSpec {
  if (input.layout !== 'image') throw new CompositionError(`convnext_stage takes images, not ${input.layout}`);
  const stride = options.stride ?? 2;
  const [height, width] = [convOutputSize(input.height, stride, stride, 0), convOutputSize(input.width, stride, stride, 0)];
  if (height < 1 || width < 1) throw new CompositionError(`a ${input.height}x${input.width} input is smaller than the stride ${stride}`);
  if (Array.isArray(options.dropPath) && options.dropPath.length !== options.depth) {
    throw new CompositionError(`dropPath lists ${options.dropPath.length} rates for ${options.depth} blocks`);
  }
  return { layout: 'image', height, width, channels: options.outChannels };
}

/**
 * A ConvNeXt stage (models/convnext_utils.py ConvNeXtStage): an optional downsample
 * (`downsample.0` LayerNorm over channels, `downsample.1` k×k stride-k convolution) when the
 * width or the resolution changes, then `blocks.<j>`. Images in and out.
 */
export class ConvNeXtStage extends Block {
  readonly downsample: Sequential | null;
  readonly blocks: Sequential;

  constructor(input: ImageSpec, options: ConvNeXtStageOptions, rng: Rng) {
    super(input, convNeXtStageOutput(input, options));
    const stride = options.stride ?? 2;
    const inChannels = input.channels;
    const outChannels = options.outChannels;
    this.downsample =
      inChannels !== outChannels || stride > 1
        ? this.addModule(
            'downsample',
            new Sequential([new ChannelLayerNorm(inChannels, rng, options.unbiasedNorm), new Conv2d(inChannels, outChannels, stride, rng, { stride, weightInit: convInit })]),
          )
        : null;
    const rate = (j: number) => (typeof options.dropPath === 'number' ? options.dropPath : (options.dropPath?.[j] ?? 0));
    this.blocks = this.addModule(
      'blocks',
      new Sequential(
        Array.from({ length: options.depth }, (_, j) => new ConvNeXtBlock(outChannels, rng, { lsInitValue: options.lsInitValue, mlpRatio: options.mlpRatio, dropPath: rate(j), unbiasedNorm: options.unbiasedNorm })),
      ),
    );
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'image') throw new CompositionError(`convnext_stage expects images, got ${x.layout}`);
    const tensor = tf.tidy(() => this.blocks.forward(this.downsample ? this.downsample.forward(x.tensor, ctx) : x.tensor, ctx) as tf.Tensor4D);
    return { layout: 'image', tensor };
  }
}

export interface ConvNeXtStemOptions {
  readonly outChannels: number;
  readonly patchSize?: number;
}

export function convNeXtStemOutput(input: FeatureSpec, options: ConvNeXtStemOptions): ImageSpec {
  if (input.layout !== 'image') throw new CompositionError(`convnext_stem takes images, not ${input.layout}`);
  const p = options.patchSize ?? 4;
  const [height, width] = [Math.floor(input.height / p), Math.floor(input.width / p)];
  if (height < 1 || width < 1) throw new CompositionError(`patchSize ${p} is larger than the ${input.height}x${input.width} input`);
  return { layout: 'image', height, width, channels: options.outChannels };
}

/** ConvNeXt's stem (`0` a p×p stride-p convolution, `1` LayerNorm over channels, eps 1e-6). Images in and out. */
export class ConvNeXtStem extends Block {
  readonly conv: Conv2d;
  readonly norm: ChannelLayerNorm;

  constructor(input: ImageSpec, options: ConvNeXtStemOptions, rng: Rng) {
    super(input, convNeXtStemOutput(input, options));
    const p = options.patchSize ?? 4;
    this.conv = this.addModule('0', new Conv2d(input.channels, options.outChannels, p, rng, { stride: p, weightInit: convInit }));
    this.norm = this.addModule('1', new ChannelLayerNorm(options.outChannels, rng));
  }

  forward(x: Features): Features {
    if (x.layout !== 'image') throw new CompositionError(`convnext_stem expects images, got ${x.layout}`);
    return { layout: 'image', tensor: tf.tidy(() => this.norm.forward(this.conv.forward(x.tensor)) as tf.Tensor4D) };
  }
}
