import { checkInteger, InvalidArgumentError, tf, type Grid } from '@tessera/core';

/**
 * The fixed 1-D sinusoid table of T2T-ViT (Vaswani et al. 2017, as
 * transformer_block.get_sinusoid_encoding): [1, n, dim] with
 * PE[pos, j] = sin(pos / 10000^(2⌊j/2⌋/dim)) for even j, cos(…) for odd j.
 * Position 0 is the class token. Computed in float64, then rounded once to float32.
 */
export function sinusoidPositionEmbedding(numPositions: number, dim: number): tf.Tensor3D {
  checkInteger('numPositions', numPositions, 1);
  checkInteger('dim', dim, 1);
  const values = new Float32Array(numPositions * dim);
  for (let pos = 0; pos < numPositions; pos++) {
    for (let j = 0; j < dim; j++) {
      const angle = pos / Math.pow(10000, (2 * Math.floor(j / 2)) / dim);
      values[pos * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return tf.tensor3d(values, [1, numPositions, dim]);
}

const CUBIC_A = -0.75;

/**
 * PyTorch's bicubic interpolation weights along one axis (F.interpolate,
 * mode='bicubic', align_corners=False: half-pixel source coordinates, Keys'
 * cubic convolution with a = −0.75, taps clamped to the border) as a dense
 * [nOut, nIn] matrix.
 */
export function bicubicResizeMatrix(nIn: number, nOut: number): Float64Array {
  checkInteger('nIn', nIn, 1);
  checkInteger('nOut', nOut, 1);
  const near = (x: number) => ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
  const far = (x: number) => ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;
  const matrix = new Float64Array(nOut * nIn);
  const scale = nIn / nOut;
  for (let i = 0; i < nOut; i++) {
    const src = (i + 0.5) * scale - 0.5;
    const i0 = Math.floor(src);
    const t = src - i0;
    const weights = [far(t + 1), near(t), near(1 - t), far(2 - t)];
    weights.forEach((wt, j) => {
      const idx = Math.min(Math.max(i0 - 1 + j, 0), nIn - 1);
      matrix[i * nIn + idx] = matrix[i * nIn + idx]! + wt;
    });
  }
  return matrix;
}

/**
 * Resizes a position embedding [1, P + h·w, D] to another token grid, as the
 * official `utils.resize_pos_embed` does when fine-tuning at another resolution:
 * the P prefix rows (the class token) are kept, the grid part is resized
 * bicubically as if it were an image. Unlike the official helper the grids may
 * be non-square. Note that this is not the sinusoid recomputed for the new
 * length; it is what the released fine-tuned checkpoints were made with.
 */
export function resizePosEmbed(posEmbed: tf.Tensor, from: Grid, to: Grid, numPrefixTokens = 1): tf.Tensor3D {
  if (!(posEmbed instanceof tf.Tensor) || posEmbed.rank !== 3 || posEmbed.shape[0] !== 1) {
    throw new InvalidArgumentError('posEmbed', posEmbed instanceof tf.Tensor ? `a tensor of shape [${posEmbed.shape.join(', ')}]` : posEmbed, 'a [1, tokens, dim] tensor');
  }
  checkInteger('numPrefixTokens', numPrefixTokens, 0);
  checkInteger('from.height', from?.height, 1);
  checkInteger('from.width', from?.width, 1);
  checkInteger('to.height', to?.height, 1);
  checkInteger('to.width', to?.width, 1);
  const [, n, dim] = posEmbed.shape as [number, number, number];
  if (n !== numPrefixTokens + from.height * from.width) {
    throw new InvalidArgumentError(
      'from',
      from,
      `the grid of the ${n - numPrefixTokens} non-prefix rows of posEmbed (shape [${posEmbed.shape.join(', ')}], ${numPrefixTokens} prefix row(s))`,
    );
  }
  const src = posEmbed.dataSync();
  const rows = bicubicResizeMatrix(from.height, to.height);
  const cols = bicubicResizeMatrix(from.width, to.width);
  // Separable: first along the width into [from.height, to.width, D], then along the height, in float64.
  const tmp = new Float64Array(from.height * to.width * dim);
  for (let y = 0; y < from.height; y++)
    for (let x = 0; x < to.width; x++)
      for (let sx = 0; sx < from.width; sx++) {
        const wt = cols[x * from.width + sx]!;
        if (wt === 0) continue;
        const s = (numPrefixTokens + y * from.width + sx) * dim;
        const d = (y * to.width + x) * dim;
        for (let c = 0; c < dim; c++) tmp[d + c] = tmp[d + c]! + wt * src[s + c]!;
      }
  const grid = new Float64Array(to.height * to.width * dim);
  for (let y = 0; y < to.height; y++)
    for (let sy = 0; sy < from.height; sy++) {
      const wt = rows[y * from.height + sy]!;
      if (wt === 0) continue;
      for (let x = 0; x < to.width; x++) {
        const s = (sy * to.width + x) * dim;
        const d = (y * to.width + x) * dim;
        for (let c = 0; c < dim; c++) grid[d + c] = grid[d + c]! + wt * tmp[s + c]!;
      }
    }
  const out = new Float32Array((numPrefixTokens + to.height * to.width) * dim);
  out.set(src.subarray(0, numPrefixTokens * dim));
  out.set(grid, numPrefixTokens * dim);
  return tf.tensor3d(out, [1, numPrefixTokens + to.height * to.width, dim]);
}
