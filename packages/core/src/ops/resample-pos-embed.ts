import { checkInteger, InvalidArgumentError } from '../errors.js';
import type { Grid } from '../tensor/layout.js';
import { tf } from '../tensor/tf.js';

export type ResampleInterpolation = 'bicubic' | 'bilinear';

/** Keys' cubic convolution kernel with parameter a (PyTorch: −0.75 plain, −0.5 with antialias, as PIL). */
function cubic(x: number, a: number): number {
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/**
 * One axis of PyTorch's `F.interpolate(mode, align_corners=False, antialias)` as a
 * dense row-major [outSize, inSize] float64 matrix: row i holds the weights
 * output i takes from each input.
 *
 * - Plain bilinear: two taps at the half-pixel source max((i+½)·s − ½, 0), s = in/out,
 *   clamped at the last input.
 * - Plain bicubic: four taps around (i+½)·s − ½ (not clamped at 0), a = −0.75,
 *   indices clamped to the border (upsample_bicubic2d).
 * - Antialias (both modes, PyTorch's `_upsample_*_aa`): the triangle or a = −0.5
 *   cubic filter centred at (i+½)·s, widened by s when shrinking, taps outside the
 *   input dropped and the rest renormalised.
 */
export function resizeMatrix(inSize: number, outSize: number, interpolation: ResampleInterpolation = 'bicubic', antialias = false): Float64Array {
  checkInteger('inSize', inSize, 1);
  checkInteger('outSize', outSize, 1);
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  const add = (i: number, j: number, w: number) => {
    m[i * inSize + j] = m[i * inSize + j]! + w;
  };
  if (antialias) {
    const filter = interpolation === 'bicubic' ? (x: number) => cubic(x, -0.5) : (x: number) => Math.max(0, 1 - Math.abs(x));
    const halfWidth = interpolation === 'bicubic' ? 2 : 1;
    const support = scale >= 1 ? halfWidth * scale : halfWidth;
    const invScale = scale >= 1 ? 1 / scale : 1;
    for (let i = 0; i < outSize; i++) {
      const centre = scale * (i + 0.5);
      const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
      const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
      const weights: number[] = [];
      for (let j = lo; j < hi; j++) weights.push(filter((j - centre + 0.5) * invScale));
      const total = weights.reduce((s, w) => s + w, 0);
      weights.forEach((w, k) => add(i, lo + k, total !== 0 ? w / total : w));
    }
    return m;
  }
  for (let i = 0; i < outSize; i++) {
    if (interpolation === 'bilinear') {
      const src = Math.max((i + 0.5) * scale - 0.5, 0);
      const i0 = Math.min(Math.floor(src), inSize - 1);
      const i1 = Math.min(i0 + 1, inSize - 1);
      const f = src - i0;
      add(i, i0, 1 - f);
      add(i, i1, f);
    } else {
      const src = (i + 0.5) * scale - 0.5;
      const i0 = Math.floor(src);
      const t = src - i0;
      [cubic(t + 1, -0.75), cubic(t, -0.75), cubic(1 - t, -0.75), cubic(2 - t, -0.75)].forEach((w, k) => add(i, Math.min(Math.max(i0 - 1 + k, 0), inSize - 1), w));
    }
  }
  return m;
}

export interface ResamplePosEmbedOptions {
  /** Grid of the stored embedding; default square (√ of the non-prefix rows), as timm assumes. */
  readonly from?: Grid;
  /** Rows kept as they are (class and distillation tokens); default 1. */
  readonly numPrefixTokens?: number;
  /** Default 'bicubic', as timm. */
  readonly interpolation?: ResampleInterpolation;
  /** Default true, as timm's resample_abs_pos_embed; the official T2T-ViT loader resizes without. */
  readonly antialias?: boolean;
}

/**
 * A position embedding [1, P + h·w, D] resampled to another token grid, with the
 * semantics of timm's `resample_abs_pos_embed`: the P prefix rows are kept, the
 * grid rows are resized as an image [D, h, w] by `F.interpolate(align_corners=False)`
 * (bicubic or bilinear, with or without antialias). Grids may be non-square. A
 * differentiable constant linear map: gradients reach `posEmbed`, so a learned
 * embedding keeps training when a model runs at another input size.
 */
export function resamplePosEmbed(posEmbed: tf.Tensor, to: Grid, options: ResamplePosEmbedOptions = {}): tf.Tensor3D {
  if (!(posEmbed instanceof tf.Tensor) || posEmbed.rank !== 3 || posEmbed.shape[0] !== 1) {
    throw new InvalidArgumentError('posEmbed', posEmbed instanceof tf.Tensor ? `a tensor of shape [${posEmbed.shape.join(', ')}]` : posEmbed, 'a [1, tokens, dim] tensor');
  }
  const numPrefixTokens = checkInteger('numPrefixTokens', options.numPrefixTokens ?? 1, 0);
  const interpolation = options.interpolation ?? 'bicubic';
  if (interpolation !== 'bicubic' && interpolation !== 'bilinear') throw new InvalidArgumentError('interpolation', interpolation, "'bicubic' or 'bilinear'");
  const antialias = options.antialias ?? true;
  if (typeof antialias !== 'boolean') throw new InvalidArgumentError('antialias', antialias, 'true or false');
  checkInteger('to.height', to?.height, 1);
  checkInteger('to.width', to?.width, 1);
  const [, n, dim] = posEmbed.shape as [number, number, number];
  const patches = n - numPrefixTokens;
  const side = Math.round(Math.sqrt(Math.max(patches, 0)));
  const from = options.from ?? { height: side, width: side };
  checkInteger('from.height', from.height, 1);
  checkInteger('from.width', from.width, 1);
  if (patches !== from.height * from.width) {
    throw new InvalidArgumentError(
      'from',
      from,
      `the grid of the ${patches} non-prefix rows of posEmbed (shape [${posEmbed.shape.join(', ')}], ${numPrefixTokens} prefix row(s))`,
    );
  }
  if (from.height === to.height && from.width === to.width) return tf.clone(posEmbed) as tf.Tensor3D;
  const rows = Float32Array.from(resizeMatrix(from.height, to.height, interpolation, antialias));
  const cols = Float32Array.from(resizeMatrix(from.width, to.width, interpolation, antialias));
  return tf.tidy(() => {
    const grid = tf.slice(posEmbed, [0, numPrefixTokens, 0], [1, patches, dim]);
    // Rows: [H, h] · [h, w·D] → [H, w, D]; then columns, batched over H: [W, w] · [w, D].
    const byRows = tf.reshape(tf.matMul(tf.tensor2d(rows, [to.height, from.height]), tf.reshape(grid, [from.height, from.width * dim])), [to.height, from.width, dim]);
    const colsBatch = tf.tile(tf.reshape(tf.tensor2d(cols, [to.width, from.width]), [1, to.width, from.width]), [to.height, 1, 1]);
    const resized = tf.reshape(tf.matMul(colsBatch, byRows), [1, to.height * to.width, dim]);
    if (numPrefixTokens === 0) return resized as tf.Tensor3D;
    return tf.concat([tf.slice(posEmbed, [0, 0, 0], [1, numPrefixTokens, dim]), resized], 1) as tf.Tensor3D;
  });
}
