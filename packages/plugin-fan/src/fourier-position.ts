import { Block, CompositionError, Dropout, Linear, tf, uniformFanIn, type FeatureSpec, type Features, type ForwardContext, type Grid, type Rng, type TokenSpec } from '@tessera/core';

const featureCache = new Map<string, Float32Array>();

/**
 * The fixed part of FAN's position encoding for an h×w grid (papers.md §3.1 step 2;
 * models/fan.py PositionalEncodingFourier, from XCiT): [h·w, 2·hiddenDim], tokens
 * row-major, channels [y-features ‖ x-features]. Per axis, 1-based indices are
 * scaled to (0, 2π] by dividing by (length + 1e-6), and feature t is sin (even t) or
 * cos (odd t) of that coordinate over temperature^(2⌊t/2⌋/hiddenDim). Computed in
 * float64 on the CPU, once per grid.
 */
export function fourierFeatures(grid: Grid, hiddenDim = 32, temperature = 10000): Float32Array {
  const key = `${grid.height}x${grid.width}/${hiddenDim}/${temperature}`;
  const cached = featureCache.get(key);
  if (cached) return cached;
  const { height, width } = grid;
  const eps = 1e-6;
  const dimT = Array.from({ length: hiddenDim }, (_, t) => temperature ** ((2 * Math.floor(t / 2)) / hiddenDim));
  const axis = (coordinate: number, length: number) => {
    const c = (coordinate / (length + eps)) * 2 * Math.PI;
    return dimT.map((d, t) => (t % 2 === 0 ? Math.sin(c / d) : Math.cos(c / d)));
  };
  const out = new Float32Array(height * width * 2 * hiddenDim);
  for (let i = 0; i < height; i++) {
    const y = axis(i + 1, height);
    for (let j = 0; j < width; j++) {
      out.set(y, (i * width + j) * 2 * hiddenDim);
      out.set(axis(j + 1, width), (i * width + j) * 2 * hiddenDim + hiddenDim);
    }
  }
  if (featureCache.size > 32) featureCache.clear();
  featureCache.set(key, out);
  return out;
}

export interface FourierPositionOptions {
  readonly hiddenDim?: number;
  readonly temperature?: number;
  /** FAN's pos_drop after the encoding is added. */
  readonly dropRate?: number;
}

export function fourierPositionOutput(input: FeatureSpec): TokenSpec {
  if (input.layout !== 'tokens') throw new CompositionError(`fan_position takes tokens, not ${input.layout}`);
  if (input.numPrefixTokens !== 0) {
    throw new CompositionError(`fan_position encodes grid positions and must come before any prefix token; the input has ${input.numPrefixTokens}`);
  }
  return input;
}

/**
 * FAN's Fourier position encoding, added to the patch tokens: the fixed features of
 * the grid the tokens arrive on, through a learned 1×1 convolution
 * (`token_projection`, PyTorch [dim, 2·hiddenDim, 1, 1], held as a linear layer).
 * The same encoding is added to every image of the batch.
 */
export class PositionalEncodingFourier extends Block {
  readonly tokenProjection: Linear;
  readonly hiddenDim: number;
  readonly temperature: number;
  private readonly drop: Dropout;

  constructor(input: TokenSpec, options: FourierPositionOptions, rng: Rng) {
    super(input, fourierPositionOutput(input));
    this.hiddenDim = options.hiddenDim ?? 32;
    this.temperature = options.temperature ?? 10000;
    this.drop = new Dropout(options.dropRate ?? 0);
    // nn.Conv2d's default init (FAN's _init_weights skips convolutions): U(±1/√fan_in) for weight and bias.
    const init = uniformFanIn(2 * this.hiddenDim);
    this.tokenProjection = this.addModule('token_projection', new Linear(2 * this.hiddenDim, input.channels, rng, { torchLayout: 'conv1x1', weightInit: init }));
    const bias = init([input.channels], rng);
    this.tokenProjection.bias!.assign(bias);
    bias.dispose();
  }

  /** The encoding of `grid`, [1, h·w, dim]. */
  encoding(grid: Grid): tf.Tensor3D {
    const n = grid.height * grid.width;
    return tf.tidy(() => {
      const features = tf.tensor2d(fourierFeatures(grid, this.hiddenDim, this.temperature), [n, 2 * this.hiddenDim]);
      return tf.reshape(this.tokenProjection.forward(features), [1, n, this.tokenProjection.outFeatures]) as tf.Tensor3D;
    });
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'tokens' || x.numPrefixTokens !== 0) throw new CompositionError('fan_position expects patch tokens without prefix tokens');
    return { ...x, tensor: tf.tidy(() => this.drop.forward(tf.add(x.tensor, this.encoding(x.grid)), ctx) as tf.Tensor3D) };
  }
}
