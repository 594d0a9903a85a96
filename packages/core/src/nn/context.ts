import type { Grid } from '../tensor/layout.js';
import { Rng } from '../tensor/random.js';
import type { tf } from '../tensor/tf.js';

/** Per-call block options, keyed by spec stage name: `{ [stage]: { option: value } }`. */
export type StageOverrides = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** Attention probabilities recorded by a block, taken after softmax and cut from the gradient. */
export interface AttentionRecord {
  /** [B, heads, N, N] (self-attention) or [B, heads, 1, N] (class attention), N = numPrefixTokens + grid.height · grid.width. */
  readonly probs: tf.Tensor4D;
  readonly grid: Grid;
  readonly numPrefixTokens: number;
}

/**
 * Per-call state that flows through a forward pass: train or eval, the random
 * stream dropout draws its masks from (a fresh seed each call, so masks differ
 * between steps yet repeat for the same seed), and the attention record that
 * augmentations such as TransMix read.
 */
export class ForwardContext {
  /** Set by the model while the block whose attention it wants is running. */
  captureAttention = false;
  private recorded: AttentionRecord | undefined;

  /**
   * The options this call overrides for the block now running (FlexiViT's
   * `patchSize`), set by the model from `forward`'s `overrides` before each block.
   */
  overrides: Readonly<Record<string, unknown>> | undefined = undefined;

  constructor(
    readonly training: boolean,
    readonly rng: Rng = new Rng(0),
    /** Every stage's overrides for this call, keyed by spec stage name (already validated). */
    readonly stageOverrides: StageOverrides = {},
  ) {}

  recordAttention(record: AttentionRecord): void {
    this.recorded?.probs.dispose();
    this.recorded = record;
  }

  get attention(): AttentionRecord | undefined {
    return this.recorded;
  }
}
