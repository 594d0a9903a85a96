import {
  BatchNorm2d,
  constant,
  Conv2d,
  Dropout,
  gelu,
  kaimingNormalFanOut,
  layerScale,
  Linear,
  Module,
  tf,
  type ForwardContext,
  type Grid,
  type Rng,
} from '@tessera/core';

/** [B, h·w, C] tokens ↔ [B, h, w, C] grid: row-major tokens are the NHWC grid already. */
const toGrid = (x: tf.Tensor3D, grid: Grid) => tf.reshape(x, [x.shape[0], grid.height, grid.width, x.shape[2]]) as tf.Tensor4D;
const toTokens = (x: tf.Tensor4D) => tf.reshape(x, [x.shape[0], x.shape[1] * x.shape[2], x.shape[3]]) as tf.Tensor3D;

/** FAN's conv init (models/fan.py `_init_weights`): N(0, 2/fan_out) with fan_out = k·k·out/groups, zero bias. */
const fanConvInit = (kernel: number, outPerGroup: number) => kaimingNormalFanOut(kernel * kernel * outPerGroup);

/**
 * FAN's DWConv (models/fan.py L250-275): depthwise 3×3 (bias) → GELU → BatchNorm →
 * depthwise 3×3 (bias), run on the token grid.
 */
export class DWConv extends Module {
  readonly conv1: Conv2d;
  readonly bn: BatchNorm2d;
  readonly conv2: Conv2d;

  constructor(
    readonly channels: number,
    rng: Rng,
  ) {
    super();
    const dw = () => new Conv2d(channels, channels, 3, rng, { padding: 1, groups: channels, weightInit: fanConvInit(3, 1) });
    this.conv1 = this.addModule('conv1', dw());
    this.bn = this.addModule('bn', new BatchNorm2d(channels, rng));
    this.conv2 = this.addModule('conv2', dw());
  }

  forward(x: tf.Tensor3D, grid: Grid, ctx: ForwardContext): tf.Tensor3D {
    return tf.tidy(() => toTokens(this.conv2.forward(this.bn.forward(gelu(this.conv1.forward(toGrid(x, grid))) as tf.Tensor4D, ctx))));
  }
}

export interface FanMlpOptions {
  /** FAN-ViT's Mlp adds the DWConv branch to fc1's output; FAN-Swin's FANMlp replaces it (swin_utils.py). */
  readonly residual: boolean;
  readonly dropRate?: number;
}

/**
 * The value path of ChannelProcessing (papers.md §3.3): fc1 → u + γ ⊙ DWConv(u) → fc2.
 * No activation follows fc1: the official Mlp builds one and never calls it; GELU
 * lives only inside DWConv.
 */
export class FanMlp extends Module {
  readonly fc1: Linear;
  readonly dwconv: DWConv;
  readonly gamma: tf.Variable;
  readonly fc2: Linear;
  private readonly drop: Dropout;
  readonly residual: boolean;

  constructor(inFeatures: number, hiddenFeatures: number, rng: Rng, options: FanMlpOptions) {
    super();
    this.fc1 = this.addModule('fc1', new Linear(inFeatures, hiddenFeatures, rng));
    this.dwconv = this.addModule('dwconv', new DWConv(hiddenFeatures, rng));
    this.gamma = this.addParameter('gamma', constant(1)([hiddenFeatures], rng));
    this.fc2 = this.addModule('fc2', new Linear(hiddenFeatures, inFeatures, rng));
    this.drop = new Dropout(options.dropRate ?? 0);
    this.residual = options.residual;
  }

  forward(x: tf.Tensor3D, grid: Grid, ctx: ForwardContext): tf.Tensor3D {
    return tf.tidy(() => {
      const u = this.fc1.forward(x) as tf.Tensor3D;
      const branch = this.drop.forward(layerScale(this.dwconv.forward(u, grid, ctx), this.gamma as tf.Tensor1D), ctx);
      const h = this.residual ? tf.add(branch, u) : branch;
      return this.drop.forward(this.fc2.forward(h), ctx) as tf.Tensor3D;
    });
  }
}

/** timm's make_divisible as FAN's SqueezeExcite calls it (divisor 1): round to nearest, never below 90% of v. */
export function seReducedChannels(channels: number, ratio = 0.25): number {
  const v = channels * ratio;
  let reduced = Math.max(1, Math.floor(v + 0.5));
  if (reduced < 0.9 * v) reduced += 1;
  return reduced;
}

/** Squeeze-and-excitation (models/fan.py SqueezeExcite): x · σ(W₂ ReLU(W₁ avgpool(x))), 1×1 convolutions as linear layers. */
export class SqueezeExcite extends Module {
  readonly convReduce: Linear;
  readonly convExpand: Linear;

  constructor(channels: number, rng: Rng) {
    super();
    const reduced = seReducedChannels(channels);
    this.convReduce = this.addModule('conv_reduce', new Linear(channels, reduced, rng, { torchLayout: 'conv1x1', weightInit: fanConvInit(1, reduced) }));
    this.convExpand = this.addModule('conv_expand', new Linear(reduced, channels, rng, { torchLayout: 'conv1x1', weightInit: fanConvInit(1, channels) }));
  }

  /** x [B, N, C] tokens of one image grid each. */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const pooled = tf.mean(x, 1, true);
      return tf.mul(x, tf.sigmoid(this.convExpand.forward(tf.relu(this.convReduce.forward(pooled))))) as tf.Tensor3D;
    });
  }
}

/**
 * FANBlock_SE's MLP (models/fan.py SEMlp, the `_se_attn` ablation): FAN's Mlp
 * (with the residual DWConv branch) followed by squeeze-and-excitation.
 */
export class SEMlp extends Module {
  readonly fc1: Linear;
  readonly dwconv: DWConv;
  readonly gamma: tf.Variable;
  readonly fc2: Linear;
  readonly se: SqueezeExcite;
  private readonly drop: Dropout;

  constructor(inFeatures: number, hiddenFeatures: number, rng: Rng, dropRate = 0) {
    super();
    this.fc1 = this.addModule('fc1', new Linear(inFeatures, hiddenFeatures, rng));
    this.dwconv = this.addModule('dwconv', new DWConv(hiddenFeatures, rng));
    this.gamma = this.addParameter('gamma', constant(1)([hiddenFeatures], rng));
    this.fc2 = this.addModule('fc2', new Linear(hiddenFeatures, inFeatures, rng));
    this.drop = new Dropout(dropRate);
    this.se = this.addModule('se', new SqueezeExcite(inFeatures, rng));
  }

  forward(x: tf.Tensor3D, grid: Grid, ctx: ForwardContext): tf.Tensor3D {
    return tf.tidy(() => {
      const u = this.fc1.forward(x) as tf.Tensor3D;
      const h = tf.add(this.drop.forward(layerScale(this.dwconv.forward(u, grid, ctx), this.gamma as tf.Tensor1D), ctx), u);
      return this.se.forward(this.drop.forward(this.fc2.forward(h), ctx) as tf.Tensor3D);
    });
  }
}
