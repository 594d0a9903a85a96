import { InvalidArgumentError, TesseraError } from '../errors.js';
import { ForwardContext, type StageOverrides } from '../nn/context.js';
import { Module } from '../nn/module.js';
import type { ClsAttention, ModelDefaults, ModelOutputs, OutputName } from '../plugin/types.js';
import { describeSpec, specShape, type FeatureSpec } from '../tensor/layout.js';
import { Rng } from '../tensor/random.js';
import { tf } from '../tensor/tf.js';

/** The facts a built model carries: its defaults resolved against the options it was built with. */
export interface ModelConfig extends ModelDefaults {
  readonly name: string;
}

export interface ForwardOptions {
  /** Train mode for this call (dropout, drop path, batch statistics). Defaults to the module's mode. */
  readonly training?: boolean;
  /** Random stream for dropout masks; defaults to the model's own stream. */
  readonly rng?: Rng;
  /** Named outputs to return beside the logits. */
  readonly outputs?: readonly OutputName[];
  /**
   * Options to change for this call only, per spec stage: `{ [stageName]: { patchSize: 8 } }`.
   * Only options the stage's block lists in `supports.overridable`; checked before any compute.
   */
  readonly overrides?: StageOverrides;
}

/** Per-call overrides: stage name → option → value (the same as StageOverrides). */
export type ForwardOverrides = StageOverrides;

/** One row of a model summary: a stage, its layout and the shape after it. */
export interface StageInfo {
  readonly name: string;
  readonly spec: FeatureSpec;
  readonly shape: number[];
  readonly description: string;
  readonly params: number;
}

/**
 * Base of every image classifier: NHWC images in, logits out, plus on request the
 * class-token attention of the last attention block (TransMix's input).
 */
export abstract class VisionModel extends Module {
  /** Draws dropout seeds when the caller passes no Rng. */
  private readonly defaultRng: Rng;

  constructor(
    readonly config: ModelConfig,
    seed: number,
  ) {
    super();
    this.defaultRng = new Rng(seed).fork();
  }

  /** Outputs this model can produce besides logits. */
  abstract get availableOutputs(): readonly OutputName[];

  /** Layout and shape after each stage, computed without tensors. */
  abstract stages(): StageInfo[];

  /**
   * Runs the network. Implementations set `ctx.captureAttention` around the block
   * whose attention `clsAttention` reports, when `ctx` asks for it.
   */
  protected abstract run(images: tf.Tensor4D, ctx: ForwardContext, wantAttention: boolean): tf.Tensor2D;

  /**
   * Checks a call's input and overrides before any compute, throwing an
   * InvalidArgumentError that names what is wrong. The default takes only the
   * configured input size and no overrides.
   */
  protected prepareCall(images: tf.Tensor4D, overrides: ForwardOverrides | undefined): void {
    this.checkInput(images);
    if (overrides && Object.keys(overrides).length) {
      throw new InvalidArgumentError('overrides', overrides, `nothing: ${this.config.name} has no stage options a call may change`);
    }
  }

  forward(images: tf.Tensor4D, options: ForwardOptions = {}): ModelOutputs {
    this.prepareCall(images, options.overrides);
    const wanted = options.outputs ?? [];
    for (const name of wanted) {
      if (!this.availableOutputs.includes(name)) {
        throw new InvalidArgumentError(
          'outputs',
          name,
          this.availableOutputs.length
            ? `one of ${this.availableOutputs.join(', ')} (what ${this.config.name} can produce)`
            : `nothing: ${this.config.name} has no named outputs (no class token feeding an attention block)`,
        );
      }
    }
    // One switch for every layer: dropout, drop path and BatchNorm all read the context's mode.
    const training = options.training ?? this.training;
    const ctx = new ForwardContext(training, options.rng ?? this.defaultRng, options.overrides ?? {});
    const wantAttention = wanted.includes('clsAttention');
    // Blocks from any plugin may leave intermediates behind; the scope frees them.
    const logits = tf.tidy(() => this.run(images, ctx, wantAttention));
    if (!wantAttention) return { logits };
    const record = ctx.attention;
    if (!record) throw new TesseraError(`${this.config.name} did not record the attention it declares`);
    const clsAttention = classTokenAttention(record.probs, record.grid, record.numPrefixTokens);
    record.probs.dispose();
    return { logits, clsAttention };
  }

  /** Logits in eval mode, with every intermediate freed. */
  predict(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.forward(images, { training: false }).logits);
  }

  protected checkInput(images: tf.Tensor4D): void {
    const [h, w, c] = this.config.inputSize;
    if (!(images instanceof tf.Tensor)) throw new InvalidArgumentError('images', images, `an NHWC batch [B, ${h}, ${w}, ${c}] for ${this.config.name}`);
    if (images.rank !== 4 || images.shape[1] !== h || images.shape[2] !== w || images.shape[3] !== c) {
      throw new InvalidArgumentError('images', `a tensor of shape [${images.shape.join(', ')}]`, `an NHWC batch [B, ${h}, ${w}, ${c}] for ${this.config.name}`);
    }
  }
}

/**
 * The class token's attention over the patch tokens: row 0 of each head, prefix
 * columns dropped, [B, heads, h·w]. Requires the class token to lead. Takes
 * self-attention [B, heads, N, N] or class attention [B, heads, 1, N] (CaiT/FAN,
 * where the class token is the only query).
 */
export function classTokenAttention(probs: tf.Tensor4D, grid: { height: number; width: number }, numPrefixTokens: number): ClsAttention {
  if (numPrefixTokens < 1) throw new TesseraError('class-token attention needs a class token leading the sequence');
  const [b, h, queries, n] = probs.shape;
  if (queries !== 1 && queries !== n) {
    throw new TesseraError(`attention of shape [${probs.shape.join(', ')}] is neither self-attention [B, h, N, N] nor class attention [B, h, 1, N]`);
  }
  const patches = grid.height * grid.width;
  if (n !== numPrefixTokens + patches) {
    throw new TesseraError(`attention over ${n} tokens does not match a ${grid.height}x${grid.width} grid with ${numPrefixTokens} prefix token(s)`);
  }
  const row = tf.tidy(() => tf.reshape(tf.slice(probs, [0, 0, 0, numPrefixTokens], [b, h, 1, patches]), [b, h, patches]) as tf.Tensor3D);
  return { probs: row, grid: { height: grid.height, width: grid.width } };
}

export function stageInfo(name: string, spec: FeatureSpec, params: number): StageInfo {
  return { name, spec, shape: specShape(spec), description: describeSpec(spec), params };
}
