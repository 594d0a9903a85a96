import {
  batchMatMul,
  Block,
  checkInteger,
  ConvPatchEmbed as GridPatchEmbed,
  type Conv2d,
  CompositionError,
  DropPath,
  InvalidArgumentError,
  LayerNorm,
  Linear,
  Mlp,
  Module,
  ModuleList,
  tf,
  truncNormal,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type Grid,
  type ImageSpec,
  type Rng,
  type TokenSpec,
} from '@tessera/core';
import { ChannelProcessing } from './channel-processing.js';

/*
 * Swin Transformer (Liu et al. 2021) as FAN-Swin uses it (NVlabs/FAN models/swin_utils.py,
 * from timm 0.5.4): windowed attention with a relative position bias, a cyclic shift with
 * an attention mask on every second block, patch merging between stages. FAN replaces the
 * MLP of stages 1–3 with ChannelProcessing whose value MLP has no residual (papers.md §3.6).
 */

const oneHotCache = new Map<number, Float32Array>();

/**
 * The relative-position lookup as a one-hot matrix [w²·w², (2w−1)²]: row (i, j) selects
 * the bias-table row of the offset between window positions i and j (timm's
 * relative_position_index). A matmul with it is the table gather, with a gradient that
 * stays on the matmul path.
 */
export function relativePositionLookup(window: number): Float32Array {
  const cached = oneHotCache.get(window);
  if (cached) return cached;
  const n = window * window;
  const span = 2 * window - 1;
  const out = new Float32Array(n * n * span * span);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const dy = Math.floor(i / window) - Math.floor(j / window) + window - 1;
      const dx = (i % window) - (j % window) + window - 1;
      out[(i * n + j) * span * span + dy * span + dx] = 1;
    }
  }
  oneHotCache.set(window, out);
  return out;
}

const maskCache = new Map<string, Float32Array>();

/**
 * SW-MSA's mask [windows, w², w²] for an h×w grid shifted by `shift`: 0 where two
 * positions come from the same region before the cyclic shift, −100 elsewhere.
 */
export function shiftedWindowMask(grid: Grid, window: number, shift: number): Float32Array {
  const key = `${grid.height}x${grid.width}/${window}/${shift}`;
  const cached = maskCache.get(key);
  if (cached) return cached;
  const region = (v: number, length: number) => (v < length - window ? 0 : v < length - shift ? 1 : 2);
  const labels = new Int32Array(grid.height * grid.width);
  for (let y = 0; y < grid.height; y++) for (let x = 0; x < grid.width; x++) labels[y * grid.width + x] = region(y, grid.height) * 3 + region(x, grid.width);
  const wy = grid.height / window;
  const wx = grid.width / window;
  const n = window * window;
  const out = new Float32Array(wy * wx * n * n);
  for (let a = 0; a < wy; a++) {
    for (let b = 0; b < wx; b++) {
      const base = (a * wx + b) * n * n;
      const label = (p: number) => labels[(a * window + Math.floor(p / window)) * grid.width + b * window + (p % window)]!;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[base + i * n + j] = label(i) === label(j) ? 0 : -100;
    }
  }
  if (maskCache.size > 32) maskCache.clear();
  maskCache.set(key, out);
  return out;
}

/** Window and shift a block uses on `grid`: a grid no larger than the window is one unshifted window (timm 0.5.4). */
export function effectiveWindow(grid: Grid, windowSize: number, shiftSize: number): { window: number; shift: number } {
  const smallest = Math.min(grid.height, grid.width);
  return smallest <= windowSize ? { window: smallest, shift: 0 } : { window: windowSize, shift: shiftSize };
}

/** W-MSA with a learned relative position bias (names relative_position_bias_table, qkv, proj). */
export class WindowAttention extends Module {
  readonly relativePositionBiasTable: tf.Variable;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;

  constructor(
    readonly dim: number,
    readonly window: number,
    readonly numHeads: number,
    rng: Rng,
    qkvBias = true,
  ) {
    super();
    checkInteger('numHeads', numHeads, 1);
    if (dim % numHeads !== 0) throw new InvalidArgumentError('numHeads', numHeads, `a divisor of the width ${dim}`);
    this.headDim = dim / numHeads;
    this.relativePositionBiasTable = this.addParameter('relative_position_bias_table', truncNormal(0.02)([(2 * window - 1) ** 2, numHeads], rng), { weightDecay: false });
    this.qkv = this.addModule('qkv', new Linear(dim, 3 * dim, rng, { bias: qkvBias }));
    this.proj = this.addModule('proj', new Linear(dim, dim, rng));
  }

  /** The bias [heads, w², w²] added to every window's logits. */
  relativeBias(): tf.Tensor3D {
    const n = this.window * this.window;
    return tf.tidy(() => {
      const lookup = tf.tensor2d(relativePositionLookup(this.window), [n * n, (2 * this.window - 1) ** 2]);
      return tf.transpose(tf.reshape(tf.matMul(lookup, this.relativePositionBiasTable as tf.Tensor2D), [n, n, this.numHeads]), [2, 0, 1]) as tf.Tensor3D;
    });
  }

  /** windows [B·nW, w², C]; mask [nW, w², w²] or null. */
  forward(windows: tf.Tensor3D, mask: tf.Tensor3D | null): tf.Tensor3D {
    const [bw, n, c] = windows.shape;
    const h = this.numHeads;
    const d = this.headDim;
    return tf.tidy(() => {
      const qkv = tf.transpose(tf.reshape(this.qkv.forward(windows), [bw, n, 3, h, d]), [2, 0, 3, 1, 4]);
      const [q, k, v] = tf.unstack(qkv, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      let logits = tf.add(batchMatMul(q, k, false, true, d ** -0.5), this.relativeBias());
      if (mask) {
        const nW = mask.shape[0];
        logits = tf.reshape(tf.add(tf.reshape(logits, [bw / nW, nW, h, n, n]), tf.reshape(mask, [1, nW, 1, n, n])), [bw, h, n, n]);
      }
      const out = batchMatMul(tf.softmax(logits), v);
      return this.proj.forward(tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [bw, n, c])) as tf.Tensor3D;
    });
  }
}

/** torch.roll of a [B, H, W, C] grid by `shift` along both spatial axes. */
function roll(x: tf.Tensor4D, shift: number): tf.Tensor4D {
  const rollAxis = (t: tf.Tensor4D, axis: 1 | 2) => {
    const length = t.shape[axis];
    const s = ((shift % length) + length) % length;
    if (s === 0) return t;
    const begin = [0, 0, 0, 0];
    const size = [...t.shape];
    const head = tf.slice(t, begin, Object.assign([...size], { [axis]: length - s }));
    const tail = tf.slice(t, Object.assign([...begin], { [axis]: length - s }), Object.assign([...size], { [axis]: s }));
    return tf.concat([tail, head], axis) as tf.Tensor4D;
  };
  return rollAxis(rollAxis(x, 1), 2);
}

export interface SwinBlockOptions {
  readonly numHeads: number;
  readonly windowSize: number;
  readonly shiftSize: number;
  /** 'channel_processing' (FAN-Swin stages 1–3) or 'mlp' (timm's Mlp, stage 4). */
  readonly mlp: 'channel_processing' | 'mlp';
  readonly mlpRatio?: number;
  readonly qkvBias?: boolean;
  readonly dropPath?: number;
  readonly normEps?: number;
}

/** A Swin block on an h×w token grid (timm 0.5.4 SwinTransformerBlock as in swin_utils.py). */
export class SwinBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: WindowAttention;
  readonly norm2: LayerNorm;
  readonly mlp: ChannelProcessing | Mlp;
  readonly window: number;
  readonly shift: number;
  private readonly dropPath: DropPath;

  constructor(
    readonly dim: number,
    readonly grid: Grid,
    rng: Rng,
    options: SwinBlockOptions,
  ) {
    super();
    const { window, shift } = effectiveWindow(grid, options.windowSize, options.shiftSize);
    if (shift < 0 || shift >= window) throw new InvalidArgumentError('shiftSize', options.shiftSize, `an integer in [0, ${window - 1}] for window ${window}`);
    if (grid.height % window !== 0 || grid.width % window !== 0) {
      throw new CompositionError(`a ${grid.height}x${grid.width} grid does not split into ${window}x${window} windows (the official code does not pad)`);
    }
    this.window = window;
    this.shift = shift;
    const eps = options.normEps ?? 1e-5;
    const hidden = Math.floor(dim * (options.mlpRatio ?? 4));
    this.norm1 = this.addModule('norm1', new LayerNorm(dim, rng, eps));
    this.attn = this.addModule('attn', new WindowAttention(dim, window, options.numHeads, rng, options.qkvBias ?? true));
    this.dropPath = new DropPath(options.dropPath ?? 0);
    this.norm2 = this.addModule('norm2', new LayerNorm(dim, rng, eps));
    this.mlp = this.addModule(
      'mlp',
      options.mlp === 'mlp'
        ? new Mlp(dim, hidden, rng)
        : new ChannelProcessing(dim, rng, { numHeads: options.numHeads, mlpHiddenDim: hidden, qkvBias: options.qkvBias ?? true, mlpResidual: false }),
    );
  }

  forward(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const [b, n, c] = x.shape;
    const { height, width } = this.grid;
    if (n !== height * width) throw new InvalidArgumentError('x', `tensor of shape [${x.shape.join(', ')}]`, `tokens of a ${height}x${width} grid`);
    const w = this.window;
    const wy = height / w;
    const wx = width / w;
    return tf.tidy(() => {
      const image = tf.reshape(this.norm1.forward(x), [b, height, width, c]) as tf.Tensor4D;
      const shifted = this.shift > 0 ? roll(image, -this.shift) : image;
      const windows = tf.reshape(tf.transpose(tf.reshape(shifted, [b, wy, w, wx, w, c]), [0, 1, 3, 2, 4, 5]), [b * wy * wx, w * w, c]) as tf.Tensor3D;
      const mask = this.shift > 0 ? tf.tensor3d(shiftedWindowMask(this.grid, w, this.shift), [wy * wx, w * w, w * w]) : null;
      const attended = this.attn.forward(windows, mask);
      const merged = tf.reshape(tf.transpose(tf.reshape(attended, [b, wy, wx, w, w, c]), [0, 1, 3, 2, 4, 5]), [b, height, width, c]) as tf.Tensor4D;
      const unshifted = this.shift > 0 ? roll(merged, this.shift) : merged;
      const h = tf.add(x, this.dropPath.forward(tf.reshape(unshifted, [b, n, c]), ctx)) as tf.Tensor3D;
      const normed = this.norm2.forward(h) as tf.Tensor3D;
      const mixed = this.mlp instanceof ChannelProcessing ? this.mlp.forward(normed, this.grid, ctx) : this.mlp.forward(normed, ctx);
      return tf.add(h, this.dropPath.forward(mixed, ctx)) as tf.Tensor3D;
    });
  }
}

/** Swin's patch merging: each 2×2 neighbourhood's channels concatenated (order x₀₀, x₁₀, x₀₁, x₁₁), LayerNorm, linear 4C → 2C without bias. */
export class PatchMerging extends Module {
  readonly reduction: Linear;
  readonly norm: LayerNorm;

  constructor(
    readonly dim: number,
    rng: Rng,
    normEps = 1e-5,
  ) {
    super();
    this.reduction = this.addModule('reduction', new Linear(4 * dim, 2 * dim, rng, { bias: false }));
    this.norm = this.addModule('norm', new LayerNorm(4 * dim, rng, normEps));
  }

  static outputGrid(grid: Grid): Grid {
    if (grid.height % 2 !== 0 || grid.width % 2 !== 0) throw new CompositionError(`patch merging needs an even grid, got ${grid.height}x${grid.width}`);
    return { height: grid.height / 2, width: grid.width / 2 };
  }

  forward(x: tf.Tensor3D, grid: Grid): { tokens: tf.Tensor3D; grid: Grid } {
    const out = PatchMerging.outputGrid(grid);
    const [b, , c] = x.shape;
    const tokens = tf.tidy(() => {
      // [B, h/2, dy, w/2, dx, C] → [B, h/2, w/2, dx, dy, C]: channel blocks in the official (0,0), (1,0), (0,1), (1,1) order.
      const blocks = tf.transpose(tf.reshape(x, [b, out.height, 2, out.width, 2, c]), [0, 1, 3, 4, 2, 5]);
      return this.reduction.forward(this.norm.forward(tf.reshape(blocks, [b, out.height * out.width, 4 * c]))) as tf.Tensor3D;
    });
    return { tokens, grid: out };
  }
}

export interface SwinStageOptions extends Omit<SwinBlockOptions, 'shiftSize' | 'dropPath'> {
  readonly depth: number;
  /** Patch merging at the end of the stage (every stage but the last). */
  readonly downsample: boolean;
  /** Drop-path rate of each block, or one rate for all. */
  readonly dropPath?: number | readonly number[];
}

export function swinStageOutput(input: FeatureSpec, options: SwinStageOptions): TokenSpec {
  if (input.layout !== 'tokens') throw new CompositionError(`fan_swin_stage takes tokens, not ${input.layout}`);
  if (input.numPrefixTokens !== 0) throw new CompositionError(`fan_swin_stage works on the patch grid; the input has ${input.numPrefixTokens} prefix token(s)`);
  if (input.channels % options.numHeads !== 0) throw new CompositionError(`numHeads ${options.numHeads} does not divide the token width ${input.channels}`);
  const { window } = effectiveWindow(input.grid, options.windowSize, 0);
  if (input.grid.height % window !== 0 || input.grid.width % window !== 0) {
    throw new CompositionError(`a ${input.grid.height}x${input.grid.width} grid does not split into ${window}x${window} windows (the official code does not pad)`);
  }
  if (Array.isArray(options.dropPath) && options.dropPath.length !== options.depth) {
    throw new CompositionError(`dropPath lists ${options.dropPath.length} rates for ${options.depth} blocks`);
  }
  if (!options.downsample) return input;
  return { ...input, grid: PatchMerging.outputGrid(input.grid), channels: 2 * input.channels };
}

/** One Swin stage (timm's BasicLayer): `blocks.<j>`, shifted by half a window on odd j, then `downsample`. Tokens in and out. */
export class SwinStage extends Block {
  readonly blocks: ModuleList<SwinBlock>;
  readonly downsample: PatchMerging | null;
  readonly grid: Grid;

  constructor(input: TokenSpec, options: SwinStageOptions, rng: Rng) {
    super(input, swinStageOutput(input, options));
    this.grid = input.grid;
    const dim = input.channels;
    const rate = (j: number) => (typeof options.dropPath === 'number' ? options.dropPath : (options.dropPath?.[j] ?? 0));
    this.blocks = this.addModule(
      'blocks',
      new ModuleList(
        Array.from({ length: options.depth }, (_, j) => new SwinBlock(dim, input.grid, rng, { ...options, shiftSize: j % 2 === 0 ? 0 : Math.floor(options.windowSize / 2), dropPath: rate(j) })),
      ),
    );
    this.downsample = options.downsample ? this.addModule('downsample', new PatchMerging(dim, rng, options.normEps)) : null;
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'tokens' || x.grid.height !== this.grid.height || x.grid.width !== this.grid.width) {
      throw new CompositionError(`fan_swin_stage was built for a ${this.grid.height}x${this.grid.width} token grid`);
    }
    const y = tf.tidy(() => {
      let h = x.tensor;
      for (const block of this.blocks) h = block.forward(h, ctx);
      return h;
    });
    if (!this.downsample) return { ...x, tensor: y };
    const out = this.downsample.forward(y, this.grid);
    y.dispose();
    return { layout: 'tokens', tensor: out.tokens, grid: out.grid, numPrefixTokens: 0 };
  }
}

export interface SwinPatchEmbedOptions {
  readonly patchSize: number;
  readonly embedDim: number;
  readonly normEps?: number;
}

export function swinPatchEmbedOutput(input: FeatureSpec, options: SwinPatchEmbedOptions): TokenSpec {
  if (input.layout !== 'image') throw new CompositionError(`swin_patch_embed takes images, not ${input.layout}`);
  const grid = { height: Math.floor(input.height / options.patchSize), width: Math.floor(input.width / options.patchSize) };
  if (grid.height < 1 || grid.width < 1) throw new CompositionError(`patchSize ${options.patchSize} is larger than the ${input.height}x${input.width} input`);
  return { layout: 'tokens', grid, channels: options.embedDim, numPrefixTokens: 0 };
}

/**
 * Swin's patch embedding (timm 0.5.4 PatchEmbed with a norm): p×p stride-p convolution `proj`,
 * then LayerNorm `norm` (eps 1e-5). Core's grid patch embedding computes it (patchify + one
 * matmul); its `proj` and `norm` are this block's, so the keys stay `patch_embed.proj.weight`.
 */
export class SwinPatchEmbed extends Block {
  readonly proj: Conv2d;
  readonly norm: LayerNorm;
  private readonly embed: GridPatchEmbed;

  constructor(input: ImageSpec, options: SwinPatchEmbedOptions, rng: Rng) {
    super(input, swinPatchEmbedOutput(input, options));
    this.embed = new GridPatchEmbed(options.patchSize, input.channels, options.embedDim, rng, { norm: 'layer', normEps: options.normEps ?? 1e-5 });
    this.proj = this.addModule('proj', this.embed.proj);
    this.norm = this.addModule('norm', this.embed.norm!);
  }

  forward(x: Features): Features {
    if (x.layout !== 'image') throw new CompositionError(`swin_patch_embed expects images, got ${x.layout}`);
    const { tokens, grid } = this.embed.forward(x.tensor);
    const tensor = tf.tidy(() => this.norm.forward(tokens) as tf.Tensor3D);
    tokens.dispose();
    return { layout: 'tokens', tensor, grid, numPrefixTokens: 0 };
  }
}
