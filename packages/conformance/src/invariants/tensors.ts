import { describeSpec, Rng, specShape, tf, type FeatureSpec, type Features } from '@tessera/core';

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Random NHWC images from a seed. */
export function randomImages(batch: number, height: number, width: number, channels: number, seed: number): tf.Tensor4D {
  return tf.randomNormal([batch, height, width, channels], 0, 1, 'float32', seed) as tf.Tensor4D;
}

/** Random features laid out as `spec` says, for feeding one block on its own. */
export function randomFeatures(spec: FeatureSpec, batch: number, seed: number): Features {
  const shape = [batch, ...specShape(spec).slice(1)];
  const tensor = tf.randomNormal(shape, 0, 1, 'float32', seed);
  switch (spec.layout) {
    case 'image':
      return { layout: 'image', tensor: tensor as tf.Tensor4D };
    case 'tokens':
      return { layout: 'tokens', tensor: tensor as tf.Tensor3D, grid: spec.grid, numPrefixTokens: spec.numPrefixTokens };
    case 'vector':
      return { layout: 'vector', tensor: tensor as tf.Tensor2D };
  }
}

/** What features are, in the words describeSpec uses, with their tensor shape. */
export function describeFeatures(x: Features): string {
  const shape = `[${x.tensor.shape.join(', ')}]`;
  if (x.layout === 'tokens') return `tokens on a ${x.grid.height}x${x.grid.width} grid + ${x.numPrefixTokens} prefix, tensor ${shape}`;
  return `${x.layout}, tensor ${shape}`;
}

export function describePlanned(spec: FeatureSpec, batch: number): string {
  return `${describeSpec(spec)}, tensor [${[batch, ...specShape(spec).slice(1)].join(', ')}]`;
}

/** True when live features have exactly the layout, grid, prefix and shape `spec` plans for this batch. */
export function featuresMatch(x: Features, spec: FeatureSpec, batch: number): boolean {
  if (x.layout !== spec.layout) return false;
  const expected = [batch, ...specShape(spec).slice(1)];
  if (x.tensor.shape.length !== expected.length || x.tensor.shape.some((d, i) => d !== expected[i])) return false;
  if (x.layout === 'tokens' && spec.layout === 'tokens') {
    return x.grid.height === spec.grid.height && x.grid.width === spec.grid.width && x.numPrefixTokens === spec.numPrefixTokens;
  }
  return true;
}

export function sameSpec(a: FeatureSpec, b: FeatureSpec): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(spec: FeatureSpec): unknown {
  switch (spec.layout) {
    case 'image':
      return ['image', spec.height, spec.width, spec.channels];
    case 'tokens':
      return ['tokens', spec.grid.height, spec.grid.width, spec.channels, spec.numPrefixTokens];
    case 'vector':
      return ['vector', spec.channels];
  }
}

/** Reads a tensor's values (and frees nothing). */
export function values(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/** Index of the first value that is NaN or infinite, or -1. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/** Largest |a − b| and largest |a| (for a relative bound). */
export function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return { diff, scale };
}

/** A fresh random stream for one forward pass (dropout masks), so two calls can draw the same. */
export function rngFor(seed: number): Rng {
  return new Rng(seed);
}
