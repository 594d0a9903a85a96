import { TesseraError } from '../errors.js';
import { tf } from './tf.js';

/** A token grid: tokens are stored row-major, index = y * width + x. */
export interface Grid {
  readonly height: number;
  readonly width: number;
}

/** Static description of an image batch [B, H, W, C] (NHWC). */
export interface ImageSpec {
  readonly layout: 'image';
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/**
 * Static description of a token batch [B, P + h·w, C]: P prefix tokens (class,
 * distillation) lead, then the patch tokens of an h×w grid in row-major order.
 */
export interface TokenSpec {
  readonly layout: 'tokens';
  readonly grid: Grid;
  readonly channels: number;
  readonly numPrefixTokens: number;
}

/** Static description of a pooled batch [B, C] (features or logits). */
export interface VectorSpec {
  readonly layout: 'vector';
  readonly channels: number;
}

export type FeatureSpec = ImageSpec | TokenSpec | VectorSpec;
export type Layout = FeatureSpec['layout'];

export interface ImageFeatures {
  readonly layout: 'image';
  readonly tensor: tf.Tensor4D;
}

export interface TokenFeatures {
  readonly layout: 'tokens';
  readonly tensor: tf.Tensor3D;
  readonly grid: Grid;
  readonly numPrefixTokens: number;
}

export interface VectorFeatures {
  readonly layout: 'vector';
  readonly tensor: tf.Tensor2D;
}

/** What flows between the stages of a model. */
export type Features = ImageFeatures | TokenFeatures | VectorFeatures;

export class LayoutError extends TesseraError {}

/** The shape a spec describes, with the batch dimension as -1. */
export function specShape(spec: FeatureSpec): number[] {
  switch (spec.layout) {
    case 'image':
      return [-1, spec.height, spec.width, spec.channels];
    case 'tokens':
      return [-1, spec.numPrefixTokens + spec.grid.height * spec.grid.width, spec.channels];
    case 'vector':
      return [-1, spec.channels];
  }
}

export function describeSpec(spec: FeatureSpec): string {
  switch (spec.layout) {
    case 'image':
      return `image ${spec.height}x${spec.width}x${spec.channels}`;
    case 'tokens':
      return `tokens ${spec.grid.height}x${spec.grid.width} grid${spec.numPrefixTokens ? ` + ${spec.numPrefixTokens} prefix` : ''}, ${spec.channels} channels`;
    case 'vector':
      return `vector ${spec.channels}`;
  }
}

/** The static spec of live features. */
export function specOf(x: Features): FeatureSpec {
  switch (x.layout) {
    case 'image': {
      const [, height, width, channels] = x.tensor.shape;
      return { layout: 'image', height, width, channels };
    }
    case 'tokens':
      return { layout: 'tokens', grid: x.grid, channels: x.tensor.shape[2], numPrefixTokens: x.numPrefixTokens };
    case 'vector':
      return { layout: 'vector', channels: x.tensor.shape[1] };
  }
}

/**
 * Wraps a [B, N, C] tensor as tokens on `grid` with `numPrefixTokens` leading
 * tokens, after checking that N = prefix + h·w.
 */
export function tokens(tensor: tf.Tensor3D, grid: Grid, numPrefixTokens = 0): TokenFeatures {
  if (tensor.rank !== 3) throw new LayoutError(`tokens must be a rank-3 [batch, tokens, channels] tensor, got shape [${tensor.shape.join(', ')}]`);
  checkGrid(grid);
  if (!Number.isInteger(numPrefixTokens) || numPrefixTokens < 0) {
    throw new LayoutError(`numPrefixTokens = ${numPrefixTokens} is not accepted: expected a non-negative integer`);
  }
  const expected = numPrefixTokens + grid.height * grid.width;
  if (tensor.shape[1] !== expected) {
    throw new LayoutError(
      `a ${grid.height}x${grid.width} grid with ${numPrefixTokens} prefix token(s) needs ${expected} tokens, but the tensor has ${tensor.shape[1]} (shape [${tensor.shape.join(', ')}])`,
    );
  }
  return { layout: 'tokens', tensor, grid, numPrefixTokens };
}

function checkGrid(grid: Grid): void {
  if (!grid || !Number.isInteger(grid.height) || !Number.isInteger(grid.width) || grid.height < 1 || grid.width < 1) {
    throw new LayoutError(`grid = ${JSON.stringify(grid)} is not accepted: expected {height, width} with positive integers`);
  }
}

/**
 * Splits tokens into their prefix [B, P, C] (null when P = 0) and the patch grid
 * [B, h, w, C]. Row-major: token P + y·w + x lands at grid[y][x].
 */
export function tokensToGrid(x: TokenFeatures): { prefix: tf.Tensor3D | null; grid: tf.Tensor4D } {
  tokens(x.tensor, x.grid, x.numPrefixTokens);
  const [batch, n, channels] = x.tensor.shape;
  const p = x.numPrefixTokens;
  const grid = tf.tidy(() => {
    const patches = p === 0 ? x.tensor : tf.slice(x.tensor, [0, p, 0], [batch, n - p, channels]);
    return tf.reshape(patches, [batch, x.grid.height, x.grid.width, channels]) as tf.Tensor4D;
  });
  const prefix = p === 0 ? null : (tf.slice(x.tensor, [0, 0, 0], [batch, p, channels]) as tf.Tensor3D);
  return { prefix, grid };
}

/** The inverse of tokensToGrid: flattens [B, h, w, C] row-major and puts `prefix` in front. */
export function gridToTokens(grid: tf.Tensor4D, prefix: tf.Tensor3D | null = null): TokenFeatures {
  if (grid.rank !== 4) throw new LayoutError(`grid must be a rank-4 [batch, height, width, channels] tensor, got shape [${grid.shape.join(', ')}]`);
  const [batch, height, width, channels] = grid.shape;
  if (prefix !== null) {
    if (prefix.rank !== 3 || prefix.shape[0] !== batch || prefix.shape[2] !== channels) {
      throw new LayoutError(
        `prefix tokens of shape [${prefix.shape.join(', ')}] do not fit a grid of shape [${grid.shape.join(', ')}]: expected [${batch}, P, ${channels}]`,
      );
    }
  }
  const numPrefixTokens = prefix?.shape[1] ?? 0;
  const tensor = tf.tidy(() => {
    const flat = tf.reshape(grid, [batch, height * width, channels]) as tf.Tensor3D;
    return prefix === null ? flat : (tf.concat([prefix, flat], 1) as tf.Tensor3D);
  });
  return { layout: 'tokens', tensor, grid: { height, width }, numPrefixTokens };
}
